//! Reconciliation: product-order checks its own invariants (reservations against sagas, sagas
//! against orders, stock against its record, the outbox against time), continuously where it
//! runs saga workers and whenever an operator asks, and counts what it finds in
//! `reconciliation_mismatches{kind}`. It hands out the digest of its orders that web compares
//! with customer's (services hold no credentials for each other; web calls both with the
//! operator's token), and makes the repairs operators ask for (`repairs`).

mod checks;
mod repairs;
mod store;

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use contracts::reconciliation::{self, MismatchKind, OrderDigest, Reconciliation};
use platform::auth::Operator;
use platform::http::AppQuery;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ProductOrderError, Result};

/// How often the check runs on its own.
const EVERY: Duration = Duration::from_secs(30);
/// Repairs listed with the check.
const REPAIRS_LISTED: i64 = 20;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(reconciliation))
        .routes(routes!(order_digest))
        .routes(routes!(repairs::republish_order))
        .routes(routes!(repairs::release_reservations))
}

/// Runs the check and sets the gauge from it.
async fn check(state: &AppState) -> Result<Vec<reconciliation::Mismatch>> {
    let mismatches = checks::run(state).await?;
    state
        .mismatches
        .set(reconciliation::counts(&MismatchKind::OWN, &mismatches));
    Ok(mismatches)
}

/// Runs the check every 30 s until `shutdown`, so the gauge is current whether or not anyone
/// looks; every instance with saga workers runs it (each sees the whole shop).
pub fn spawn(state: AppState, shutdown: CancellationToken, tasks: &TaskTracker) {
    tasks.spawn(async move {
        loop {
            match check(&state).await {
                Ok(mismatches) if mismatches.is_empty() => {}
                Ok(mismatches) => tracing::warn!(
                    count = mismatches.len(),
                    first = %mismatches[0].cause,
                    "reconciliation found mismatches"
                ),
                Err(e) => tracing::warn!(error = %e, "reconciliation could not run; trying again"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(EVERY) => {}
            }
        }
    });
}

/// The check, run now, with the latest repairs.
#[utoipa::path(get, path = "/api/ops/reconciliation", tag = "operators", security(("bearer" = [])),
    responses((status = 200, description = "What the check found, and the latest repairs.", body = Reconciliation)))]
async fn reconciliation(State(state): State<AppState>, _: Operator) -> Result<Json<Reconciliation>> {
    let checked_at = Utc::now();
    let mismatches = check(&state).await?;
    Ok(Json(Reconciliation {
        checked_at,
        mismatches,
        repairs: store::latest_records(&state.db, REPAIRS_LISTED).await?,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DigestQuery {
    updated_since: DateTime<Utc>,
    /// Only orders whose last change is at least this many seconds old, by product-order's
    /// clock (their events should be applied by now); 0 (the default) to 86400.
    #[param(maximum = 86_400)]
    settled_seconds: Option<u32>,
    /// 1 to 500 (default 200).
    limit: Option<i64>,
}

/// Orders changed since `updated_since`, newest change first: id, status and version.
#[utoipa::path(get, path = "/api/ops/orders/digest", tag = "operators", params(DigestQuery), security(("bearer" = [])),
    responses((status = 200, description = "The status and version of each order changed since.", body = OrderDigest)))]
async fn order_digest(
    State(state): State<AppState>,
    _: Operator,
    AppQuery(query): AppQuery<DigestQuery>,
) -> Result<Json<OrderDigest>> {
    let settled = query.settled_seconds.unwrap_or(0);
    if settled > 86_400 {
        let mut errors = platform::FieldErrors::new();
        errors.add("settled_seconds", "At most 86400 seconds (a day).");
        return Err(ProductOrderError::Validation(errors));
    }
    let limit = query.limit.unwrap_or(200).clamp(1, 500);
    Ok(Json(OrderDigest {
        items: store::digest(&state.db, query.updated_since, settled, limit).await?,
    }))
}
