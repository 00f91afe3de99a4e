//! What operators do to an instance: retry the current step now (or a failed saga from the
//! start), retry one named step only, schedule a retry for later (bulk retries at a rate),
//! correct a failed instance's input and run it again, cancel a running one (its compensations
//! run), mark a stuck compensation done by hand, and record actions that move nothing (reading
//! personal data, sending an event again). Each action is recorded with who, why, the state
//! before and after, and what else it changed.

use std::time::Duration;

use saga_core::{Event, InstanceState, OperatorMove, operator, transition};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::definition::GuardContext;
use crate::engine::{Engine, random_unit};
use crate::error::Error;
use crate::record::Move;
use crate::store;

/// Who acts, and why.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub operator: &'a str,
    pub reason: &'a str,
}

/// A condition the instance must meet, checked under its lock.
enum Guard<'a> {
    Any,
    /// Running (or backing off) at this forward step.
    AtStep(&'a str),
    /// Failed because this forward step failed, with this input.
    FailedAt {
        step: &'a str,
        input: &'a Value,
    },
}

struct Operation<'a> {
    action: &'a str,
    event: Event,
    guard: Guard<'a>,
    /// Replaces the input before the step runs again.
    new_input: Option<Value>,
    /// Runs the step after this delay rather than now.
    delay: Option<Duration>,
    details: Option<Value>,
}

impl<'a> Operation<'a> {
    fn new(action: &'a str, event: Event) -> Self {
        Self {
            action,
            event,
            guard: Guard::Any,
            new_input: None,
            delay: None,
            details: None,
        }
    }
}

impl Engine {
    /// Runs the current step (or compensation) again now; a failed saga starts over.
    pub async fn retry(&self, id: Uuid, actor: Actor<'_>) -> Result<(), Error> {
        self.operate(id, actor, Operation::new("retry", Event::OperatorRetry))
            .await
    }

    /// Runs `step` again now, and only when the instance is running at that step (failing and
    /// waiting for its next attempt, say).
    pub async fn retry_step(&self, id: Uuid, step: &str, action: &str, actor: Actor<'_>) -> Result<(), Error> {
        let operation = Operation {
            guard: Guard::AtStep(step),
            ..Operation::new(action, Event::OperatorRetry)
        };
        self.operate(id, actor, operation).await
    }

    /// Like `retry`, but the step runs after `delay` (bulk retries spread at a rate).
    pub async fn retry_after(&self, id: Uuid, delay: Duration, actor: Actor<'_>, details: Value) -> Result<(), Error> {
        let operation = Operation {
            delay: Some(delay),
            details: Some(details),
            ..Operation::new("retry", Event::OperatorRetry)
        };
        self.operate(id, actor, operation).await
    }

    /// Replaces the input of an instance that failed because `step` failed, and runs it again
    /// from the start. Refused when the input is no longer `expected` (someone changed it
    /// meanwhile). `details` says what changed, for the record.
    pub async fn retry_with_input(
        &self,
        id: Uuid,
        step: &str,
        expected: &Value,
        input: Value,
        actor: Actor<'_>,
        details: Value,
    ) -> Result<(), Error> {
        let operation = Operation {
            guard: Guard::FailedAt { step, input: expected },
            new_input: Some(input),
            details: Some(details),
            ..Operation::new("edit_input_and_retry", Event::OperatorRetry)
        };
        self.operate(id, actor, operation).await
    }

    /// Stops a running saga: the compensations of the steps it made run, newest first.
    pub async fn cancel(&self, id: Uuid, actor: Actor<'_>) -> Result<(), Error> {
        let event = Event::OperatorCancel {
            reason: actor.reason.into(),
        };
        self.operate(id, actor, Operation::new("cancel", event)).await
    }

    /// Records that a stuck compensation was done by hand; the remaining ones run.
    pub async fn mark_compensated(&self, id: Uuid, actor: Actor<'_>) -> Result<(), Error> {
        let event = Event::OperatorMarkCompensated {
            reason: actor.reason.into(),
        };
        self.operate(id, actor, Operation::new("mark_compensated", event)).await
    }

    /// Records an action that does not move the instance, in the caller's transaction (so it
    /// is recorded if and only if what it reports commits). Answers the instance's state.
    pub async fn record_action(
        &self,
        tx: &mut PgConnection,
        id: Uuid,
        action: &str,
        actor: Actor<'_>,
        details: Option<Value>,
    ) -> Result<InstanceState, Error> {
        let state = store::share_lock_state(tx, id).await?.ok_or(Error::NotFound)?;
        store::insert_action(tx, &actor.record(id, action, (state, state), details.as_ref())).await?;
        tracing::info!(instance = %id, operator = actor.operator, action, reason = actor.reason, "operator action");
        Ok(state)
    }

    /// The instance's state, share-locked until the caller's transaction ends: an action on
    /// what the instance made (an order moved by hand) and an operator's move of the instance
    /// then never cross.
    pub async fn lock_state(&self, tx: &mut PgConnection, id: Uuid) -> Result<Option<InstanceState>, Error> {
        store::share_lock_state(tx, id).await
    }

    /// The moves (retry, cancel) the saga's guard refuses where the instance stands now, with
    /// why, so a console can leave them out and say why. Advisory: the guard is asked again
    /// under the instance's lock when a move is made.
    pub async fn refused_moves(&self, id: Uuid) -> Result<Vec<(OperatorMove, String)>, Error> {
        let mut connection = self.pool().acquire().await?;
        let standing = store::standing_of(&mut connection, id).await?;
        let Some(guard) = &self.definition(&standing.saga)?.guard else {
            return Ok(Vec::new());
        };
        let mut refused = Vec::new();
        for operator_move in [OperatorMove::Retry, OperatorMove::Cancel] {
            let context = GuardContext {
                instance_id: id,
                position: &standing.position,
                input: &standing.input,
            };
            if let Some(reason) = guard.refusal(operator_move, context, &mut connection).await? {
                refused.push((operator_move, reason));
            }
        }
        Ok(refused)
    }

    async fn operate(&self, id: Uuid, actor: Actor<'_>, operation: Operation<'_>) -> Result<(), Error> {
        let mut tx = self.pool().begin().await?;
        let standing = store::lock_standing(&mut tx, id).await?;
        let definition = self.definition(&standing.saga)?;
        let before = &standing.position;
        check(
            &mut tx,
            id,
            &standing,
            definition.step_name(before.step),
            &operation.guard,
        )
        .await?;
        let operator_move = OperatorMove::of(&operation.event);
        let (after, next) = transition(definition.shape(), before, operation.event, random_unit())?;
        if let (Some(guard), Some(operator_move)) = (&definition.guard, operator_move) {
            let context = GuardContext {
                instance_id: id,
                position: before,
                input: operation.new_input.as_ref().unwrap_or(&standing.input),
            };
            if let Some(reason) = guard.refusal(operator_move, context, &mut tx).await? {
                return Err(Error::Refused(reason));
            }
        }
        let next = match operation.delay {
            Some(delay) => next.postponed(delay),
            None => next,
        };
        if let Some(input) = &operation.new_input {
            store::replace_input(&mut tx, id, input, definition.search_keys_of(input)).await?;
        }
        // A worker still marked as running this instance loses it: its fence fails.
        store::take_from_workers(&mut tx, id, operation.action).await?;
        let states = (before.state, after.state);
        let change = Move {
            instance: id,
            definition,
            before,
            after,
            action: next,
            driven: None,
            closed: None,
            chained: Vec::new(),
        };
        self.apply(&mut tx, change).await?;
        let record = actor.record(id, operation.action, states, operation.details.as_ref());
        store::insert_action(&mut tx, &record).await?;
        tx.commit().await?;
        let (from, to) = (states.0.as_str(), states.1.as_str());
        tracing::info!(instance = %id, operator = actor.operator, action = operation.action, reason = actor.reason, from, to, "operator action");
        Ok(())
    }
}

impl<'a> Actor<'a> {
    /// The record of `action`, done by this actor, that took the instance from one state to
    /// another (or left it where it was).
    fn record(
        self,
        instance: Uuid,
        action: &'a str,
        (state_before, state_after): (InstanceState, InstanceState),
        details: Option<&'a Value>,
    ) -> store::ActionRecord<'a> {
        store::ActionRecord {
            instance,
            operator: self.operator,
            action,
            reason: self.reason,
            state_before,
            state_after,
            details,
        }
    }
}

/// Refuses the operation when the instance does not meet its guard.
async fn check(
    tx: &mut PgConnection,
    id: Uuid,
    standing: &store::Standing,
    step_name: &str,
    guard: &Guard<'_>,
) -> Result<(), Error> {
    let at = &standing.position;
    let checked = match guard {
        Guard::Any => Ok(()),
        Guard::AtStep(step) => operator::check_running_at(at, step_name, step),
        Guard::FailedAt { step, input: expected } => {
            let last = store::last_forward_attempt(tx, id).await?;
            let last = last.as_ref().map(|(name, outcome)| (name.as_str(), *outcome));
            operator::check_failed_at(at, last, step, standing.input == **expected)
        }
    };
    checked.map_err(Error::from)
}
