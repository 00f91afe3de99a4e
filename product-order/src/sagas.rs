//! Operator routes over the saga engine: list and inspect instances, retry, cancel, and mark a
//! stuck compensation done by hand. Every action names a reason and is recorded.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use platform::auth::Operator;
use platform::http::{AppJson, AppPath, AppQuery, keyset_page};
use saga::{InstanceState, InstanceSummary, InstanceView, ListFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::{ProductOrderError, Result};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/ops/sagas", get(list_sagas))
        .route("/api/ops/sagas/{id}", get(show_saga))
        .route("/api/ops/sagas/{id}/retry", post(retry_saga))
        .route("/api/ops/sagas/{id}/cancel", post(cancel_saga))
        .route("/api/ops/sagas/{id}/mark-compensated", post(mark_compensated))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
    /// Only instances that have not moved for this many minutes.
    idle_minutes: Option<u32>,
    owner: Option<String>,
    cursor: Option<Uuid>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
struct ListBody {
    items: Vec<InstanceSummary>,
    next_cursor: Option<Uuid>,
    counts: Vec<StateCount>,
}

#[derive(Debug, Serialize)]
struct StateCount {
    state: InstanceState,
    count: i64,
}

async fn list_sagas(
    State(state): State<AppState>,
    _: Operator,
    AppQuery(query): AppQuery<ListQuery>,
) -> Result<Json<ListBody>> {
    let filter_state = match query.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(InstanceState::parse(text).ok_or_else(|| {
            let mut errors = platform::FieldErrors::new();
            errors.add("state", "One of running, compensating, completed, failed, stuck.");
            ProductOrderError::Validation(errors)
        })?),
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let filter = ListFilter {
        saga: None,
        state: filter_state,
        owner: query.owner.filter(|o| !o.is_empty()),
        idle_for: query.idle_minutes.map(|m| Duration::from_secs(u64::from(m) * 60)),
        before: query.cursor,
        limit: limit + 1,
    };
    let (items, next_cursor) = keyset_page(state.saga.list(&filter).await?, limit, |i| i.id);
    let counts = state
        .saga
        .count_by_state()
        .await?
        .into_iter()
        .map(|(state, count)| StateCount { state, count })
        .collect();
    Ok(Json(ListBody {
        items,
        next_cursor,
        counts,
    }))
}

async fn show_saga(
    State(state): State<AppState>,
    _: Operator,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<InstanceView>> {
    let instance = state.saga.instance(id).await?.ok_or(ProductOrderError::NotFound)?;
    Ok(Json(instance))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    reason: String,
}

impl ActionBody {
    fn reason(&self) -> Result<&str> {
        let reason = self.reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            let mut errors = platform::FieldErrors::new();
            errors.add("reason", "Say why, in at most 500 characters.");
            return Err(ProductOrderError::Validation(errors));
        }
        Ok(reason)
    }
}

fn operator_name(claims: &contracts::Claims) -> String {
    format!("{} ({})", claims.email, claims.sub)
}

async fn retry_saga(
    State(state): State<AppState>,
    Operator(claims): Operator,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<ActionBody>,
) -> Result<Json<InstanceView>> {
    state.saga.retry(id, &operator_name(&claims), body.reason()?).await?;
    show_saga(State(state), Operator(claims), AppPath(id)).await
}

async fn cancel_saga(
    State(state): State<AppState>,
    Operator(claims): Operator,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<ActionBody>,
) -> Result<Json<InstanceView>> {
    state.saga.cancel(id, &operator_name(&claims), body.reason()?).await?;
    show_saga(State(state), Operator(claims), AppPath(id)).await
}

async fn mark_compensated(
    State(state): State<AppState>,
    Operator(claims): Operator,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<ActionBody>,
) -> Result<Json<InstanceView>> {
    state
        .saga
        .mark_compensated(id, &operator_name(&claims), body.reason()?)
        .await?;
    show_saga(State(state), Operator(claims), AppPath(id)).await
}
