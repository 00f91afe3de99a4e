//! How far an instance's steps got, in the words operators and requesters read.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a step (or its compensation) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    Running,
    /// Failed, and another attempt is scheduled.
    Retrying,
    Succeeded,
    Failed,
}

impl StepState {
    /// How a step (or its compensation) stands after its last attempt, `None` when it has
    /// none; `retried` when the instance stands at it and will attempt it again.
    pub fn after(last: Option<AttemptOutcome>, retried: bool) -> Self {
        match last {
            None => Self::Pending,
            Some(AttemptOutcome::Succeeded) => Self::Succeeded,
            Some(AttemptOutcome::Running) => Self::Running,
            Some(AttemptOutcome::Failed | AttemptOutcome::Abandoned) if retried => Self::Retrying,
            Some(AttemptOutcome::Failed | AttemptOutcome::Abandoned) => Self::Failed,
        }
    }
}

/// The state as sent (serde writes a unit variant's name to a formatter).
impl fmt::Display for StepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.serialize(f)
    }
}

/// How an attempt ended, as recorded: `abandoned` when its worker stopped before recording an
/// outcome (or an operator's move superseded it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Running,
    Succeeded,
    Failed,
    Abandoned,
}

impl AttemptOutcome {
    const ALL: [Self; 4] = [Self::Running, Self::Succeeded, Self::Failed, Self::Abandoned];

    /// The outcome's name as stored and as sent on the wire (serde uses the same).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Abandoned => "abandoned",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_states_travel_as_lower_case_words() {
        let all = [
            (StepState::Pending, "pending"),
            (StepState::Running, "running"),
            (StepState::Retrying, "retrying"),
            (StepState::Succeeded, "succeeded"),
            (StepState::Failed, "failed"),
        ];
        for (state, word) in all {
            assert_eq!(serde_json::to_value(state).unwrap(), word);
            assert_eq!(serde_json::from_value::<StepState>(word.into()).unwrap(), state);
            assert_eq!(state.to_string(), word);
        }
        for outcome in AttemptOutcome::ALL {
            assert_eq!(serde_json::to_value(outcome).unwrap(), outcome.as_str());
            assert_eq!(AttemptOutcome::parse(outcome.as_str()), Some(outcome));
        }
    }

    #[test]
    fn a_step_stands_as_its_last_attempt_left_it() {
        use AttemptOutcome::*;
        assert_eq!(StepState::after(None, true), StepState::Pending);
        assert_eq!(StepState::after(Some(Succeeded), true), StepState::Succeeded);
        assert_eq!(StepState::after(Some(Running), false), StepState::Running);
        for failed in [Failed, Abandoned] {
            assert_eq!(StepState::after(Some(failed), true), StepState::Retrying);
            assert_eq!(StepState::after(Some(failed), false), StepState::Failed);
        }
    }
}
