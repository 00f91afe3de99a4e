//! SQL for dead letters: taking them in from the dead-letter queue, listing them, and
//! recording what operators did to them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgExecutor, Row};
use uuid::Uuid;

/// Where a dead letter stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LetterState {
    /// Not applied; waiting for an operator.
    Dead,
    /// Replayed and applied (or found applied already).
    Replayed,
    /// Dropped by an operator, with a reason.
    Discarded,
}

impl LetterState {
    pub const ALL: [Self; 3] = [Self::Dead, Self::Replayed, Self::Discarded];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dead => "dead",
            Self::Replayed => "replayed",
            Self::Discarded => "discarded",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }
}

/// A message as it came off the dead-letter queue.
pub struct Incoming {
    pub message_id: String,
    pub kind: String,
    pub order_id: Option<Uuid>,
    pub body: String,
    pub dead_reason: String,
}

/// Records a dead-lettered message with the error and attempts customer noted for it; the
/// same event dead-lettered again while still open updates its record.
pub async fn take_in(db: impl PgExecutor<'_>, letter: &Incoming) -> sqlx::Result<Uuid> {
    sqlx::query_scalar(
        "INSERT INTO dead_letters (id, message_id, kind, order_id, body, error, attempts, dead_reason) \
         SELECT $1, $2, $3, $4, $5, coalesce(f.last_error, 'no error was recorded for it'), \
                coalesce(f.attempts, 0), $6 \
         FROM (SELECT 1) AS one LEFT JOIN event_failures f ON f.message_id = $2 \
         ON CONFLICT (message_id) WHERE state = 'dead' AND message_id <> '' DO UPDATE \
             SET error = EXCLUDED.error, attempts = EXCLUDED.attempts, dead_reason = EXCLUDED.dead_reason, \
                 dead_at = now() \
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(&letter.message_id)
    .bind(&letter.kind)
    .bind(letter.order_id)
    .bind(&letter.body)
    .bind(&letter.dead_reason)
    .fetch_one(db)
    .await
}

/// A dead letter as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    pub id: Uuid,
    pub message_id: String,
    pub kind: String,
    pub order_id: Option<Uuid>,
    pub error: String,
    pub attempts: i32,
    pub dead_reason: String,
    pub dead_at: DateTime<Utc>,
    pub state: LetterState,
    pub resolved_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, message_id, kind, order_id, error, attempts, dead_reason, dead_at, state, resolved_at";

fn dead_letter(row: &PgRow) -> DeadLetter {
    let state: String = row.get("state");
    DeadLetter {
        id: row.get("id"),
        message_id: row.get("message_id"),
        kind: row.get("kind"),
        order_id: row.get("order_id"),
        error: row.get("error"),
        attempts: row.get("attempts"),
        dead_reason: row.get("dead_reason"),
        dead_at: row.get("dead_at"),
        // The column's CHECK allows these three only.
        state: LetterState::parse(&state).unwrap_or(LetterState::Dead),
        resolved_at: row.get("resolved_at"),
    }
}

/// Dead letters in `state` (every state when None), newest first, after `before`.
pub async fn list(
    db: impl PgExecutor<'_>,
    state: Option<LetterState>,
    before: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<DeadLetter>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM dead_letters \
         WHERE ($1::text IS NULL OR state = $1) \
           AND ($2::uuid IS NULL OR (dead_at, id) < (SELECT dead_at, id FROM dead_letters WHERE id = $2)) \
         ORDER BY dead_at DESC, id DESC LIMIT $3"
    )))
    .bind(state.map(LetterState::as_str))
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.iter().map(dead_letter).collect())
}

/// How many dead letters are in each state.
pub async fn count_by_state(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<(LetterState, i64)>> {
    let rows = sqlx::query("SELECT state, count(*) AS n FROM dead_letters GROUP BY state")
        .fetch_all(db)
        .await?;
    Ok(LetterState::ALL
        .into_iter()
        .map(|state| {
            let count = rows
                .iter()
                .find(|row| row.get::<String, _>("state") == state.as_str())
                .map_or(0, |row| row.get("n"));
            (state, count)
        })
        .collect())
}

/// What an operator did to a dead letter.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LetterAction {
    pub operator: String,
    pub action: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// A dead letter with its body and every action taken on it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetterDetail {
    #[serde(flatten)]
    pub letter: DeadLetter,
    pub body: String,
    pub actions: Vec<LetterAction>,
}

pub async fn find(db: &sqlx::PgPool, id: Uuid) -> sqlx::Result<Option<DeadLetterDetail>> {
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, body FROM dead_letters WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    let actions = sqlx::query(
        "SELECT operator, action, outcome, reason, error, at FROM dead_letter_actions \
         WHERE dead_letter_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|a| LetterAction {
        operator: a.get("operator"),
        action: a.get("action"),
        outcome: a.get("outcome"),
        reason: a.get("reason"),
        error: a.get("error"),
        at: a.get("at"),
    })
    .collect();
    Ok(Some(DeadLetterDetail {
        letter: dead_letter(&row),
        body: row.get("body"),
        actions,
    }))
}

/// An open dead letter's type and body, locked until the caller's transaction ends; None when
/// it is unknown or no longer open.
pub async fn lock_open(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<(String, String)>> {
    sqlx::query_as("SELECT kind, body FROM dead_letters WHERE id = $1 AND state = 'dead' FOR UPDATE")
        .bind(id)
        .fetch_optional(tx)
        .await
}

/// The ids of open dead letters, oldest first (the order their events were given up in).
pub async fn open_ids(db: impl PgExecutor<'_>, ids: Option<&[Uuid]>, limit: i64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM dead_letters WHERE state = 'dead' AND ($1::uuid[] IS NULL OR id = ANY($1)) \
         ORDER BY dead_at, id LIMIT $2",
    )
    .bind(ids)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Marks a dead letter replayed.
pub async fn mark_replayed(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE dead_letters SET state = 'replayed', resolved_at = now() WHERE id = $1")
        .bind(id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Notes a replay that failed again: one attempt more, and its error.
pub async fn note_failed_replay(tx: &mut PgConnection, id: Uuid, error: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE dead_letters SET attempts = attempts + 1, error = $2 WHERE id = $1")
        .bind(id)
        .bind(error)
        .execute(tx)
        .await?;
    Ok(())
}

/// Discards the open dead letters among `ids` (every open one when None) with `reason`,
/// recording who did it; answers the ids discarded.
pub async fn discard(
    tx: &mut PgConnection,
    ids: Option<&[Uuid]>,
    operator: &str,
    reason: &str,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "WITH discarded AS ( \
             UPDATE dead_letters SET state = 'discarded', resolved_at = now() \
             WHERE state = 'dead' AND ($1::uuid[] IS NULL OR id = ANY($1)) RETURNING id) \
         INSERT INTO dead_letter_actions (dead_letter_id, operator, action, outcome, reason) \
         SELECT id, $2, 'discard', 'discarded', $3 FROM discarded RETURNING dead_letter_id",
    )
    .bind(ids)
    .bind(operator)
    .bind(reason)
    .fetch_all(tx)
    .await
}

/// What an operator did to a dead letter, to record.
pub struct Action<'a> {
    pub operator: &'a str,
    pub action: &'a str,
    pub outcome: &'a str,
    pub reason: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// Records what an operator did to a dead letter.
pub async fn record_action(tx: &mut PgConnection, id: Uuid, action: &Action<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO dead_letter_actions (dead_letter_id, operator, action, outcome, reason, error) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(action.operator)
    .bind(action.action)
    .bind(action.outcome)
    .bind(action.reason)
    .bind(action.error)
    .execute(tx)
    .await?;
    Ok(())
}

/// Open dead letters: how many, and when the oldest was given up.
pub async fn open_summary(db: impl PgExecutor<'_>) -> sqlx::Result<(i64, Option<DateTime<Utc>>)> {
    sqlx::query_as("SELECT count(*), min(dead_at) FROM dead_letters WHERE state = 'dead'")
        .fetch_one(db)
        .await
}
