//! What operators do to an instance: retry the current step now (or a failed saga from the
//! start), retry one named step only, schedule a retry for later (bulk retries at a rate),
//! correct a failed instance's input and run it again, cancel a running one (its compensations
//! run), mark a stuck compensation done by hand, and record actions that move nothing (reading
//! personal data, sending an event again). Each action is recorded with who, why, the state
//! before and after, and what else it changed.

use std::time::Duration;

use serde_json::Value;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::definition::GuardContext;
use crate::engine::{Engine, position_of, random_unit};
use crate::error::Error;
use saga_core::OperatorMove;
use saga_core::{Action, Event, InstanceState, Phase, Position, transition};

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
        let state: String = sqlx::query_scalar("SELECT state FROM saga.instances WHERE id = $1 FOR SHARE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound)?;
        insert_action(tx, id, action, actor, &state, &state, details.as_ref()).await?;
        tracing::info!(instance = %id, operator = actor.operator, action, reason = actor.reason, "operator action");
        InstanceState::parse(&state).ok_or_else(|| Error::Corrupt(format!("unknown state {state:?}")))
    }

    /// The instance's state, share-locked until the caller's transaction ends: an action on
    /// what the instance made (an order moved by hand) and an operator's move of the instance
    /// then never cross.
    pub async fn lock_state(&self, tx: &mut PgConnection, id: Uuid) -> Result<Option<InstanceState>, Error> {
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM saga.instances WHERE id = $1 FOR SHARE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        state
            .map(|s| InstanceState::parse(&s).ok_or_else(|| Error::Corrupt(format!("unknown state {s:?}"))))
            .transpose()
    }

    /// The moves (retry, cancel) the saga's guard refuses where the instance stands now, with
    /// why, so a console can leave them out and say why. Advisory: the guard is asked again
    /// under the instance's lock when a move is made.
    pub async fn refused_moves(&self, id: Uuid) -> Result<Vec<(OperatorMove, String)>, Error> {
        let mut connection = self.pool().acquire().await?;
        let row = sqlx::query(
            "SELECT saga, state, step, phase, attempts, failure, public_failure, input FROM saga.instances \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *connection)
        .await?
        .ok_or(Error::NotFound)?;
        let Some(guard) = &self.definition(row.get("saga"))?.guard else {
            return Ok(Vec::new());
        };
        let position = position_of(&row)?;
        let input: Value = row.get("input");
        let mut refused = Vec::new();
        for operator_move in [OperatorMove::Retry, OperatorMove::Cancel] {
            let context = GuardContext {
                instance_id: id,
                position: &position,
                input: &input,
            };
            if let Some(reason) = guard.refusal(operator_move, context, &mut connection).await? {
                refused.push((operator_move, reason));
            }
        }
        Ok(refused)
    }

    async fn operate(&self, id: Uuid, actor: Actor<'_>, operation: Operation<'_>) -> Result<(), Error> {
        let mut tx = self.pool().begin().await?;
        // Waits for a step transaction in flight on this instance, so the action applies to
        // where the instance really stands.
        let row = sqlx::query(
            "SELECT saga, state, step, phase, attempts, failure, public_failure, input FROM saga.instances \
             WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound)?;
        let definition = self.definition(row.get("saga"))?;
        let before = position_of(&row)?;
        check(
            &mut tx,
            id,
            &before,
            &row.get("input"),
            definition.step_name(before.step),
            &operation.guard,
        )
        .await?;
        let operator_move = match &operation.event {
            Event::OperatorRetry => Some(OperatorMove::Retry),
            Event::OperatorCancel { .. } => Some(OperatorMove::Cancel),
            _ => None,
        };
        let (after, next) = transition(definition.shape(), &before, operation.event, random_unit())
            .map_err(|refused| Error::Refused(refused.0))?;
        if let (Some(guard), Some(operator_move)) = (&definition.guard, operator_move) {
            let input: Value = row.get("input");
            let context = GuardContext {
                instance_id: id,
                position: &before,
                input: operation.new_input.as_ref().unwrap_or(&input),
            };
            if let Some(reason) = guard.refusal(operator_move, context, &mut tx).await? {
                return Err(Error::Refused(reason));
            }
        }
        let next = match (next, operation.delay) {
            (Action::Run { step, phase, attempt }, Some(delay)) => Action::RunAfter {
                step,
                phase,
                attempt,
                delay,
            },
            (next, _) => next,
        };
        if let Some(input) = &operation.new_input {
            sqlx::query("UPDATE saga.instances SET input = $2, search_keys = $3 WHERE id = $1")
                .bind(id)
                .bind(input)
                .bind(definition.search_keys_of(input))
                .execute(&mut *tx)
                .await?;
        }
        // A worker still marked as running this instance loses it: its fence fails.
        sqlx::query(
            "UPDATE saga.attempts SET outcome = 'abandoned', ended_at = now(), \
                    error = 'superseded by an operator''s ' || $2 \
             WHERE instance_id = $1 AND outcome = 'running'",
        )
        .bind(id)
        .bind(operation.action)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE saga.instances SET lease_owner = NULL, lease_until = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.apply(
            &mut tx,
            id,
            definition,
            &before,
            &after,
            next,
            None,
            None,
            crate::engine::ChainRecords::default(),
        )
        .await?;
        let (from, to) = (before.state.as_str(), after.state.as_str());
        insert_action(
            &mut tx,
            id,
            operation.action,
            actor,
            from,
            to,
            operation.details.as_ref(),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(instance = %id, operator = actor.operator, action = operation.action, reason = actor.reason, from, to, "operator action");
        Ok(())
    }
}

/// Refuses the operation when the instance does not meet its guard.
async fn check(
    tx: &mut PgConnection,
    id: Uuid,
    at: &Position,
    input: &Value,
    step_name: &str,
    guard: &Guard<'_>,
) -> Result<(), Error> {
    match guard {
        Guard::Any => Ok(()),
        Guard::AtStep(step) => {
            if at.state == InstanceState::Running && at.phase == Phase::Forward && step_name == *step {
                Ok(())
            } else {
                Err(Error::Refused(format!(
                    "the saga is {} at {step_name}, not running at {step}",
                    at.state.as_str()
                )))
            }
        }
        Guard::FailedAt { step, input: expected } => {
            // The last forward attempt is the one whose failure ended the saga.
            let last: Option<(String, String)> = sqlx::query_as(
                "SELECT step_name, outcome FROM saga.attempts \
                 WHERE instance_id = $1 AND phase = 'forward' ORDER BY id DESC LIMIT 1",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let failed_there = matches!(&last, Some((name, outcome)) if name == step && outcome != "succeeded");
            if at.state != InstanceState::Failed || !failed_there {
                return Err(Error::Refused(format!(
                    "only a saga that failed at {step} can be corrected and run again; this one is {}",
                    at.state.as_str()
                )));
            }
            if input != *expected {
                return Err(Error::Refused(
                    "the saga's input changed meanwhile; look at it again".into(),
                ));
            }
            Ok(())
        }
    }
}

async fn insert_action(
    tx: &mut PgConnection,
    id: Uuid,
    action: &str,
    actor: Actor<'_>,
    state_before: &str,
    state_after: &str,
    details: Option<&Value>,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO saga.operator_actions (instance_id, operator, action, reason, state_before, state_after, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(actor.operator)
    .bind(action)
    .bind(actor.reason)
    .bind(state_before)
    .bind(state_after)
    .bind(details)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
