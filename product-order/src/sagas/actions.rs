//! What an operator does to one saga, each with a reason and recorded with who, when, the
//! state before and after, and what else changed:
//! - retry, cancel, mark-compensated: the engine's own actions;
//! - retry-publish: a saga running at its publish step publishes now; a completed one sends
//!   its `order.placed` again with the same event id (consumers dedupe on it, so the event is
//!   applied once), for when the broker dropped it (no queue was bound) or a consumer lost it.
//!   Any other saga has nothing to publish (a failed one's order was cancelled);
//! - reveal: the shopper's contact and delivery details, once, in this answer only;
//! - edit details: for a saga that failed validation, the corrected details, validated like
//!   the checkout form; the saga then runs again from validation.

use api::checkout::DetailsForm;
use api::sagas::{EditBody, ReasonBody, Saga};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use platform::auth::Operator;
use platform::http::{AppJson, AppPath};
use saga::{Actor, InstanceState};
use serde_json::json;
use uuid::Uuid;

use super::{checkout_input, operator_name, privacy, reason, saga_body};
use crate::app::AppState;
use crate::checkout::steps::{PUBLISH_ORDER_PLACED, VALIDATE_DETAILS};
use crate::error::{ProductOrderError, Result};
use crate::outbox;

/// Runs the step the saga stands at (or its compensation) again, now.
#[utoipa::path(post, path = "/api/ops/sagas/{id}/retry", tag = "operators", params(("id" = Uuid, Path, description = "The saga's id (the checkout's)")),
    request_body = ReasonBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "The saga as it stands after the retry was scheduled.", body = Saga),
        (status = 409, description = "Completed, or refused by its steps (`saga_action_refused`, with why).", body = api::ErrorBody),
    ))]
pub(super) async fn retry_saga(
    State(state): State<AppState>,
    Operator(claims): Operator,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<ReasonBody>,
) -> Result<Json<Saga>> {
    let operator = operator_name(&claims);
    state.saga.retry(id, actor(&operator, &body.reason)?).await?;
    Ok(Json(saga_body(&state, id).await?))
}

/// Stops a running saga and undoes what its steps did.
#[utoipa::path(post, path = "/api/ops/sagas/{id}/cancel", tag = "operators", params(("id" = Uuid, Path, description = "The saga's id (the checkout's)")),
    request_body = ReasonBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "The saga, compensating.", body = Saga),
        (status = 409, description = "Not running, or refused by its steps (`saga_action_refused`, with why).", body = api::ErrorBody),
    ))]
pub(super) async fn cancel_saga(
    State(state): State<AppState>,
    Operator(claims): Operator,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<ReasonBody>,
) -> Result<Json<Saga>> {
    let operator = operator_name(&claims);
    state.saga.cancel(id, actor(&operator, &body.reason)?).await?;
    Ok(Json(saga_body(&state, id).await?))
}

/// Ends a stuck saga as failed, the operator having undone by hand what its compensation
/// could not.
#[utoipa::path(post, path = "/api/ops/sagas/{id}/mark-compensated", tag = "operators", params(("id" = Uuid, Path, description = "The saga's id (the checkout's)")),
    request_body = ReasonBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "The saga, failed.", body = Saga),
        (status = 409, description = "Not stuck (`saga_action_refused`).", body = api::ErrorBody),
    ))]
pub(super) async fn mark_compensated(
    State(state): State<AppState>,
    Operator(claims): Operator,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<ReasonBody>,
) -> Result<Json<Saga>> {
    let operator = operator_name(&claims);
    state.saga.mark_compensated(id, actor(&operator, &body.reason)?).await?;
    Ok(Json(saga_body(&state, id).await?))
}

/// Publishes `order.placed` now: the publish step of a running saga, or the event of a
/// completed one again.
#[utoipa::path(post, path = "/api/ops/sagas/{id}/retry-publish", tag = "operators", params(("id" = Uuid, Path, description = "The saga's id (the checkout's)")),
    request_body = ReasonBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "The saga after the publish.", body = Saga),
        (status = 503, description = "RabbitMQ did not take the event.", body = api::ErrorBody),
        (status = 409, description = "Nothing to publish (`saga_action_refused`).", body = api::ErrorBody),
    ))]
pub(super) async fn retry_publish(
    State(state): State<AppState>,
    Operator(claims): Operator,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<ReasonBody>,
) -> Result<Json<Saga>> {
    let operator = operator_name(&claims);
    let actor = actor(&operator, &body.reason)?;
    let instance = state.saga.instance(id).await?.ok_or(ProductOrderError::NotFound)?;
    checkout_input(&instance)?;
    if instance.summary.state != InstanceState::Completed {
        state
            .saga
            .retry_step(id, PUBLISH_ORDER_PLACED, "retry_publish", actor)
            .await?;
        return Ok(Json(saga_body(&state, id).await?));
    }
    let mut tx = state.db.begin().await?;
    let placed = crate::orders::store::placed_for(&mut *tx, id)
        .await?
        .ok_or_else(|| saga::Error::Refused("this checkout has no order.placed event".into()))?;
    let (event, order) = (placed.event_id, placed.order_id);
    let before = outbox::events_of(&mut *tx, order).await?;
    outbox::republish(&mut tx, &state.db, &state.publisher, event)
        .await
        .map_err(|e| ProductOrderError::Unavailable(format!("RabbitMQ did not take the event: {e}")))?;
    let state_of = |events: &[api::sagas::OutboxEvent]| events.iter().find(|e| e.event_id == event).map(|e| e.state);
    let details = json!({"event_id": event, "event_before": state_of(&before), "event_after": "confirmed"});
    state
        .saga
        .record_action(&mut tx, id, "republish", actor, Some(details))
        .await?;
    tx.commit().await?;
    Ok(Json(saga_body(&state, id).await?))
}

/// The shopper's details, unmasked, in this answer only (never cached), the reading recorded.
#[utoipa::path(post, path = "/api/ops/sagas/{id}/reveal", tag = "operators", params(("id" = Uuid, Path, description = "The saga's id (the checkout's)")),
    request_body = ReasonBody, security(("bearer" = [])),
    responses((status = 200, description = "The contact and delivery details as the shopper gave them.", body = DetailsForm)))]
pub(super) async fn reveal_details(
    State(state): State<AppState>,
    Operator(claims): Operator,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<ReasonBody>,
) -> Result<Response> {
    let operator = operator_name(&claims);
    let actor = actor(&operator, &body.reason)?;
    let instance = state.saga.instance(id).await?.ok_or(ProductOrderError::NotFound)?;
    let input = checkout_input(&instance)?;
    let mut tx = state.db.begin().await?;
    state
        .saga
        .record_action(&mut tx, id, "reveal_details", actor, None)
        .await?;
    tx.commit().await?;
    let mut response = Json(input.details).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Replaces the details of a saga that failed validation and runs it again from validation.
#[utoipa::path(put, path = "/api/ops/sagas/{id}/details", tag = "operators", params(("id" = Uuid, Path, description = "The saga's id (the checkout's)")),
    request_body = EditBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "The saga, running again from validation.", body = Saga),
        (status = 409, description = "It did not fail at validation, or its details changed meanwhile (`saga_action_refused`).", body = api::ErrorBody),
    ))]
pub(super) async fn edit_details(
    State(state): State<AppState>,
    Operator(claims): Operator,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<EditBody>,
) -> Result<Json<Saga>> {
    let operator = operator_name(&claims);
    let details = DetailsForm {
        contact: body.contact,
        delivery: body.delivery,
    };
    // Every problem at once: the reason's and the details' alike.
    let mut errors = crate::checkout::details::validate(&details).err().unwrap_or_default();
    if let Err(ProductOrderError::Validation(reason_errors)) = reason(&body.reason) {
        errors.0.extend(reason_errors.0);
    }
    if !errors.is_empty() {
        return Err(ProductOrderError::Validation(errors));
    }
    let instance = state.saga.instance(id).await?.ok_or(ProductOrderError::NotFound)?;
    let mut input = checkout_input(&instance)?;
    let changed = privacy::changed_fields(&input.details, &details);
    input.details = details;
    let new_input = serde_json::to_value(&input).map_err(anyhow::Error::from)?;
    state
        .saga
        .retry_with_input(
            id,
            VALIDATE_DETAILS,
            &instance.input,
            new_input,
            actor(&operator, &body.reason)?,
            json!({ "changed": changed }),
        )
        .await?;
    Ok(Json(saga_body(&state, id).await?))
}

fn actor<'a>(operator: &'a str, text: &'a str) -> Result<Actor<'a>> {
    Ok(Actor {
        operator,
        reason: reason(text)?,
    })
}
