//! Orders: placed by the checkout saga; shoppers cancel theirs before shipping, operators move
//! them through their statuses. Each change goes out as an event through the outbox.

pub mod store;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::{patch, post};
use contracts::OrderStatus;
use platform::auth::{Caller, Operator};
use platform::http::{AppJson, AppPath};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::{ProductOrderError, Result};
use store::{StatusChange, StatusChangeError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/orders/{id}/cancel", post(cancel_order))
        .route("/api/ops/orders/{id}/status", patch(set_status))
}

#[derive(Debug, Serialize)]
struct StatusBody {
    order_id: Uuid,
    status: OrderStatus,
    version: i64,
}

/// The caller cancels their order before it ships; its stock goes back on sale.
async fn cancel_order(
    State(state): State<AppState>,
    Caller(claims): Caller,
    AppPath(order_id): AppPath<Uuid>,
) -> Result<Json<StatusBody>> {
    let change = StatusChange {
        order_id,
        customer: Some(claims.sub),
        to: OrderStatus::Cancelled,
        by: Some(claims.sub),
        reason: Some("cancelled by the customer"),
    };
    move_order(&state, change).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetStatus {
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

/// An operator moves an order along one of its allowed edges.
async fn set_status(
    State(state): State<AppState>,
    Operator(claims): Operator,
    AppPath(order_id): AppPath<Uuid>,
    AppJson(body): AppJson<SetStatus>,
) -> Result<Json<StatusBody>> {
    let to: OrderStatus = body.status.parse().map_err(|message: String| {
        let mut errors = platform::FieldErrors::new();
        errors.add("status", message);
        ProductOrderError::Validation(errors)
    })?;
    let reason = body.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let change = StatusChange {
        order_id,
        customer: None,
        to,
        by: Some(claims.sub),
        reason,
    };
    move_order(&state, change).await
}

async fn move_order(state: &AppState, change: StatusChange<'_>) -> Result<Json<StatusBody>> {
    let (order_id, to) = (change.order_id, change.to);
    let mut tx = state.db.begin().await?;
    let version = store::change_status(&mut tx, change).await.map_err(|e| match e {
        StatusChangeError::NotFound => ProductOrderError::NotFound,
        StatusChangeError::NotAllowed { from, to } => ProductOrderError::StatusMoveRefused { from, to },
        StatusChangeError::Database(e) => ProductOrderError::Database(e),
    })?;
    tx.commit().await?;
    state.relay.wake();
    Ok(Json(StatusBody {
        order_id,
        status: to,
        version,
    }))
}
