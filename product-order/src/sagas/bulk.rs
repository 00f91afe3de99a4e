//! Bulk retry: every saga matching a filter, counted and listed first (a dry run, the
//! default), then retried at a rate. The run answers at once: each saga's retry is scheduled
//! (and recorded) with its own due time, `k / per_second` seconds from now, so at most
//! `per_second` of them start in any second, by whichever workers are free, and a restart in
//! between loses none.

use std::time::Duration;

use api::sagas::{BulkAnswer, BulkBody, BulkItem, BulkRefusal, REASON_MAX_CHARS};
use axum::Json;
use axum::extract::State;
use chrono::Utc;
use platform::auth::Operator;
use platform::http::AppJson;
use saga::{Actor, InstanceState};
use serde_json::json;

use super::{FilterQuery, operator_name, reason};
use crate::app::AppState;
use crate::error::{ProductOrderError, Result};

/// The most sagas one bulk retry takes; run it again for the rest.
const MAX_PER_RUN: usize = 1000;

/// Retries every saga matching the filter (whose `state` is needed), at most `per_second` a
/// second; a dry run (the default) lists them and changes nothing.
#[utoipa::path(post, path = "/api/ops/sagas/bulk-retry", tag = "operators", request_body = BulkBody, security(("bearer" = [])),
    responses((status = 200, description = "The sagas taken, each with when its retry starts, and those refused.", body = BulkAnswer)))]
pub(super) async fn bulk_retry(
    State(state): State<AppState>,
    Operator(claims): Operator,
    AppJson(body): AppJson<BulkBody>,
) -> Result<Json<BulkAnswer>> {
    let mut errors = platform::FieldErrors::new();
    let selection = FilterQuery {
        state: body.state,
        idle_minutes: body.idle_minutes,
        q: body.q,
        owner: body.owner,
    };
    let retryable = selection
        .state
        .as_deref()
        .and_then(InstanceState::parse)
        .is_some_and(|s| s != InstanceState::Completed);
    if !retryable {
        errors.add(
            "state",
            "Choose the state of the sagas to retry: running, compensating, failed or stuck.",
        );
    }
    if !(1..=50).contains(&body.per_second) {
        errors.add("per_second", "Between 1 and 50 retries a second.");
    }
    let limit = body.limit.unwrap_or(MAX_PER_RUN);
    if !(1..=MAX_PER_RUN).contains(&limit) {
        errors.add("limit", format!("Between 1 and {MAX_PER_RUN} sagas at a time."));
    }
    // A dry run needs no reason, yet one given is held to the same length.
    let reason_checked = !body.dry_run || body.reason.chars().count() > REASON_MAX_CHARS;
    if reason_checked && let Err(ProductOrderError::Validation(more)) = reason(&body.reason) {
        errors.0.extend(more.0);
    }
    if !errors.is_empty() {
        return Err(ProductOrderError::Validation(errors));
    }
    let filter = saga::ListFilter {
        limit,
        ..selection.to_filter(&state).await?
    };
    let matching = state.saga.count_matching(&filter).await?;
    let sagas = state.saga.list(&filter).await?;
    let now = Utc::now();
    let delay_of = |k: usize| Duration::from_secs_f64(k as f64 / f64::from(body.per_second));
    let mut items = Vec::with_capacity(sagas.len());
    let mut refused = Vec::new();
    let operator = operator_name(&claims);
    for (k, saga) in sagas.into_iter().enumerate() {
        let delay = delay_of(k);
        let due_at = now + chrono::Duration::from_std(delay).unwrap_or_default();
        if !body.dry_run {
            let actor = Actor {
                operator: &operator,
                reason: body.reason.trim(),
            };
            let details = json!({"bulk": selection, "per_second": body.per_second, "due_at": due_at});
            if let Err(e) = state.saga.retry_after(saga.id, delay, actor, details).await {
                match e {
                    saga::Error::Refused(error) | saga::Error::Corrupt(error) => {
                        refused.push(BulkRefusal { id: saga.id, error })
                    }
                    saga::Error::NotFound => refused.push(BulkRefusal {
                        id: saga.id,
                        error: e.to_string(),
                    }),
                    other => return Err(other.into()),
                }
                continue;
            }
        }
        items.push(BulkItem { saga, due_at });
    }
    if !body.dry_run {
        tracing::info!(operator = %claims.sub, scheduled = items.len(), refused = refused.len(), per_second = body.per_second, "bulk retry");
    }
    Ok(Json(BulkAnswer {
        matching,
        dry_run: body.dry_run,
        per_second: body.per_second,
        items,
        refused,
    }))
}
