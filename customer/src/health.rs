//! Customer's figures for the operators' health page: dead letters waiting, and how far
//! behind product-order the order history runs (event lag: when customer applied an event
//! minus when it happened at product-order, both clocks assumed in step). Read from the
//! database, since every customer instance applies events and its metrics see its own only.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use platform::FieldErrors;
use platform::auth::Operator;
use platform::http::AppQuery;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::dead_letters::store as dead_letters;
use crate::error::{CustomerError, Result};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

/// The window recent figures are taken over, in minutes, when none is asked for.
pub const DEFAULT_WINDOW_MINUTES: i32 = 15;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HealthQuery {
    /// 1 to 1440 (default 15).
    #[param(minimum = 1, maximum = 1440)]
    window_minutes: Option<i32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Health {
    #[schema(value_type = String)]
    service: &'static str,
    at: DateTime<Utc>,
    window_minutes: i32,
    dead_letters: DeadLetters,
    events: EventFigures,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DeadLetters {
    /// Open: waiting for a replay or a discard.
    open: i64,
    oldest_at: Option<DateTime<Utc>>,
}

/// Events applied within the window and their lag, in milliseconds.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
struct EventFigures {
    applied: i64,
    per_minute: f64,
    lag_p50_ms: Option<f64>,
    lag_p99_ms: Option<f64>,
    lag_max_ms: Option<f64>,
    /// The lag of the event applied last.
    lag_latest_ms: Option<f64>,
    last_applied_at: Option<DateTime<Utc>>,
}

/// Dead letters waiting and how far behind the order history runs.
#[utoipa::path(get, path = "/api/ops/health", tag = "operators", params(HealthQuery), security(("bearer" = [])),
    responses((status = 200, description = "Customer's figures over the window.", body = Health)))]
async fn health(
    State(state): State<AppState>,
    _: Operator,
    AppQuery(query): AppQuery<HealthQuery>,
) -> Result<Json<Health>> {
    let window = query.window_minutes.unwrap_or(DEFAULT_WINDOW_MINUTES);
    if !(1..=1440).contains(&window) {
        let mut errors = FieldErrors::new();
        errors.add("window_minutes", "Between 1 and 1440 minutes.");
        return Err(CustomerError::Validation(errors));
    }
    let (open, oldest_at) = dead_letters::open_summary(&state.db).await?;
    let events = sqlx::query_as::<_, EventFigures>(
        "WITH recent AS ( \
             SELECT applied_at, extract(epoch FROM applied_at - occurred_at)::float8 * 1000 AS lag \
             FROM applied_events WHERE applied_at >= now() - make_interval(mins => $1)) \
         SELECT count(*) AS applied, count(*)::float8 / $1 AS per_minute, \
                percentile_cont(0.5) WITHIN GROUP (ORDER BY lag) AS lag_p50_ms, \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY lag) AS lag_p99_ms, \
                max(lag) AS lag_max_ms, \
                (SELECT lag FROM recent WHERE lag IS NOT NULL ORDER BY applied_at DESC LIMIT 1) AS lag_latest_ms, \
                max(applied_at) AS last_applied_at \
         FROM recent",
    )
    .bind(window)
    .fetch_one(&state.db)
    .await?;
    Ok(Json(Health {
        service: "customer",
        at: Utc::now(),
        window_minutes: window,
        dead_letters: DeadLetters { open, oldest_at },
        events,
    }))
}
