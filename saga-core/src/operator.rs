//! The engine's own rules for operators' moves, checked before a saga's guard is asked (which
//! refuses what only the saga's author knows cannot succeed).

use crate::machine::{Event, InstanceState, Phase, Position, Refused};
use crate::progress::AttemptOutcome;

/// An operator's move that a saga's guard is asked about before the engine makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorMove {
    /// Run the current step (or compensation) again, or a failed saga from its start.
    Retry,
    /// Stop a running saga: its compensations run.
    Cancel,
}

impl OperatorMove {
    /// The move `event` makes, when a saga's guard has a say in it (marking a compensation
    /// done by hand runs nothing the saga could object to).
    pub fn of(event: &Event) -> Option<Self> {
        match event {
            Event::OperatorRetry => Some(Self::Retry),
            Event::OperatorCancel { .. } => Some(Self::Cancel),
            _ => None,
        }
    }
}

/// Allows a move meant for an instance running (or backing off) at the forward step named
/// `step`; `current` names the step it stands at.
pub fn check_running_at(at: &Position, current: &str, step: &str) -> Result<(), Refused> {
    if at.state == InstanceState::Running && at.phase == Phase::Forward && current == step {
        Ok(())
    } else {
        Err(Refused(format!(
            "the saga is {} at {current}, not running at {step}",
            at.state.as_str()
        )))
    }
}

/// Allows correcting the input of an instance that failed because the forward step named
/// `step` failed, and running it again: `last_forward` is its last forward attempt (the one
/// whose failure ended it), by step name and outcome; `input_unchanged` says nobody changed
/// the input since the operator read it.
pub fn check_failed_at(
    at: &Position,
    last_forward: Option<(&str, AttemptOutcome)>,
    step: &str,
    input_unchanged: bool,
) -> Result<(), Refused> {
    let failed_there =
        matches!(last_forward, Some((name, outcome)) if name == step && outcome != AttemptOutcome::Succeeded);
    if at.state != InstanceState::Failed || !failed_there {
        return Err(Refused(format!(
            "only a saga that failed at {step} can be corrected and run again; this one is {}",
            at.state.as_str()
        )));
    }
    if !input_unchanged {
        return Err(Refused("the saga's input changed meanwhile; look at it again".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(state: InstanceState, step: usize, phase: Phase) -> Position {
        Position {
            state,
            step,
            phase,
            ..Position::start()
        }
    }

    #[test]
    fn only_retry_and_cancel_are_put_to_the_saga_s_guard() {
        assert_eq!(OperatorMove::of(&Event::OperatorRetry), Some(OperatorMove::Retry));
        let cancel = Event::OperatorCancel { reason: "fraud".into() };
        assert_eq!(OperatorMove::of(&cancel), Some(OperatorMove::Cancel));
        let by_hand = Event::OperatorMarkCompensated { reason: "done".into() };
        assert_eq!(OperatorMove::of(&by_hand), None);
        assert_eq!(OperatorMove::of(&Event::Succeeded), None);
    }

    #[test]
    fn a_step_is_retried_by_name_only_while_the_saga_runs_forward_at_it() {
        let running = at(InstanceState::Running, 1, Phase::Forward);
        assert!(check_running_at(&running, "reserve", "reserve").is_ok());
        let elsewhere = check_running_at(&running, "reserve", "publish").unwrap_err();
        assert_eq!(elsewhere.0, "the saga is running at reserve, not running at publish");
        let undoing = at(InstanceState::Compensating, 1, Phase::Compensation);
        assert!(check_running_at(&undoing, "reserve", "reserve").is_err());
        let done = at(InstanceState::Completed, 1, Phase::Forward);
        assert!(check_running_at(&done, "reserve", "reserve").is_err());
    }

    #[test]
    fn only_a_saga_that_failed_at_the_step_can_be_corrected_and_only_from_what_was_read() {
        let failed = at(InstanceState::Failed, 0, Phase::Compensation);
        let there = Some(("validate", AttemptOutcome::Failed));
        assert!(check_failed_at(&failed, there, "validate", true).is_ok());
        assert!(check_failed_at(&failed, Some(("validate", AttemptOutcome::Abandoned)), "validate", true).is_ok());
        assert!(
            check_failed_at(&failed, there, "reserve", true).is_err(),
            "another step failed"
        );
        assert!(
            check_failed_at(&failed, Some(("validate", AttemptOutcome::Succeeded)), "validate", true).is_err(),
            "the step succeeded: something after it failed"
        );
        assert!(check_failed_at(&failed, None, "validate", true).is_err(), "nothing ran");
        let running = at(InstanceState::Running, 0, Phase::Forward);
        assert!(check_failed_at(&running, there, "validate", true).is_err());
        let changed = check_failed_at(&failed, there, "validate", false).unwrap_err();
        assert!(changed.0.contains("changed meanwhile"));
    }
}
