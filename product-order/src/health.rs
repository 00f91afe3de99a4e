//! Product-order's figures for the operators' health page: checkouts per minute and how many
//! failed and why, the saga queue's age, sagas stuck or idle in a step, the outbox backlog.
//!
//! The queue age comes from the engine's sampled metric (where this instance runs saga
//! workers). The rest is read from the database: the engine's counters count since this
//! process started and in this process only, so they cannot say "the last 15 minutes" for a
//! shop of several instances. (The saga queries read the engine's tables, read-only; they
//! belong in `saga::views` once that grows aggregate views.)

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use platform::FieldErrors;
use platform::auth::Operator;
use platform::http::AppQuery;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};

use crate::app::AppState;
use crate::error::{ProductOrderError, Result};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/ops/health", get(health))
}

/// The checkout saga's name in the engine.
const CHECKOUT: &str = "checkout";
/// How many failure reasons are shown.
const TOP_REASONS: i64 = 5;

#[derive(Debug, Deserialize)]
struct HealthQuery {
    /// Recent figures are taken over this many minutes (default 15).
    window_minutes: Option<i32>,
    /// A running saga that has not moved for this many minutes counts as idle (default 5).
    stuck_minutes: Option<i32>,
}

#[derive(Debug, Serialize)]
struct Health {
    service: &'static str,
    at: DateTime<Utc>,
    window_minutes: i32,
    stuck_minutes: i32,
    checkouts: Checkouts,
    sagas: Sagas,
    outbox: Outbox,
}

/// Checkouts started within the window, and how they stand now.
#[derive(Debug, Serialize)]
struct Checkouts {
    started: i64,
    per_minute: f64,
    completed: i64,
    failed: i64,
    stuck: i64,
    in_progress: i64,
    /// Failed (or stuck) among those that ended; None when none ended.
    failed_share: Option<f64>,
    failure_reasons: Vec<FailureReason>,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct FailureReason {
    reason: String,
    count: i64,
}

#[derive(Debug, Serialize)]
struct Sagas {
    /// How long the oldest due saga job has waited for a worker (sampled every few seconds);
    /// None where this instance runs no saga workers, so samples nothing.
    queue_age_seconds: Option<f64>,
    /// Sagas whose compensation failed: they wait for an operator.
    stuck: i64,
    /// Running or compensating sagas that have not moved for `stuck_minutes`.
    idle: i64,
    /// Where those stuck and idle sagas stand.
    steps: Vec<StepCount>,
}

#[derive(Debug, Serialize)]
struct StepCount {
    saga: String,
    step: String,
    phase: String,
    count: i64,
}

/// Events written but not yet published.
#[derive(Debug, Serialize, sqlx::FromRow)]
struct Outbox {
    unpublished: i64,
    oldest_age_seconds: Option<f64>,
}

fn minutes(value: Option<i32>, default: i32, field: &str, errors: &mut FieldErrors) -> i32 {
    let minutes = value.unwrap_or(default);
    if !(1..=1440).contains(&minutes) {
        errors.add(field, "Between 1 and 1440 minutes.");
    }
    minutes
}

async fn health(
    State(state): State<AppState>,
    _: Operator,
    AppQuery(query): AppQuery<HealthQuery>,
) -> Result<Json<Health>> {
    let mut errors = FieldErrors::new();
    let window = minutes(query.window_minutes, 15, "window_minutes", &mut errors);
    let stuck_minutes = minutes(query.stuck_minutes, 5, "stuck_minutes", &mut errors);
    if !errors.is_empty() {
        return Err(ProductOrderError::Validation(errors));
    }
    let (checkouts, sagas, outbox) = tokio::try_join!(
        checkouts(&state.db, window),
        sagas(&state, stuck_minutes),
        outbox(&state.db),
    )?;
    Ok(Json(Health {
        service: "product-order",
        at: Utc::now(),
        window_minutes: window,
        stuck_minutes,
        checkouts,
        sagas,
        outbox,
    }))
}

async fn checkouts(db: &PgPool, window: i32) -> sqlx::Result<Checkouts> {
    let row = sqlx::query(
        "SELECT count(*) AS started, \
                count(*) FILTER (WHERE state = 'completed') AS completed, \
                count(*) FILTER (WHERE state = 'failed') AS failed, \
                count(*) FILTER (WHERE state = 'stuck') AS stuck \
         FROM saga.instances WHERE saga = $1 AND created_at >= now() - make_interval(mins => $2)",
    )
    .bind(CHECKOUT)
    .bind(window)
    .fetch_one(db)
    .await?;
    let failure_reasons = sqlx::query_as::<_, FailureReason>(
        "SELECT coalesce(failure, 'no reason recorded') AS reason, count(*) AS count FROM saga.instances \
         WHERE saga = $1 AND state IN ('failed', 'stuck') AND created_at >= now() - make_interval(mins => $2) \
         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $3",
    )
    .bind(CHECKOUT)
    .bind(window)
    .bind(TOP_REASONS)
    .fetch_all(db)
    .await?;
    let (started, completed, failed, stuck): (i64, i64, i64, i64) = (
        row.get("started"),
        row.get("completed"),
        row.get("failed"),
        row.get("stuck"),
    );
    let ended = completed + failed + stuck;
    Ok(Checkouts {
        started,
        per_minute: started as f64 / f64::from(window),
        completed,
        failed,
        stuck,
        in_progress: started - ended,
        failed_share: (ended > 0).then(|| (failed + stuck) as f64 / ended as f64),
        failure_reasons,
    })
}

async fn sagas(state: &AppState, stuck_minutes: i32) -> sqlx::Result<Sagas> {
    let rows = sqlx::query(
        "SELECT saga, step, phase, state = 'stuck' AS stuck, count(*) AS count FROM saga.instances \
         WHERE state = 'stuck' \
            OR (state IN ('running', 'compensating') AND updated_at < now() - make_interval(mins => $1)) \
         GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC",
    )
    .bind(stuck_minutes)
    .fetch_all(&state.db)
    .await?;
    let (mut stuck, mut idle) = (0, 0);
    let mut steps: Vec<StepCount> = Vec::new();
    for row in rows {
        let (saga, index, phase, count): (String, i32, String, i64) =
            (row.get("saga"), row.get("step"), row.get("phase"), row.get("count"));
        if row.get::<bool, _>("stuck") {
            stuck += count;
        } else {
            idle += count;
        }
        let step = state
            .saga
            .definition(&saga)
            .ok()
            .and_then(|definition| {
                definition
                    .steps()
                    .get(usize::try_from(index).ok()?)
                    .map(|s| s.name().to_owned())
            })
            .unwrap_or_else(|| format!("step {index}"));
        match steps
            .iter_mut()
            .find(|s| s.saga == saga && s.step == step && s.phase == phase)
        {
            Some(same) => same.count += count,
            None => steps.push(StepCount {
                saga,
                step,
                phase,
                count,
            }),
        }
    }
    Ok(Sagas {
        queue_age_seconds: state.saga_workers.then(|| state.saga.metrics().queue_age_seconds.get()),
        stuck,
        idle,
        steps,
    })
}

async fn outbox(db: &PgPool) -> sqlx::Result<Outbox> {
    sqlx::query_as(
        "SELECT count(*) AS unpublished, extract(epoch FROM now() - min(created_at))::float8 AS oldest_age_seconds \
         FROM outbox WHERE published_at IS NULL",
    )
    .fetch_one(db)
    .await
}
