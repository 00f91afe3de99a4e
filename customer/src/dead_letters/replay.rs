//! Replaying a dead letter: its event applied the way the workers apply events, in the
//! transaction that records the replay. The event is still applied once: `applied_events`
//! knows an event applied since it was dead-lettered (a redelivery, another replay), and the
//! dead letter's row lock keeps two operators from replaying it at the same moment.

use serde::Serialize;
use sqlx::{Connection, PgPool};
use uuid::Uuid;

use super::store;
use crate::orders::events;
use crate::orders::store::Applied;

/// What came of replaying one dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplayOutcome {
    Applied,
    /// The event had been applied since (it came again through the queue): nothing changed.
    AlreadyApplied,
    /// A status change older than the order's stored status: in its history, the status kept.
    OlderThanStored,
    /// Still cannot be applied; the dead letter stays open with the new error.
    Failed,
    /// Unknown, or replayed or discarded already: not touched.
    NotOpen,
}

impl ReplayOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::AlreadyApplied => "already_applied",
            Self::OlderThanStored => "older_than_stored",
            Self::Failed => "failed",
            Self::NotOpen => "not_open",
        }
    }
}

/// One dead letter's replay.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    pub id: Uuid,
    pub outcome: ReplayOutcome,
    pub error: Option<String>,
}

/// Replays the dead letter `id` as `operator` (saying why, if they did), recording the outcome.
pub async fn replay(db: &PgPool, id: Uuid, operator: &str, reason: Option<&str>) -> sqlx::Result<Replayed> {
    let mut tx = db.begin().await?;
    let Some((kind, body)) = store::lock_open(&mut tx, id).await? else {
        return Ok(Replayed {
            id,
            outcome: ReplayOutcome::NotOpen,
            error: None,
        });
    };
    // A savepoint: an event that breaks a rule rolls back alone, and its failure is recorded.
    let mut attempt = tx.begin().await?;
    let (outcome, error) = match events::apply_event(&mut attempt, &kind, body.as_bytes()).await {
        Ok(applied) => {
            attempt.commit().await?;
            store::mark_replayed(&mut tx, id).await?;
            let outcome = match applied {
                Applied::Applied => ReplayOutcome::Applied,
                Applied::Duplicate => ReplayOutcome::AlreadyApplied,
                Applied::Stale => ReplayOutcome::OlderThanStored,
            };
            (outcome, None)
        }
        Err(failure) => {
            attempt.rollback().await?;
            store::note_failed_replay(&mut tx, id, failure.message()).await?;
            (ReplayOutcome::Failed, Some(failure.message().to_owned()))
        }
    };
    let action = store::Action {
        operator,
        action: "replay",
        outcome: outcome.as_str(),
        reason,
        error: error.as_deref(),
    };
    store::record_action(&mut tx, id, &action).await?;
    tx.commit().await?;
    tracing::info!(dead_letter = %id, outcome = outcome.as_str(), "dead letter replayed");
    Ok(Replayed { id, outcome, error })
}
