//! What becomes of an attempt whose worker stopped before recording an outcome (abandoned):
//! the step's own check is asked whether it took effect, and the answer decides whether the
//! step counts as done or runs again.

use crate::machine::Event;
use crate::progress::AttemptOutcome;

/// What the step's check said of an abandoned attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    TookEffect,
    DidNotTakeEffect,
    /// The step has no check (or cannot tell): it is safe to repeat.
    CannotTell,
    /// Asking failed (the database, say).
    Failed,
}

impl Check {
    /// A check's answer: `Some(true)` took effect, `Some(false)` did not, `None` cannot tell.
    pub fn from_answer(answer: Option<bool>) -> Self {
        match answer {
            Some(true) => Self::TookEffect,
            Some(false) => Self::DidNotTakeEffect,
            None => Self::CannotTell,
        }
    }
}

/// The decision on an abandoned attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Added to the attempt's error, so operators see how the outcome was learnt.
    pub note: &'static str,
    /// The attempt's outcome from now on: found done, it did succeed.
    pub outcome: AttemptOutcome,
    /// What the machine is told about the attempt.
    pub event: Event,
}

/// Decides an abandoned attempt from its check. One that did not (or may not have) taken
/// effect counts as a retryable failure, so a step that keeps killing its workers still runs
/// out of attempts.
pub fn verdict(check: Check) -> Verdict {
    let (note, done) = match check {
        Check::TookEffect => ("the step's check found it done: recorded as done", true),
        Check::DidNotTakeEffect => ("the step's check found it not done: it runs again", false),
        Check::CannotTell => ("the step cannot tell: it runs again (it is safe to repeat)", false),
        Check::Failed => ("checking it failed: it runs again", false),
    };
    let (outcome, event) = if done {
        (AttemptOutcome::Succeeded, Event::Succeeded)
    } else {
        let stopped = Event::Failed {
            error: "the worker running this step stopped".into(),
            permanent: false,
            public: false,
        };
        (AttemptOutcome::Abandoned, stopped)
    };
    Verdict { note, outcome, event }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_found_done_succeeded_and_any_other_runs_again_as_a_retryable_failure() {
        let done = verdict(Check::TookEffect);
        assert_eq!(
            (done.outcome, done.event),
            (AttemptOutcome::Succeeded, Event::Succeeded)
        );
        for check in [Check::DidNotTakeEffect, Check::CannotTell, Check::Failed] {
            let again = verdict(check);
            assert_eq!(again.outcome, AttemptOutcome::Abandoned, "{check:?}");
            assert!(
                matches!(
                    again.event,
                    Event::Failed {
                        permanent: false,
                        public: false,
                        ..
                    }
                ),
                "{check:?}"
            );
        }
        assert_eq!(Check::from_answer(Some(true)), Check::TookEffect);
        assert_eq!(Check::from_answer(Some(false)), Check::DidNotTakeEffect);
        assert_eq!(Check::from_answer(None), Check::CannotTell);
    }
}
