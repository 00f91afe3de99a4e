//! What operators do to an instance: retry the current step now (or a failed saga from the
//! start), cancel a running one (its compensations run), mark a stuck compensation done by hand.
//! Each action is recorded with who, why, and the state before and after.

use sqlx::Row;
use uuid::Uuid;

use crate::engine::{Engine, Error, position_of, random_unit};
use crate::machine::{Event, transition};

impl Engine {
    /// Runs the current step (or compensation) again now; a failed saga starts over.
    pub async fn retry(&self, id: Uuid, operator: &str, reason: &str) -> Result<(), Error> {
        self.operate(id, operator, "retry", reason, Event::OperatorRetry).await
    }

    /// Stops a running saga: the compensations of the steps it made run, newest first.
    pub async fn cancel(&self, id: Uuid, operator: &str, reason: &str) -> Result<(), Error> {
        let event = Event::OperatorCancel { reason: reason.into() };
        self.operate(id, operator, "cancel", reason, event).await
    }

    /// Records that a stuck compensation was done by hand; the remaining ones run.
    pub async fn mark_compensated(&self, id: Uuid, operator: &str, reason: &str) -> Result<(), Error> {
        let event = Event::OperatorMarkCompensated { reason: reason.into() };
        self.operate(id, operator, "mark_compensated", reason, event).await
    }

    async fn operate(&self, id: Uuid, operator: &str, action: &str, reason: &str, event: Event) -> Result<(), Error> {
        let mut tx = self.pool().begin().await?;
        // Waits for a step transaction in flight on this instance, so the action applies to
        // where the instance really stands.
        let row = sqlx::query(
            "SELECT saga, state, step, phase, attempts, failure, input FROM saga.instances WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound)?;
        let definition = self.definition(row.get("saga"))?;
        let before = position_of(&row)?;
        let (after, next) = transition(definition.shape(), &before, event, random_unit())
            .map_err(|refused| Error::Refused(refused.0))?;
        // A worker still marked as running this instance loses it: its fence fails.
        sqlx::query(
            "UPDATE saga.attempts SET outcome = 'abandoned', ended_at = now(), \
                    error = 'superseded by an operator''s ' || $2 \
             WHERE instance_id = $1 AND outcome = 'running'",
        )
        .bind(id)
        .bind(action)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE saga.instances SET lease_owner = NULL, lease_until = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.apply(&mut tx, id, definition, &before, &after, next, None, None).await?;
        sqlx::query(
            "INSERT INTO saga.operator_actions (instance_id, operator, action, reason, state_before, state_after) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(operator)
        .bind(action)
        .bind(reason)
        .bind(before.state.as_str())
        .bind(after.state.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(instance = %id, operator, action, reason, from = before.state.as_str(), to = after.state.as_str(), "operator action");
        Ok(())
    }
}
