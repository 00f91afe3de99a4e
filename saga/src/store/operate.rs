//! What operators' moves read and write: the instance under its lock, the input they correct,
//! the attempts and lease they take from a worker, and the audit of every action.

use saga_core::{AttemptOutcome, InstanceState, Position};
use serde_json::Value;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::{outcome_of, position_of, state_of};
use crate::error::Error;

/// An instance where it stands, for an operator's move.
pub(crate) struct Standing {
    pub saga: String,
    pub position: Position,
    pub input: Value,
}

fn standing(row: &sqlx::postgres::PgRow) -> Result<Standing, Error> {
    Ok(Standing {
        saga: row.get("saga"),
        position: position_of(row)?,
        input: row.get("input"),
    })
}

/// The instance where it stands now, unlocked: for advice that is checked again on the move.
pub(crate) async fn standing_of(conn: &mut PgConnection, id: Uuid) -> Result<Standing, Error> {
    let row = sqlx::query(
        "SELECT saga, state, step, phase, attempts, failure, public_failure, input FROM saga.instances \
         WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)?;
    standing(&row)
}

/// The instance, locked for an update: waits for a step transaction in flight on it, so a
/// move applies to where the instance really stands.
pub(crate) async fn lock_standing(tx: &mut PgConnection, id: Uuid) -> Result<Standing, Error> {
    let row = sqlx::query(
        "SELECT saga, state, step, phase, attempts, failure, public_failure, input FROM saga.instances \
         WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(tx)
    .await?
    .ok_or(Error::NotFound)?;
    standing(&row)
}

/// The instance's state, share-locked until the transaction ends; None when there is none.
pub(crate) async fn share_lock_state(tx: &mut PgConnection, id: Uuid) -> Result<Option<InstanceState>, Error> {
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM saga.instances WHERE id = $1 FOR SHARE")
        .bind(id)
        .fetch_optional(tx)
        .await?;
    state.map(state_of).transpose()
}

/// The instance's last forward attempt, by step name and outcome.
pub(crate) async fn last_forward_attempt(
    tx: &mut PgConnection,
    id: Uuid,
) -> Result<Option<(String, AttemptOutcome)>, Error> {
    let last: Option<(String, String)> = sqlx::query_as(
        "SELECT step_name, outcome FROM saga.attempts \
         WHERE instance_id = $1 AND phase = 'forward' ORDER BY id DESC LIMIT 1",
    )
    .bind(id)
    .fetch_optional(tx)
    .await?;
    last.map(|(step, outcome)| Ok((step, outcome_of(outcome)?))).transpose()
}

/// Replaces the instance's input, and the keys it is found by.
pub(crate) async fn replace_input(
    tx: &mut PgConnection,
    id: Uuid,
    input: &Value,
    search_keys: Vec<String>,
) -> Result<(), Error> {
    sqlx::query("UPDATE saga.instances SET input = $2, search_keys = $3 WHERE id = $1")
        .bind(id)
        .bind(input)
        .bind(search_keys)
        .execute(tx)
        .await?;
    Ok(())
}

/// Takes the instance from whichever worker holds it: attempts still marked running are
/// abandoned (superseded by `action`) and the lease is let go, so that worker's fence fails.
pub(crate) async fn take_from_workers(tx: &mut PgConnection, id: Uuid, action: &str) -> Result<(), Error> {
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
    Ok(())
}

/// An operator's action, for the record.
pub(crate) struct ActionRecord<'a> {
    pub instance: Uuid,
    pub operator: &'a str,
    pub action: &'a str,
    pub reason: &'a str,
    pub state_before: InstanceState,
    pub state_after: InstanceState,
    pub details: Option<&'a Value>,
}

pub(crate) async fn insert_action(tx: &mut PgConnection, record: &ActionRecord<'_>) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO saga.operator_actions (instance_id, operator, action, reason, state_before, state_after, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(record.instance)
    .bind(record.operator)
    .bind(record.action)
    .bind(record.reason)
    .bind(record.state_before.as_str())
    .bind(record.state_after.as_str())
    .bind(record.details)
    .execute(tx)
    .await?;
    Ok(())
}
