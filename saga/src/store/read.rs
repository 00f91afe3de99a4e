//! What operators and hosts read: instances listed, counted and shown whole, and the figures
//! of a health page.

use std::time::Duration;

use chrono::{DateTime, Utc};
use saga_core::{InstanceState, Phase, Position};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::{outcome_of, phase_of, position_of};
use crate::error::Error;
use crate::views::{AttemptView, ListFilter, OperatorActionView};

/// An instance's row, as lists show it.
pub(crate) struct InstanceRow {
    pub id: Uuid,
    pub saga: String,
    pub position: Position,
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// An instance's row with what its own page adds.
pub(crate) struct InstanceDetailRow {
    pub row: InstanceRow,
    pub input: Value,
    /// When the next attempt is due, while one is scheduled.
    pub due: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
}

const SUMMARY_COLUMNS: &str =
    "id, saga, state, step, phase, attempts, failure, public_failure, owner, created_at, updated_at, ended_at";

fn instance_row(row: &PgRow) -> Result<InstanceRow, Error> {
    Ok(InstanceRow {
        id: row.get("id"),
        saga: row.get("saga"),
        position: position_of(row)?,
        owner: row.get("owner"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        ended_at: row.get("ended_at"),
    })
}

/// Instances matching `filter`, newest first.
pub(crate) async fn list(pool: &PgPool, filter: &ListFilter) -> Result<Vec<InstanceRow>, Error> {
    let rows = bind_filter(
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SUMMARY_COLUMNS} FROM saga.instances WHERE {FILTER} \
               AND ($8::uuid IS NULL OR (created_at, id) < \
                    (SELECT created_at, id FROM saga.instances WHERE id = $8)) \
             ORDER BY created_at DESC, id DESC LIMIT $9"
        ))),
        filter,
    )
    .bind(filter.before)
    .bind(filter.limit.clamp(1, 1000) as i64)
    .fetch_all(pool)
    .await?;
    rows.iter().map(instance_row).collect()
}

/// How many instances match `filter` (its cursor and limit aside).
pub(crate) async fn count_matching(pool: &PgPool, filter: &ListFilter) -> Result<i64, Error> {
    let count = bind_filter(
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) AS n FROM saga.instances WHERE {FILTER}"
        ))),
        filter,
    )
    .fetch_one(pool)
    .await?;
    Ok(count.get("n"))
}

/// How many instances are in each state: the ended ones from the counters a trigger keeps
/// (a few dozen rows read, however many have ended), the few at work from the state index.
pub(crate) async fn count_by_state(pool: &PgPool) -> Result<Vec<(InstanceState, i64)>, Error> {
    let rows = sqlx::query(
        "SELECT state, sum(n)::bigint AS n FROM saga.state_counts GROUP BY state \
         UNION ALL \
         SELECT state, count(*) FROM saga.instances \
         WHERE state IN ('running', 'compensating', 'stuck') GROUP BY state",
    )
    .fetch_all(pool)
    .await?;
    let mut counts: Vec<(InstanceState, i64)> = InstanceState::ALL.into_iter().map(|s| (s, 0)).collect();
    for row in rows {
        let state: String = row.get("state");
        if let Some(slot) = counts.iter_mut().find(|(s, _)| s.as_str() == state) {
            slot.1 = row.get("n");
        }
    }
    Ok(counts)
}

/// One instance's row.
pub(crate) async fn instance(pool: &PgPool, id: Uuid) -> Result<Option<InstanceDetailRow>, Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SUMMARY_COLUMNS}, input, lease_owner, \
                CASE WHEN run_after > now() AND state IN ('running', 'compensating') THEN run_after END AS due \
         FROM saga.instances WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(InstanceDetailRow {
            row: instance_row(&row)?,
            input: row.get("input"),
            due: row.get("due"),
            lease_owner: row.get("lease_owner"),
        })
    })
    .transpose()
}

/// Every attempt of the instance, oldest first.
pub(crate) async fn attempts(pool: &PgPool, id: Uuid) -> Result<Vec<AttemptView>, Error> {
    sqlx::query(
        "SELECT id, step_name, phase, attempt, worker, started_at, ended_at, outcome, error \
         FROM saga.attempts WHERE instance_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|a| {
        Ok(AttemptView {
            id: a.get("id"),
            step: a.get("step_name"),
            phase: phase_of(a.get("phase"))?,
            attempt: a.get::<i32, _>("attempt").max(0) as u32,
            worker: a.get("worker"),
            started_at: a.get("started_at"),
            ended_at: a.get("ended_at"),
            outcome: outcome_of(a.get("outcome"))?,
            error: a.get("error"),
        })
    })
    .collect()
}

/// What operators did to the instance, oldest first.
pub(crate) async fn operator_actions(pool: &PgPool, id: Uuid) -> Result<Vec<OperatorActionView>, Error> {
    let actions = sqlx::query(
        "SELECT operator, action, reason, state_before, state_after, details, at \
         FROM saga.operator_actions WHERE instance_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|a| OperatorActionView {
        operator: a.get("operator"),
        action: a.get("action"),
        reason: a.get("reason"),
        state_before: a.get("state_before"),
        state_after: a.get("state_after"),
        details: a.get("details"),
        at: a.get("at"),
    })
    .collect();
    Ok(actions)
}

/// Instances of `saga` started within `window`: how many, and how many of them completed,
/// failed and are stuck.
pub(crate) async fn recent_counts(pool: &PgPool, saga: &str, window: Duration) -> Result<[i64; 4], Error> {
    let row = sqlx::query(
        "SELECT count(*) AS started, \
                count(*) FILTER (WHERE state = 'completed') AS completed, \
                count(*) FILTER (WHERE state = 'failed') AS failed, \
                count(*) FILTER (WHERE state = 'stuck') AS stuck \
         FROM saga.instances WHERE saga = $1 AND created_at >= now() - make_interval(secs => $2)",
    )
    .bind(saga)
    .bind(window.as_secs_f64())
    .fetch_one(pool)
    .await?;
    Ok(["started", "completed", "failed", "stuck"].map(|column| row.get(column)))
}

/// The commonest reasons instances of `saga` started within `window` failed (or are stuck),
/// at most `limit`, commonest first.
pub(crate) async fn failure_reasons(
    pool: &PgPool,
    saga: &str,
    window: Duration,
    limit: usize,
) -> Result<Vec<(String, i64)>, Error> {
    let reasons = sqlx::query_as(
        "SELECT coalesce(failure, 'no reason recorded') AS reason, count(*) AS count FROM saga.instances \
         WHERE saga = $1 AND state IN ('failed', 'stuck') AND created_at >= now() - make_interval(secs => $2) \
         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $3",
    )
    .bind(saga)
    .bind(window.as_secs_f64())
    .bind(limit as i64)
    .fetch_all(pool)
    .await?;
    Ok(reasons)
}

/// A count of instances that wait, by where they wait.
pub(crate) struct WaitingRow {
    pub saga: String,
    pub step: usize,
    pub phase: Phase,
    /// Stuck for an operator, rather than idle.
    pub stuck: bool,
    pub count: i64,
}

/// Instances stuck, or running and compensating without a move for `idle_for`, counted by
/// saga, step, phase and whether they are stuck, the largest counts first.
pub(crate) async fn waiting_by_step(pool: &PgPool, idle_for: Duration) -> Result<Vec<WaitingRow>, Error> {
    let rows = sqlx::query(
        "SELECT saga, step, phase, state = 'stuck' AS stuck, count(*) AS count FROM saga.instances \
         WHERE state = 'stuck' \
            OR (state IN ('running', 'compensating') AND updated_at < now() - make_interval(secs => $1)) \
         GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC",
    )
    .bind(idle_for.as_secs_f64())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(WaitingRow {
                saga: row.get("saga"),
                step: row.get::<i32, _>("step").max(0) as usize,
                phase: phase_of(row.get("phase"))?,
                stuck: row.get("stuck"),
                count: row.get("count"),
            })
        })
        .collect()
}

/// The conditions of a `ListFilter`, bound as $1 to $7.
const FILTER: &str = "($1::text IS NULL OR saga = $1) \
       AND ($2::text IS NULL OR state = $2) \
       AND ($3::text IS NULL OR owner = $3) \
       AND ($4::float8 IS NULL OR updated_at < now() - make_interval(secs => $4)) \
       AND (NOT $5 OR id = ANY($6) OR search_keys @> ARRAY[$7]::text[])";

fn bind_filter<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    filter: &'q ListFilter,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let search = filter.search.as_ref();
    query
        .bind(&filter.saga)
        .bind(filter.state.map(InstanceState::as_str))
        .bind(&filter.owner)
        .bind(filter.idle_for.map(|d| d.as_secs_f64()))
        .bind(search.is_some())
        .bind(search.map(|s| s.ids.clone()).unwrap_or_default())
        .bind(search.and_then(|s| s.key.as_ref()).map(|k| k.trim().to_lowercase()))
}
