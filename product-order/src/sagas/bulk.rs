//! Bulk retry: every saga matching a filter, counted and listed first (a dry run, the
//! default), then retried at a rate. The run answers at once: each saga's retry is scheduled
//! (and recorded) with its own due time, `k / per_second` seconds from now, so at most
//! `per_second` of them start in any second, by whichever workers are free, and a restart in
//! between loses none.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use platform::auth::Operator;
use platform::http::AppJson;
use saga::{Actor, InstanceState, InstanceSummary};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{FilterQuery, REASON_MAX_CHARS, operator_name, reason};
use crate::app::AppState;
use crate::error::{ProductOrderError, Result};

/// The most sagas one bulk retry takes; run it again for the rest.
const MAX_PER_RUN: usize = 1000;

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct BulkBody {
    /// The state of the sagas to retry (completed ones have nothing to retry).
    #[serde(default)]
    #[schema(schema_with = retryable_state, required = true)]
    state: Option<String>,
    /// Only sagas that have not moved for this many minutes (at most a year's).
    #[serde(default, deserialize_with = "platform::whole_number::optional")]
    #[schema(maximum = 525_600)]
    idle_minutes: Option<u32>,
    /// A checkout id, an order id or an email address.
    #[schema(
        max_length = 254,
        pattern = "^\\s*([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[^@]*@.*)?\\s*$"
    )]
    q: Option<String>,
    /// Only the sagas started by this owner (a shopper's id).
    owner: Option<String>,
    /// List what would be retried and change nothing (the default).
    #[serde(default = "yes")]
    dry_run: bool,
    /// Why (needed unless a dry run; at most 500 characters).
    #[serde(default)]
    #[schema(max_length = 500)]
    reason: String,
    /// Retries started per second, 1 to 50 (default 5).
    #[serde(default = "default_rate", deserialize_with = "platform::whole_number::required")]
    #[schema(minimum = 1, maximum = 50)]
    per_second: u32,
    /// At most this many sagas (newest first), 1 to 1000 (default 1000).
    #[serde(default, deserialize_with = "platform::whole_number::optional")]
    #[schema(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// The states a bulk retry takes: any but completed.
fn retryable_state() -> utoipa::openapi::schema::Object {
    let states = InstanceState::ALL
        .into_iter()
        .filter(|s| *s != InstanceState::Completed);
    platform::openapi::one_of(states.map(InstanceState::as_str))
}

fn yes() -> bool {
    true
}

fn default_rate() -> u32 {
    5
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct BulkAnswer {
    /// How many sagas match the filter now.
    matching: i64,
    dry_run: bool,
    per_second: u32,
    /// The sagas taken (newest first): those a run would retry, or did schedule.
    items: Vec<BulkItem>,
    /// Sagas the engine refused to retry (they moved meanwhile), with why.
    refused: Vec<Refusal>,
}

#[derive(Debug, Serialize, ToSchema)]
struct BulkItem {
    #[serde(flatten)]
    saga: InstanceSummary,
    /// When its retry starts.
    due_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
struct Refusal {
    id: Uuid,
    error: String,
}

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
                        refused.push(Refusal { id: saga.id, error })
                    }
                    saga::Error::NotFound => refused.push(Refusal {
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
