//! Orders: placed by the checkout saga; shoppers cancel theirs before shipping, operators move
//! them through their statuses. Each change goes out as an event through the outbox.

pub mod store;

use api::orders::OrderStatusBody;
use axum::Json;
use axum::extract::State;
use contracts::OrderStatus;
use platform::auth::{Caller, Operator};
use platform::http::{AppJson, AppPath, AppQuery, keyset_page};
use saga::InstanceState;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::{ProductOrderError, Result};
use store::{StatusChange, StatusChangeError};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cancel_order))
        .routes(routes!(list_orders))
        .routes(routes!(show_order))
        .routes(routes!(set_status))
}

/// The caller cancels their order before it ships; its stock goes back on sale.
#[utoipa::path(post, path = "/api/orders/{id}/cancel", tag = "orders", params(("id" = Uuid, Path, description = "The order's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order, cancelled.", body = OrderStatusBody),
        (status = 409, description = "Shipped already, or cancelled (`status_move_refused`).", body = api::ErrorBody),
    ))]
async fn cancel_order(
    State(state): State<AppState>,
    Caller(claims): Caller,
    AppPath(order_id): AppPath<Uuid>,
) -> Result<Json<OrderStatusBody>> {
    let change = StatusChange {
        order_id,
        customer: Some(claims.sub),
        to: OrderStatus::Cancelled,
        by: Some(claims.sub),
        reason: Some("cancelled by the customer"),
    };
    move_order(&state, change).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only orders of this status (empty: all).
    #[param(schema_with = status_filter)]
    status: Option<String>,
    /// The `next_cursor` of the page before.
    cursor: Option<Uuid>,
    /// 1 to 200 (default 50).
    limit: Option<i64>,
}

fn status_filter() -> utoipa::openapi::schema::Object {
    api::schema::one_of_or_blank(OrderStatus::ALL.iter().map(|s| s.as_str()))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OrderItem)]
struct OrderItem {
    #[serde(flatten)]
    order: store::OrderRow,
    /// The statuses it may move to now.
    allowed_moves: Vec<OrderStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
struct OrderList {
    items: Vec<OrderItem>,
    next_cursor: Option<Uuid>,
}

fn parse_status(text: &str) -> Result<OrderStatus> {
    text.parse().map_err(|message: String| {
        let mut errors = platform::FieldErrors::new();
        errors.add("status", message);
        ProductOrderError::Validation(errors)
    })
}

fn item(order: store::OrderRow) -> OrderItem {
    let allowed_moves = order
        .status
        .parse::<OrderStatus>()
        .map(|s| s.next().to_vec())
        .unwrap_or_default();
    OrderItem { order, allowed_moves }
}

/// Orders for operators, newest first, optionally of one status.
#[utoipa::path(get, path = "/api/ops/orders", tag = "operators", params(ListQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of orders.", body = OrderList)))]
async fn list_orders(
    State(state): State<AppState>,
    _: Operator,
    AppQuery(query): AppQuery<ListQuery>,
) -> Result<Json<OrderList>> {
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        Some(text) => Some(parse_status(text)?),
        None => None,
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let orders = store::list(&state.db, status, query.cursor, limit + 1).await?;
    let (orders, next_cursor) = keyset_page(orders, limit as usize, |o| o.id);
    Ok(Json(OrderList {
        items: orders.into_iter().map(item).collect(),
        next_cursor,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
struct OrderDetail {
    #[serde(flatten)]
    item: OrderItem,
    lines: Vec<contracts::events::OrderLine>,
    history: Vec<store::StatusChangeRow>,
}

/// An order with its lines and every status change.
#[utoipa::path(get, path = "/api/ops/orders/{id}", tag = "operators", params(("id" = Uuid, Path, description = "The order's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The order.", body = OrderDetail)))]
async fn show_order(
    State(state): State<AppState>,
    _: Operator,
    AppPath(order_id): AppPath<Uuid>,
) -> Result<Json<OrderDetail>> {
    let order = store::list_one(&state.db, order_id)
        .await?
        .ok_or(ProductOrderError::NotFound)?;
    Ok(Json(OrderDetail {
        lines: store::lines(&state.db, order_id).await?,
        history: store::history(&state.db, order_id).await?,
        item: item(order),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SetStatus {
    #[schema(value_type = OrderStatus)]
    status: String,
    /// Why, for the order's history.
    #[serde(default)]
    reason: Option<String>,
}

/// An operator moves an order along one of its allowed edges (`allowed_moves`).
#[utoipa::path(patch, path = "/api/ops/orders/{id}/status", tag = "operators", params(("id" = Uuid, Path, description = "The order's id")),
    request_body = SetStatus, security(("bearer" = [])),
    responses(
        (status = 200, description = "The order's new status.", body = OrderStatusBody),
        (status = 409, description = "Not one of its allowed moves (`status_move_refused`), or its checkout is being undone (`checkout_being_undone`).", body = api::ErrorBody),
    ))]
async fn set_status(
    State(state): State<AppState>,
    Operator(claims): Operator,
    AppPath(order_id): AppPath<Uuid>,
    AppJson(body): AppJson<SetStatus>,
) -> Result<Json<OrderStatusBody>> {
    let to = parse_status(&body.status)?;
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

/// An order whose checkout is being undone (an operator cancelled it, or a later step failed)
/// moves nowhere but to cancelled: confirming or shipping it now would leave the checkout's
/// compensation unable to cancel it. The checkout's state is share-locked first, as the
/// engine's own actions lock it, so an operator's cancel and this move never cross.
async fn refuse_while_undone(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    order_id: Uuid,
    to: OrderStatus,
) -> Result<()> {
    if to == OrderStatus::Cancelled {
        return Ok(());
    }
    let checkout = store::checkout_of(&mut *tx, order_id)
        .await?
        .ok_or(ProductOrderError::NotFound)?;
    match state.saga.lock_state(tx, checkout).await? {
        Some(saga_state @ (InstanceState::Compensating | InstanceState::Stuck)) => {
            Err(ProductOrderError::CheckoutBeingUndone { state: saga_state })
        }
        _ => Ok(()),
    }
}

async fn move_order(state: &AppState, change: StatusChange<'_>) -> Result<Json<OrderStatusBody>> {
    let (order_id, to, by, customer) = (change.order_id, change.to, change.by, change.customer);
    let mut tx = state.db.begin().await?;
    refuse_while_undone(state, &mut tx, order_id, to).await?;
    let version = store::change_status(&mut tx, change).await.map_err(|e| match e {
        StatusChangeError::NotFound => ProductOrderError::NotFound,
        StatusChangeError::NotAllowed { from, to } => ProductOrderError::StatusMoveRefused { from, to },
        StatusChangeError::Database(e) => ProductOrderError::Database(e),
    })?;
    tx.commit().await?;
    state.relay.wake();
    // Who moved it: the shopper (whose order alone the change was allowed to touch) or an
    // operator.
    let actor = if customer.is_some() { "shopper" } else { "operator" };
    tracing::info!(%order_id, status = %to, version, by = ?by, actor, "order moved");
    Ok(Json(OrderStatusBody {
        order_id,
        status: to,
        version,
    }))
}
