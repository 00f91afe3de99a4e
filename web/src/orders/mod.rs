//! The shopper's orders: the list (/orders), with the orders still on their way to the
//! history at customer; an order (/orders/{id}), whose status part htmx polls while the
//! order can move; and cancelling an order before it ships.

mod cancel;
mod pending;
pub mod views;

use api::checkout::CheckoutSummary;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::clients::customer::{CustomerCallError, OrderPage};

use crate::clients::product_order::ProductOrderCallError;
use crate::error::{WebError, call_error, parse_cursor, parse_id};
use crate::listing::{LoadMore, MoreView};
use crate::render::{PageContext, fragment, page};
use crate::session::SignedIn;
use pending::{checkout_of, pending_orders};
use views::{OrderRow, OrderStatusView, OrderView, OrdersView, ProcessingView, STATUS_PART};

/// Orders per page of the list.
const PAGE_SIZE: u32 = 20;
/// The list's address.
const ORDERS_PATH: &str = "/orders";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(ORDERS_PATH, get(orders_page))
        .route("/orders/{id}", get(order_page))
        .route("/orders/{id}/cancel", post(cancel::cancel_order))
}

#[derive(Deserialize)]
struct ListParams {
    /// Where the page starts: the last order of the page before.
    #[serde(default)]
    cursor: String,
}

#[derive(Deserialize)]
struct OrderParams {
    /// What the last form did: `cancelled`.
    #[serde(default)]
    done: String,
}

/// /orders: the shopper's orders, newest first. The first page starts with the orders the
/// history does not have yet; a later page (htmx's "Load more") is only rows.
async fn orders_page(
    State(state): State<AppState>,
    ctx: PageContext,
    shopper: SignedIn,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    let cursor = parse_cursor(&params.cursor)?;
    let token = &shopper.access_token;
    let (history, checkouts) = match cursor {
        None => tokio::join!(
            state.customer.orders(token, None, PAGE_SIZE),
            recent_checkouts(&state, token)
        ),
        Some(_) => (state.customer.orders(token, cursor, PAGE_SIZE).await, Vec::new()),
    };
    let history: OrderPage = history.map_err(|e| call_error(e, ORDERS_PATH))?;
    let pending = pending_orders(&history, &checkouts);
    let load_more = LoadMore {
        next_url: history.next_cursor.map(|next| format!("{ORDERS_PATH}?cursor={next}")),
        target: "#order-rows",
        oob: ctx.partial && cursor.is_some(),
    };
    if load_more.oob {
        let view = MoreView {
            rows: history.items.iter().map(|order| OrderRow { order }).collect(),
            load_more,
        };
        return Ok(fragment(StatusCode::OK, &view));
    }
    let view = OrdersView {
        pending: &pending,
        orders: &history.items,
        continued: cursor.is_some(),
        load_more,
    };
    Ok(page(&ctx, StatusCode::OK, "My orders", &view))
}

/// The shopper's recent checkouts; none when product-order cannot say (the history shows
/// without the orders on their way).
async fn recent_checkouts(state: &AppState, token: &str) -> Vec<CheckoutSummary> {
    state.product_order.recent_checkouts(token).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "no recent checkouts for the order list");
        Vec::new()
    })
}

/// /orders/{id}: the order, or for htmx's poll of `#order-status` only that part. An order
/// placed but not in the history yet shows as processing (polling until it arrives); any
/// other order the history does not know is not found.
async fn order_page(
    State(state): State<AppState>,
    ctx: PageContext,
    shopper: SignedIn,
    Path(id): Path<String>,
    Query(params): Query<OrderParams>,
) -> Result<Response, WebError> {
    let id = parse_id(&id)?;
    let path = format!("/orders/{id}");
    let order = match state.customer.order(&shopper.access_token, id).await {
        Ok(order) => order,
        Err(CustomerCallError::Unavailable(cause)) if ctx.partial => return Ok(skip_poll(&cause, id)),
        Err(e) => return Err(call_error(e, &path)),
    };
    match order {
        Some(order) if ctx.targets(STATUS_PART) => Ok(fragment(
            StatusCode::OK,
            &OrderStatusView::new(&ctx, &order, &params.done),
        )),
        Some(order) => {
            let view = OrderView::new(&ctx, &order, &params.done);
            Ok(page(&ctx, StatusCode::OK, &view.title(), &view))
        }
        None if ctx.targets(STATUS_PART) => Ok(skip_poll("the history no longer has the order", id)),
        None => processing_page(&state, &ctx, &shopper, id, &path).await,
    }
}

/// The order the history does not have yet, when one of the shopper's recent checkouts
/// placed it.
async fn processing_page(
    state: &AppState,
    ctx: &PageContext,
    shopper: &SignedIn,
    id: Uuid,
    path: &str,
) -> Result<Response, WebError> {
    let checkouts = match state.product_order.recent_checkouts(&shopper.access_token).await {
        Ok(checkouts) => checkouts,
        Err(ProductOrderCallError::Unavailable(cause)) if ctx.partial => return Ok(skip_poll(&cause, id)),
        Err(e) => return Err(call_error(e, path)),
    };
    let checkout = checkout_of(id, &checkouts).ok_or(WebError::NotFound)?;
    let view = ProcessingView {
        order_id: id,
        checkout_id: checkout.checkout_id,
    };
    Ok(page(ctx, StatusCode::OK, "Processing your order", &view))
}

/// The answer to a poll that has nothing new: htmx swaps nothing on 204 and polls again.
fn skip_poll(cause: &str, order_id: Uuid) -> Response {
    tracing::warn!(%cause, %order_id, "no order status for a poll");
    StatusCode::NO_CONTENT.into_response()
}
