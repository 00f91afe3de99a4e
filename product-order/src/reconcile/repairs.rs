//! The repairs operators make from what reconciliation finds, each with a reason and recorded
//! (who, when, why, what it changed) in the transaction that makes it:
//! - republish: an order's events sent again with their own ids, in version order; consumers
//!   apply each event once and in version order, so a consumer that missed some catches up and
//!   one that had them changes nothing;
//! - release: the stock a checkout whose saga has ended still holds goes back on sale.

use api::sagas::ReasonBody;
use axum::Json;
use axum::extract::State;
use contracts::reconciliation::{Repair, RepairRecord};
use platform::auth::Operator;
use platform::http::{AppJson, AppPath};
use serde_json::json;
use uuid::Uuid;

use super::checks::{is_live, saga_states};
use super::store::{self, NewRecord};
use crate::app::AppState;
use crate::error::{ProductOrderError, Result};
use crate::outbox;
use crate::reservations::{self, ReservationState};
use crate::sagas::{operator_name, reason};

/// Sends the order's events again, oldest version first; the order stays locked meanwhile,
/// so no status change slips in between.
#[utoipa::path(post, path = "/api/ops/orders/{id}/republish", tag = "operators", params(("id" = Uuid, Path, description = "The order's id")),
    request_body = ReasonBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "The repair as recorded.", body = RepairRecord),
        (status = 409, description = "Nothing to send (`repair_refused`, with why).", body = api::ErrorBody),
        (status = 503, description = "RabbitMQ did not take an event.", body = api::ErrorBody),
    ))]
pub(super) async fn republish_order(
    State(state): State<AppState>,
    Operator(claims): Operator,
    AppPath(order_id): AppPath<Uuid>,
    AppJson(body): AppJson<ReasonBody>,
) -> Result<Json<RepairRecord>> {
    let reason = reason(&body.reason)?;
    let mut tx = state.db.begin().await?;
    let (checkout_id, version) = store::lock_order(&mut tx, order_id)
        .await?
        .ok_or(ProductOrderError::NotFound)?;
    let events = store::events_of_order(&mut tx, order_id).await?;
    if events.is_empty() {
        return Err(ProductOrderError::RepairRefused(
            "This order has no events in the outbox to send.".into(),
        ));
    }
    for event in &events {
        outbox::republish(&mut tx, &state.db, &state.publisher, event.event_id)
            .await
            .map_err(|e| ProductOrderError::Unavailable(format!("RabbitMQ did not take the event: {e}")))?;
    }
    let record = NewRecord {
        repair: Repair::Republish,
        operator: &operator_name(&claims),
        reason,
        order_id: Some(order_id),
        checkout_id: Some(checkout_id),
        details: json!({"order_version": version, "events_sent": events}),
    };
    let record = store::record(&mut tx, record).await?;
    tx.commit().await?;
    tracing::info!(%order_id, events = events.len(), operator = %claims.sub, reason, "order's events sent again");
    Ok(Json(record))
}

/// Gives back what a checkout holds once its saga has ended (or when it has none), unless its
/// order stands: that order ships the stock.
#[utoipa::path(post, path = "/api/ops/reservations/{checkout_id}/release", tag = "operators",
    params(("checkout_id" = Uuid, Path, description = "The checkout's id")),
    request_body = ReasonBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "The repair as recorded.", body = RepairRecord),
        (status = 409, description = "It holds nothing, its saga is live, or its order ships the stock (`repair_refused`, with why).", body = api::ErrorBody),
    ))]
pub(super) async fn release_reservations(
    State(state): State<AppState>,
    Operator(claims): Operator,
    AppPath(checkout_id): AppPath<Uuid>,
    AppJson(body): AppJson<ReasonBody>,
) -> Result<Json<RepairRecord>> {
    let reason = reason(&body.reason)?;
    let refused = |why: String| Err(ProductOrderError::RepairRefused(why));
    let mut tx = state.db.begin().await?;
    // Locked before the saga is read: a saga started again afterwards waits for these rows
    // before it reserves, then finds them released.
    let held = store::lock_held(&mut tx, checkout_id).await?;
    if held.is_empty() {
        return refused(format!("Checkout {checkout_id} holds no stock."));
    }
    let saga = saga_states(&state.saga, &[checkout_id]).await?.remove(&checkout_id);
    if let Some(saga) = saga.filter(|s| is_live(*s)) {
        return refused(format!(
            "The checkout's saga is {}: it settles its reservations itself.",
            saga.as_str()
        ));
    }
    if let Some(holding) = store::holdings(&mut *tx, &[checkout_id]).await?.pop()
        && let Some((order, status)) = holding.standing_order
    {
        return refused(format!(
            "Its order {order} is {status} and ships this stock; releasing it would sell it twice."
        ));
    }
    reservations::release(&mut tx, checkout_id, &[ReservationState::Held]).await?;
    let released: Vec<_> = held
        .iter()
        .map(|(product_id, quantity)| json!({"product_id": product_id, "quantity": quantity}))
        .collect();
    let record = NewRecord {
        repair: Repair::Release,
        operator: &operator_name(&claims),
        reason,
        order_id: None,
        checkout_id: Some(checkout_id),
        details: json!({"saga_state": saga.map(|s| s.as_str()), "released": released}),
    };
    let record = store::record(&mut tx, record).await?;
    tx.commit().await?;
    tracing::info!(%checkout_id, operator = %claims.sub, reason, "reservations released by hand");
    Ok(Json(record))
}
