//! How a saga is declared: an ordered list of named steps, each with an action, an optional
//! compensation and a retry policy.

use std::future::Future;
use std::pin::Pin;

use sqlx::PgConnection;
use uuid::Uuid;

use saga_core::{Edge, OperatorMove, Position, RetryPolicy, Shape, StepShape};

/// What an action returns.
pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<(), StepError>> + Send + 'a>>;

/// What an action's check returns: whether an earlier attempt took effect, if it can tell.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<bool>, StepError>> + Send + 'a>>;

/// What a running step knows of its instance. `instance_id` and `step` together name the
/// attempt's effect, so an action can make itself idempotent.
#[derive(Debug, Clone)]
pub struct StepContext {
    pub instance_id: Uuid,
    pub saga: &'static str,
    pub step: &'static str,
    pub attempt: u32,
    pub input: serde_json::Value,
}

/// An action or a compensation.
///
/// It runs inside the transaction in which the engine records its outcome, so its database
/// effects and the record of its success commit together or not at all. Effects outside the
/// database (a broker publish) happen at least once: make them safe to repeat.
pub trait StepAction: Send + Sync + 'static {
    fn run<'a>(&'a self, context: &'a StepContext, tx: &'a mut PgConnection) -> StepFuture<'a>;

    /// Asked when a worker stopped in the middle of an attempt, before the step runs again:
    /// did that attempt take effect (`Some(true)`: the engine records the step done), or not
    /// (`Some(false)`: it runs again)? `None` when the step cannot tell; it runs again, so it
    /// must be safe to repeat.
    fn took_effect<'a>(&'a self, _context: &'a StepContext, _tx: &'a mut PgConnection) -> CheckFuture<'a> {
        Box::pin(async { Ok(None) })
    }
}

/// Why an attempt failed. Permanent failures are not retried; the saga compensates. The
/// message is for operators unless the error is `public`: a reason meant for whoever started
/// the saga, which they can read and act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    pub message: String,
    pub permanent: bool,
    pub public: bool,
}

impl StepError {
    /// Worth another attempt after a backoff (a timeout, a dropped connection).
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: false,
            public: false,
        }
    }

    /// Will not get better by trying again (a record that cannot be read, a broken rule).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: true,
            public: false,
        }
    }

    /// What was asked cannot be done, for a reason whoever asked can read (an item sold out,
    /// details to correct): permanent, and shown to them as it is.
    pub fn rejected(reason: impl Into<String>) -> Self {
        Self {
            public: true,
            ..Self::permanent(reason)
        }
    }
}

impl From<sqlx::Error> for StepError {
    /// A broken rule (a constraint, or an exception raised by a trigger) will break again: it
    /// is permanent. Anything else (a deadlock, a lost connection, a restart) is transient.
    fn from(error: sqlx::Error) -> Self {
        let broken_rule = matches!(
            &error,
            sqlx::Error::Database(e)
                if e.code().is_some_and(|code| code.starts_with("23") || code == "P0001")
        );
        let message = format!("database: {error}");
        if broken_rule {
            Self::permanent(message)
        } else {
            Self::retryable(message)
        }
    }
}

/// What a guard knows of the instance an operator acts on.
#[derive(Debug)]
pub struct GuardContext<'a> {
    pub instance_id: Uuid,
    pub position: &'a Position,
    pub input: &'a serde_json::Value,
}

/// What a guard returns: the reason the move is refused, or `None`.
pub type GuardFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<String>, sqlx::Error>> + Send + 'a>>;

/// Refuses operator moves that cannot succeed where an instance and what its steps made now
/// stand (a saga whose order has shipped cannot undo it; a saga whose order was cancelled
/// cannot bring it back by starting over), so no operator sends an instance where it can only
/// fail or wait for another operator. The engine's own rules (which moves a state allows) come
/// first; this is what only the saga's author knows.
pub trait OperatorGuard: Send + Sync + 'static {
    /// Runs in the action's transaction, with the instance's row locked.
    fn refusal<'a>(
        &'a self,
        operator_move: OperatorMove,
        context: GuardContext<'a>,
        tx: &'a mut PgConnection,
    ) -> GuardFuture<'a>;
}

/// One step of a definition.
pub struct Step {
    pub(crate) name: &'static str,
    pub(crate) action: Box<dyn StepAction>,
    pub(crate) compensation: Option<Box<dyn StepAction>>,
    pub(crate) retry: RetryPolicy,
    pub(crate) transactional: bool,
}

impl Step {
    pub fn new(name: &'static str, action: impl StepAction) -> Self {
        Self {
            name,
            action: Box::new(action),
            compensation: None,
            retry: RetryPolicy::default(),
            transactional: false,
        }
    }

    /// Declares that the action and its compensation have no effect outside the transaction
    /// they are given. The engine may then run the step in one transaction with its
    /// transactional neighbours (and with the claim of the instance), saving a commit per
    /// step: if the worker dies, all of them roll back together and run again, and if one
    /// fails, the engine rolls the chain back and runs its steps one transaction each.
    pub fn transactional(mut self) -> Self {
        self.transactional = true;
        self
    }

    /// What undoes this step when a later one fails for good.
    pub fn compensate_with(mut self, compensation: impl StepAction) -> Self {
        self.compensation = Some(Box::new(compensation));
        self
    }

    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn has_compensation(&self) -> bool {
        self.compensation.is_some()
    }
}

/// Takes the keys an instance can be found by from its input (e.g. an email address).
pub type SearchKeys = fn(&serde_json::Value) -> Vec<String>;

/// A saga: a name and its steps in order.
pub struct Definition {
    pub(crate) name: &'static str,
    pub(crate) steps: Vec<Step>,
    shapes: Vec<StepShape>,
    search_keys: Option<SearchKeys>,
    pub(crate) guard: Option<Box<dyn OperatorGuard>>,
}

impl Definition {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            steps: Vec::new(),
            shapes: Vec::new(),
            search_keys: None,
            guard: None,
        }
    }

    /// Operator moves are first put to `guard`, which may refuse them with a reason.
    pub fn guard_operators_with(mut self, guard: impl OperatorGuard) -> Self {
        self.guard = Some(Box::new(guard));
        self
    }

    /// Instances can be listed by the keys `keys` takes from their input (compared in lower
    /// case, whole).
    pub fn searchable_by(mut self, keys: SearchKeys) -> Self {
        self.search_keys = Some(keys);
        self
    }

    pub fn step(mut self, step: Step) -> Self {
        self.shapes.push(StepShape {
            compensable: step.compensation.is_some(),
            transactional: step.transactional,
            retry: step.retry,
        });
        self.steps.push(step);
        self
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The search keys of an instance with `input`, lower case.
    pub(crate) fn search_keys_of(&self, input: &serde_json::Value) -> Vec<String> {
        let mut keys: Vec<String> = self
            .search_keys
            .map(|keys| keys(input))
            .unwrap_or_default()
            .into_iter()
            .map(|key| key.trim().to_lowercase())
            .filter(|key| !key.is_empty())
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Every edge the state machine can take between this definition's steps, for drawing.
    pub fn edges(&self) -> Vec<Edge> {
        saga_core::edges(self.shape())
    }

    pub(crate) fn shape(&self) -> Shape<'_> {
        Shape { steps: &self.shapes }
    }

    /// The step's name, or a placeholder when an instance points past the definition (it was
    /// recorded by a newer version of the code).
    pub(crate) fn step_name(&self, step: usize) -> &'static str {
        self.steps.get(step).map_or("(unknown step)", |s| s.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    impl StepAction for Nothing {
        fn run<'a>(&'a self, _context: &'a StepContext, _tx: &'a mut PgConnection) -> StepFuture<'a> {
            Box::pin(async { Ok(()) })
        }
    }

    #[test]
    fn a_definition_tells_the_machine_which_steps_compensate_and_which_chain() {
        let definition = Definition::new("parcel")
            .step(Step::new("pack", Nothing).compensate_with(Nothing).transactional())
            .step(Step::new("ship", Nothing));
        let shape = definition.shape();
        assert!(shape.steps[0].compensable && shape.chains(0));
        assert!(!shape.steps[1].compensable && !shape.chains(1));
        assert_eq!(definition.step_name(1), "ship");
        assert_eq!(
            definition.step_name(2),
            "(unknown step)",
            "recorded by a newer definition"
        );
        assert_eq!(
            definition.edges().len(),
            2 * 2 + 1,
            "two forward steps, one compensation"
        );
    }

    #[test]
    fn search_keys_are_trimmed_lower_case_and_unique() {
        let definition = Definition::new("parcel").searchable_by(|input| {
            (input["emails"].as_array().into_iter().flatten())
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect()
        });
        let input = serde_json::json!({"emails": [" Ada@Example.org", "ada@example.org", "", "bob@example.org"]});
        assert_eq!(
            definition.search_keys_of(&input),
            ["ada@example.org", "bob@example.org"]
        );
    }
}
