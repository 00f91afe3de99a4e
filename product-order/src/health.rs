//! Product-order's figures for the operators' health page: checkouts per minute and how many
//! failed and why, the saga queue's age, sagas stuck or idle in a step, the outbox backlog.
//!
//! The queue age comes from the engine's sampled metric (where this instance runs saga
//! workers). The rest is read from the database (the sagas' figures through the engine's own
//! views, `saga::views`): the engine's counters count since this process started and in this
//! process only, so they cannot say "the last 15 minutes" for a shop of several instances.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use platform::FieldErrors;
use platform::auth::Operator;
use platform::http::AppQuery;
use saga::views::{FailureReason, WaitingAt};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ProductOrderError, Result};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

/// The checkout saga's name in the engine.
const CHECKOUT: &str = "checkout";
/// How many failure reasons are shown.
const TOP_REASONS: usize = 5;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HealthQuery {
    /// Recent figures are taken over this many minutes, 1 to 1440 (default 15).
    #[param(minimum = 1, maximum = 1440)]
    window_minutes: Option<i32>,
    /// A running saga that has not moved for this many minutes counts as idle, 1 to 1440
    /// (default 5).
    #[param(minimum = 1, maximum = 1440)]
    stuck_minutes: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProductOrderHealth)]
struct Health {
    #[schema(value_type = String)]
    service: &'static str,
    at: DateTime<Utc>,
    window_minutes: i32,
    stuck_minutes: i32,
    checkouts: Checkouts,
    sagas: Sagas,
    outbox: Outbox,
}

/// Checkouts started within the window, and how they stand now.
#[derive(Debug, Serialize, ToSchema)]
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

#[derive(Debug, Serialize, ToSchema)]
struct Sagas {
    /// How long the oldest due saga job has waited for a worker (sampled every few seconds);
    /// None where this instance runs no saga workers, so samples nothing.
    queue_age_seconds: Option<f64>,
    /// Sagas whose compensation failed: they wait for an operator.
    stuck: i64,
    /// Running or compensating sagas that have not moved for `stuck_minutes`.
    idle: i64,
    /// Where those stuck and idle sagas stand.
    steps: Vec<WaitingAt>,
}

/// Events written but not yet published.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
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

/// Product-order's figures for the health page.
#[utoipa::path(get, path = "/api/ops/health", tag = "operators", params(HealthQuery), security(("bearer" = [])),
    responses((status = 200, description = "Recent checkouts, waiting sagas and the outbox backlog.", body = Health)))]
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
        checkouts(&state.saga, window),
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

fn duration_of(minutes: i32) -> Duration {
    Duration::from_secs(60 * u64::from(minutes.unsigned_abs()))
}

async fn checkouts(engine: &saga::Engine, window: i32) -> Result<Checkouts> {
    let recent = engine.recent(CHECKOUT, duration_of(window), TOP_REASONS).await?;
    let ended = recent.completed + recent.failed + recent.stuck;
    Ok(Checkouts {
        started: recent.started,
        per_minute: recent.started as f64 / f64::from(window),
        completed: recent.completed,
        failed: recent.failed,
        stuck: recent.stuck,
        in_progress: recent.started - ended,
        failed_share: (ended > 0).then(|| (recent.failed + recent.stuck) as f64 / ended as f64),
        failure_reasons: recent.failure_reasons,
    })
}

async fn sagas(state: &AppState, stuck_minutes: i32) -> Result<Sagas> {
    let waiting = state.saga.waiting(duration_of(stuck_minutes)).await?;
    Ok(Sagas {
        queue_age_seconds: state.saga_workers.then(|| state.saga.metrics().queue_age_seconds.get()),
        stuck: waiting.stuck,
        idle: waiting.idle,
        steps: waiting.steps,
    })
}

async fn outbox(db: &PgPool) -> Result<Outbox> {
    Ok(sqlx::query_as(
        "SELECT count(*) AS unpublished, extract(epoch FROM now() - min(created_at))::float8 AS oldest_age_seconds \
         FROM outbox WHERE published_at IS NULL",
    )
    .fetch_one(db)
    .await?)
}
