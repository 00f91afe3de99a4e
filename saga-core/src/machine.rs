//! The saga state machine: `(Position, Event) -> (Position, Action)`, pure and total.
//!
//! Forward steps run in order. A step that fails retryably runs again after a backoff while its
//! policy allows; one that fails for good (or runs out of attempts) starts the compensations
//! of the steps before it, newest first. A compensation that fails for good leaves the
//! instance `stuck` for an operator, who may retry it or mark it done by hand.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::policy::RetryPolicy;
use crate::progress::AttemptOutcome;

/// What the machine needs to know of a saga definition.
#[derive(Debug, Clone, Copy)]
pub struct StepShape {
    pub compensable: bool,
    /// The step has no effect outside the transaction it is given, so it may share one with
    /// its transactional neighbours (a chain).
    pub transactional: bool,
    pub retry: RetryPolicy,
}

/// The steps of a definition, in order.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    pub steps: &'a [StepShape],
}

impl Shape<'_> {
    /// Whether `step` may run in a chain (a transaction shared with the claim and with the
    /// transactional steps around it); false for a step past the definition.
    pub fn chains(&self, step: usize) -> bool {
        self.steps.get(step).is_some_and(|s| s.transactional)
    }

    /// Whether a chain goes on after a step succeeded and the machine said `next`: only into
    /// a step to run now that may share the chain's transaction. Otherwise the chain commits
    /// and the next step (if any) runs in a transaction of its own.
    pub fn chain_continues(&self, next: &Action) -> bool {
        matches!(next, Action::Run { step, .. } if self.chains(*step))
    }
}

/// The life of an instance: running -> completed, or running -> compensating -> failed, or
/// compensating -> stuck (waiting for an operator) when a compensation fails for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    Running,
    Compensating,
    Completed,
    Failed,
    Stuck,
}

impl InstanceState {
    /// Every state, in the order of an instance's life.
    pub const ALL: [Self; 5] = [
        Self::Running,
        Self::Compensating,
        Self::Completed,
        Self::Failed,
        Self::Stuck,
    ];

    /// The state's name as stored and as sent on the wire (serde uses the same).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Compensating => "compensating",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Stuck => "stuck",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// No step will run again without an operator.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Stuck)
    }
}

impl std::fmt::Display for InstanceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a step's action or its compensation is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Forward,
    Compensation,
}

impl Phase {
    /// The phase's name as stored and as sent on the wire (serde uses the same).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Forward => "forward",
            Self::Compensation => "compensation",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Forward, Self::Compensation]
            .into_iter()
            .find(|p| p.as_str() == text)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an instance stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub state: InstanceState,
    /// The step being run (or compensated, or that was last).
    pub step: usize,
    pub phase: Phase,
    /// Attempts made of the current step in the current phase.
    pub attempts: u32,
    /// Why the saga is failing, in full, for operators.
    pub failure: Option<String>,
    /// Why it is failing in the words of the step that failed, when that step gave a reason
    /// meant for whoever started the saga (an item sold out, a field to correct); none when
    /// the cause is the system's own (a database error, an operator's cancel), which the host
    /// tells in words of its own.
    #[serde(default)]
    pub public_failure: Option<String>,
}

impl Position {
    /// A new instance, about to run its first step.
    pub fn start() -> Self {
        Self {
            state: InstanceState::Running,
            step: 0,
            phase: Phase::Forward,
            attempts: 1,
            failure: None,
            public_failure: None,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The current attempt succeeded.
    Succeeded,
    /// The current attempt failed; `permanent` failures are not retried; a `public` error is
    /// meant for whoever started the saga.
    Failed {
        error: String,
        permanent: bool,
        public: bool,
    },
    /// An operator asks to run the current step (or, for a failed saga, the saga) again now.
    OperatorRetry,
    /// An operator asks to stop a running saga: its compensations run.
    OperatorCancel { reason: String },
    /// An operator has undone a stuck compensation by hand.
    OperatorMarkCompensated { reason: String },
}

impl Event {
    /// How the attempt this event reports is recorded.
    pub fn outcome(&self) -> AttemptOutcome {
        match self {
            Self::Failed { .. } => AttemptOutcome::Failed,
            _ => AttemptOutcome::Succeeded,
        }
    }
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run `step` in `phase` now (attempt number `attempt`).
    Run { step: usize, phase: Phase, attempt: u32 },
    /// Run it after `delay`.
    RunAfter {
        step: usize,
        phase: Phase,
        attempt: u32,
        delay: Duration,
    },
    /// The saga completed.
    Complete,
    /// The saga failed and everything before the failure is undone.
    Fail { reason: String },
    /// A compensation failed for good: an operator must look.
    AwaitOperator { reason: String },
}

impl Action {
    /// How long until the next attempt is due: zero unless it runs after a backoff.
    pub fn delay(&self) -> Duration {
        match self {
            Self::RunAfter { delay, .. } => *delay,
            _ => Duration::ZERO,
        }
    }

    /// The saga is over (completed, or failed with everything undone); a stuck one is not,
    /// since an operator may move it on.
    pub fn ends_saga(&self) -> bool {
        matches!(self, Self::Complete | Self::Fail { .. })
    }

    /// The same action, but a step to run now runs after `delay` instead (an operator's
    /// retry spread over time).
    pub fn postponed(self, delay: Duration) -> Self {
        match self {
            Self::Run { step, phase, attempt } => Self::RunAfter {
                step,
                phase,
                attempt,
                delay,
            },
            other => other,
        }
    }
}

/// Why an event does not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// The next position and action after `event`. `jitter` (0.0..=1.0, random in production)
/// spreads retry delays.
pub fn transition(shape: Shape<'_>, at: &Position, event: Event, jitter: f64) -> Result<(Position, Action), Refused> {
    use InstanceState::*;
    let refuse = |what: &str| Err(Refused(format!("cannot {what} a {} saga", at.state.as_str())));
    match (at.state, event) {
        (Running, Event::Succeeded) => {
            let next = at.step + 1;
            if next < shape.steps.len() {
                Ok(run(Running, next, Phase::Forward, None))
            } else {
                Ok((
                    Position {
                        state: Completed,
                        attempts: at.attempts,
                        ..at.clone()
                    },
                    Action::Complete,
                ))
            }
        }
        (
            Running,
            Event::Failed {
                error,
                permanent,
                public,
            },
        ) => {
            let policy = shape.steps[at.step].retry;
            if !permanent && policy.allows_another(at.attempts) {
                Ok(retry_later(at, policy, jitter))
            } else {
                let public_failure = public.then(|| error.clone());
                Ok(compensate_below(shape, at.step, error, public_failure))
            }
        }
        (Running, Event::OperatorRetry) => Ok(run_again_now(at)),
        (Running, Event::OperatorCancel { reason }) => {
            // The current step may have taken effect; compensations tolerate nothing to undo.
            Ok(compensate_below(
                shape,
                at.step + 1,
                format!("cancelled: {reason}"),
                None,
            ))
        }
        (Compensating, Event::Succeeded) => Ok(compensate_below(
            shape,
            at.step,
            at.failure.clone().unwrap_or_default(),
            at.public_failure.clone(),
        )),
        (Compensating, Event::Failed { error, permanent, .. }) => {
            let policy = shape.steps[at.step].retry;
            if !permanent && policy.allows_another(at.attempts) {
                Ok(retry_later(at, policy, jitter))
            } else {
                let reason = format!("compensation of step {} failed: {error}", at.step);
                Ok((
                    Position {
                        state: Stuck,
                        ..at.clone()
                    },
                    Action::AwaitOperator { reason },
                ))
            }
        }
        (Compensating, Event::OperatorRetry) => Ok(run_again_now(at)),
        (Stuck, Event::OperatorRetry) => Ok(run(Compensating, at.step, Phase::Compensation, Some(at))),
        (Stuck, Event::OperatorMarkCompensated { reason }) => {
            let failure = at
                .failure
                .clone()
                .map(|f| format!("{f} (compensation done by hand: {reason})"));
            Ok(compensate_below(
                shape,
                at.step,
                failure.unwrap_or(reason),
                at.public_failure.clone(),
            ))
        }
        // Everything before the failure was undone: running the saga again starts over.
        (Failed, Event::OperatorRetry) => Ok(run(Running, 0, Phase::Forward, None)),
        (_, Event::Succeeded | Event::Failed { .. }) => refuse("record an attempt of"),
        (_, Event::OperatorRetry) => refuse("retry"),
        (_, Event::OperatorCancel { .. }) => refuse("cancel"),
        (_, Event::OperatorMarkCompensated { .. }) => refuse("mark compensated"),
    }
}

/// Runs `step` in `phase`, keeping the failure of `failing` (the position that is undone).
fn run(state: InstanceState, step: usize, phase: Phase, failing: Option<&Position>) -> (Position, Action) {
    (
        Position {
            state,
            step,
            phase,
            attempts: 1,
            failure: failing.and_then(|at| at.failure.clone()),
            public_failure: failing.and_then(|at| at.public_failure.clone()),
        },
        Action::Run {
            step,
            phase,
            attempt: 1,
        },
    )
}

fn run_again_now(at: &Position) -> (Position, Action) {
    (
        Position {
            attempts: 1,
            ..at.clone()
        },
        Action::Run {
            step: at.step,
            phase: at.phase,
            attempt: 1,
        },
    )
}

fn retry_later(at: &Position, policy: RetryPolicy, jitter: f64) -> (Position, Action) {
    let attempt = at.attempts + 1;
    let delay = policy.backoff(at.attempts, jitter);
    (
        Position {
            attempts: attempt,
            ..at.clone()
        },
        Action::RunAfter {
            step: at.step,
            phase: at.phase,
            attempt,
            delay,
        },
    )
}

/// Compensates the newest compensable step before `below`, or fails when none is left.
fn compensate_below(
    shape: Shape<'_>,
    below: usize,
    failure: String,
    public_failure: Option<String>,
) -> (Position, Action) {
    let failing = Position {
        state: InstanceState::Failed,
        step: below.saturating_sub(1),
        phase: Phase::Compensation,
        attempts: 0,
        failure: Some(failure.clone()),
        public_failure,
    };
    match newest_compensable_below(shape, below) {
        Some(step) => run(InstanceState::Compensating, step, Phase::Compensation, Some(&failing)),
        None => (failing, Action::Fail { reason: failure }),
    }
}

/// The compensable step that is undone first when everything before `below` must be undone.
pub(crate) fn newest_compensable_below(shape: Shape<'_>, below: usize) -> Option<usize> {
    (0..below.min(shape.steps.len()))
        .rev()
        .find(|&i| shape.steps[i].compensable)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETRY_TWICE: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        timeout: Duration::from_secs(5),
    };

    /// validate (no compensation) -> reserve (compensable) -> place (compensable) -> publish
    /// (the only one with effects outside the database).
    const STEPS: [StepShape; 4] = [
        StepShape {
            compensable: false,
            transactional: true,
            retry: RETRY_TWICE,
        },
        StepShape {
            compensable: true,
            transactional: true,
            retry: RETRY_TWICE,
        },
        StepShape {
            compensable: true,
            transactional: true,
            retry: RETRY_TWICE,
        },
        StepShape {
            compensable: false,
            transactional: false,
            retry: RETRY_TWICE,
        },
    ];
    const SHAPE: Shape<'static> = Shape { steps: &STEPS };

    fn at(state: InstanceState, step: usize, phase: Phase, attempts: u32) -> Position {
        Position {
            state,
            step,
            phase,
            attempts,
            failure: None,
            public_failure: None,
        }
    }

    fn failed(permanent: bool) -> Event {
        Event::Failed {
            error: "boom".into(),
            permanent,
            public: false,
        }
    }

    fn go(position: &Position, event: Event) -> (Position, Action) {
        transition(SHAPE, position, event, 1.0).expect("the event applies")
    }

    #[test]
    fn a_new_instance_runs_its_first_step() {
        assert_eq!(Position::start(), at(InstanceState::Running, 0, Phase::Forward, 1));
    }

    #[test]
    fn success_moves_to_the_next_step() {
        let (next, action) = go(&at(InstanceState::Running, 1, Phase::Forward, 2), Event::Succeeded);
        assert_eq!(next, at(InstanceState::Running, 2, Phase::Forward, 1));
        assert_eq!(
            action,
            Action::Run {
                step: 2,
                phase: Phase::Forward,
                attempt: 1
            }
        );
    }

    #[test]
    fn success_of_the_last_step_completes() {
        let (next, action) = go(&at(InstanceState::Running, 3, Phase::Forward, 1), Event::Succeeded);
        assert_eq!(next.state, InstanceState::Completed);
        assert_eq!(action, Action::Complete);
    }

    #[test]
    fn a_retryable_failure_retries_after_a_backoff() {
        let (next, action) = go(&at(InstanceState::Running, 1, Phase::Forward, 1), failed(false));
        assert_eq!(next, at(InstanceState::Running, 1, Phase::Forward, 2));
        assert_eq!(
            action,
            Action::RunAfter {
                step: 1,
                phase: Phase::Forward,
                attempt: 2,
                delay: Duration::from_millis(100)
            }
        );
        let (_, action) = go(&next, failed(false));
        assert_eq!(
            action,
            Action::RunAfter {
                step: 1,
                phase: Phase::Forward,
                attempt: 3,
                delay: Duration::from_millis(200)
            }
        );
    }

    #[test]
    fn exhausted_retries_compensate_the_steps_before() {
        let (next, action) = go(&at(InstanceState::Running, 2, Phase::Forward, 3), failed(false));
        assert_eq!(next.state, InstanceState::Compensating);
        assert_eq!(next.failure.as_deref(), Some("boom"));
        assert_eq!(
            action,
            Action::Run {
                step: 1,
                phase: Phase::Compensation,
                attempt: 1
            }
        );
    }

    #[test]
    fn a_permanent_failure_is_not_retried() {
        let (next, action) = go(&at(InstanceState::Running, 3, Phase::Forward, 1), failed(true));
        assert_eq!(next.state, InstanceState::Compensating);
        assert_eq!(
            action,
            Action::Run {
                step: 2,
                phase: Phase::Compensation,
                attempt: 1
            }
        );
    }

    #[test]
    fn failing_with_nothing_to_undo_fails_at_once() {
        let (next, action) = go(&at(InstanceState::Running, 1, Phase::Forward, 1), failed(true));
        assert_eq!(next.state, InstanceState::Failed);
        assert_eq!(action, Action::Fail { reason: "boom".into() });
    }

    #[test]
    fn compensations_run_newest_first_then_the_saga_fails() {
        let compensating = Position {
            failure: Some("out of stock".into()),
            ..at(InstanceState::Compensating, 2, Phase::Compensation, 1)
        };
        let (next, action) = go(&compensating, Event::Succeeded);
        assert_eq!(
            action,
            Action::Run {
                step: 1,
                phase: Phase::Compensation,
                attempt: 1
            }
        );
        // Step 0 has no compensation: after step 1's, the saga has failed.
        let (last, action) = go(&next, Event::Succeeded);
        assert_eq!(last.state, InstanceState::Failed);
        assert_eq!(
            action,
            Action::Fail {
                reason: "out of stock".into()
            }
        );
    }

    #[test]
    fn a_compensation_failing_retryably_is_retried() {
        let (next, action) = go(
            &at(InstanceState::Compensating, 1, Phase::Compensation, 1),
            failed(false),
        );
        assert_eq!(next.attempts, 2);
        assert!(matches!(
            action,
            Action::RunAfter {
                step: 1,
                phase: Phase::Compensation,
                attempt: 2,
                ..
            }
        ));
    }

    #[test]
    fn a_compensation_failing_for_good_leaves_the_saga_stuck() {
        let (next, action) = go(
            &at(InstanceState::Compensating, 1, Phase::Compensation, 3),
            failed(false),
        );
        assert_eq!(next.state, InstanceState::Stuck);
        assert!(
            matches!(action, Action::AwaitOperator { reason } if reason.contains("step 1") && reason.contains("boom"))
        );
    }

    #[test]
    fn an_operator_retries_a_stuck_compensation() {
        let (next, action) = go(
            &at(InstanceState::Stuck, 1, Phase::Compensation, 3),
            Event::OperatorRetry,
        );
        assert_eq!(next, at(InstanceState::Compensating, 1, Phase::Compensation, 1));
        assert_eq!(
            action,
            Action::Run {
                step: 1,
                phase: Phase::Compensation,
                attempt: 1
            }
        );
    }

    #[test]
    fn an_operator_marks_a_stuck_compensation_done_and_the_rest_continue() {
        let stuck = Position {
            failure: Some("payment declined".into()),
            ..at(InstanceState::Stuck, 2, Phase::Compensation, 3)
        };
        let (next, action) = go(
            &stuck,
            Event::OperatorMarkCompensated {
                reason: "refunded by phone".into(),
            },
        );
        assert_eq!(
            action,
            Action::Run {
                step: 1,
                phase: Phase::Compensation,
                attempt: 1
            }
        );
        assert!(next.failure.unwrap().contains("refunded by phone"));
    }

    #[test]
    fn an_operator_retries_a_waiting_step_now() {
        let (next, action) = go(&at(InstanceState::Running, 2, Phase::Forward, 2), Event::OperatorRetry);
        assert_eq!(next.attempts, 1);
        assert_eq!(
            action,
            Action::Run {
                step: 2,
                phase: Phase::Forward,
                attempt: 1
            }
        );
    }

    #[test]
    fn an_operator_reruns_a_failed_saga_from_the_start() {
        let (next, action) = go(
            &at(InstanceState::Failed, 1, Phase::Compensation, 0),
            Event::OperatorRetry,
        );
        assert_eq!(next, Position::start());
        assert_eq!(
            action,
            Action::Run {
                step: 0,
                phase: Phase::Forward,
                attempt: 1
            }
        );
    }

    #[test]
    fn cancelling_compensates_the_current_step_too() {
        let (next, action) = go(
            &at(InstanceState::Running, 2, Phase::Forward, 1),
            Event::OperatorCancel { reason: "fraud".into() },
        );
        assert_eq!(next.state, InstanceState::Compensating);
        assert_eq!(next.failure.as_deref(), Some("cancelled: fraud"));
        assert_eq!(
            action,
            Action::Run {
                step: 2,
                phase: Phase::Compensation,
                attempt: 1
            }
        );
    }

    #[test]
    fn a_public_reason_is_kept_for_the_requester_through_the_compensations() {
        let rejected = Event::Failed {
            error: "Kettle is out of stock.".into(),
            permanent: true,
            public: true,
        };
        let (compensating, _) = go(&at(InstanceState::Running, 2, Phase::Forward, 1), rejected);
        assert_eq!(compensating.public_failure.as_deref(), Some("Kettle is out of stock."));
        let (failed, action) = go(&compensating, Event::Succeeded);
        assert_eq!(failed.state, InstanceState::Failed);
        assert_eq!(failed.public_failure.as_deref(), Some("Kettle is out of stock."));
        assert_eq!(
            action,
            Action::Fail {
                reason: "Kettle is out of stock.".into()
            }
        );
    }

    #[test]
    fn the_system_s_own_failures_and_operators_reasons_are_not_the_requester_s() {
        let (internal, _) = go(&at(InstanceState::Running, 2, Phase::Forward, 3), failed(false));
        assert_eq!(internal.failure.as_deref(), Some("boom"));
        assert_eq!(internal.public_failure, None);
        let (cancelled, _) = go(
            &at(InstanceState::Running, 2, Phase::Forward, 1),
            Event::OperatorCancel { reason: "fraud".into() },
        );
        assert_eq!(cancelled.public_failure, None);
        // A compensation done by hand keeps what the requester was told.
        let stuck = Position {
            failure: Some("Kettle is out of stock.".into()),
            public_failure: Some("Kettle is out of stock.".into()),
            ..at(InstanceState::Stuck, 1, Phase::Compensation, 3)
        };
        let (done, _) = go(
            &stuck,
            Event::OperatorMarkCompensated {
                reason: "released by hand".into(),
            },
        );
        assert_eq!(done.public_failure.as_deref(), Some("Kettle is out of stock."));
        assert!(done.failure.unwrap().contains("released by hand"));
    }

    #[test]
    fn finished_sagas_refuse_what_does_not_apply() {
        let completed = at(InstanceState::Completed, 3, Phase::Forward, 1);
        for event in [
            Event::Succeeded,
            failed(true),
            Event::OperatorRetry,
            Event::OperatorCancel { reason: "x".into() },
        ] {
            assert!(transition(SHAPE, &completed, event, 0.5).is_err());
        }
        let compensating = at(InstanceState::Compensating, 1, Phase::Compensation, 1);
        assert!(transition(SHAPE, &compensating, Event::OperatorCancel { reason: "x".into() }, 0.5).is_err());
        let running = at(InstanceState::Running, 1, Phase::Forward, 1);
        assert!(
            transition(
                SHAPE,
                &running,
                Event::OperatorMarkCompensated { reason: "x".into() },
                0.5
            )
            .is_err()
        );
    }

    #[test]
    fn a_chain_goes_on_only_into_a_transactional_step_to_run_now() {
        let run = |step| Action::Run {
            step,
            phase: Phase::Forward,
            attempt: 1,
        };
        assert!(SHAPE.chain_continues(&run(1)));
        assert!(SHAPE.chain_continues(&run(2)));
        assert!(
            !SHAPE.chain_continues(&run(3)),
            "publish runs in a transaction of its own"
        );
        assert!(
            !SHAPE.chain_continues(&run(9)),
            "a step past the definition never chains"
        );
        let later = Action::RunAfter {
            step: 1,
            phase: Phase::Forward,
            attempt: 2,
            delay: Duration::from_millis(100),
        };
        assert!(!SHAPE.chain_continues(&later), "a backoff ends the chain");
        assert!(!SHAPE.chain_continues(&Action::Complete));
        assert!(SHAPE.chains(0) && !SHAPE.chains(3));
    }

    #[test]
    fn a_move_is_due_after_its_backoff_and_ends_the_saga_only_when_it_is_over() {
        let (_, retry) = go(&at(InstanceState::Running, 1, Phase::Forward, 1), failed(false));
        assert_eq!(retry.delay(), Duration::from_millis(100));
        assert!(!retry.ends_saga());
        let (_, next) = go(&at(InstanceState::Running, 1, Phase::Forward, 1), Event::Succeeded);
        assert_eq!(next.delay(), Duration::ZERO);
        let (_, complete) = go(&at(InstanceState::Running, 3, Phase::Forward, 1), Event::Succeeded);
        assert!(complete.ends_saga());
        let (_, fail) = go(&at(InstanceState::Running, 1, Phase::Forward, 1), failed(true));
        assert!(fail.ends_saga());
        let (_, stuck) = go(
            &at(InstanceState::Compensating, 1, Phase::Compensation, 3),
            failed(true),
        );
        assert!(!stuck.ends_saga(), "an operator can still move a stuck saga on");
    }

    #[test]
    fn a_postponed_run_waits_and_other_actions_stay_as_they_are() {
        let delay = Duration::from_secs(7);
        let run = Action::Run {
            step: 2,
            phase: Phase::Compensation,
            attempt: 1,
        };
        assert_eq!(
            run.postponed(delay),
            Action::RunAfter {
                step: 2,
                phase: Phase::Compensation,
                attempt: 1,
                delay
            }
        );
        assert_eq!(Action::Complete.postponed(delay), Action::Complete);
    }

    #[test]
    fn an_event_records_its_attempt_as_failed_or_succeeded() {
        assert_eq!(failed(false).outcome(), AttemptOutcome::Failed);
        assert_eq!(Event::Succeeded.outcome(), AttemptOutcome::Succeeded);
    }

    #[test]
    fn states_and_phases_travel_as_the_names_they_are_stored_under() {
        for state in InstanceState::ALL {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
            assert_eq!(
                serde_json::from_value::<InstanceState>(state.as_str().into()).unwrap(),
                state
            );
            assert_eq!(InstanceState::parse(state.as_str()), Some(state));
        }
        for phase in [Phase::Forward, Phase::Compensation] {
            assert_eq!(serde_json::to_value(phase).unwrap(), phase.as_str());
            assert_eq!(serde_json::from_value::<Phase>(phase.as_str().into()).unwrap(), phase);
            assert_eq!(Phase::parse(phase.as_str()), Some(phase));
        }
        assert_eq!(InstanceState::parse("Running"), None, "names are lower case");
    }

    #[test]
    fn final_states_are_final() {
        assert!(
            InstanceState::Completed.is_final() && InstanceState::Failed.is_final() && InstanceState::Stuck.is_final()
        );
        assert!(!InstanceState::Running.is_final() && !InstanceState::Compensating.is_final());
    }
}
