//! Handlers of the operator's order pages: the list by status, an order with its history,
//! and moving it on. A move posts back to the order's address and redirects (303) to the
//! order page with a notice; a refused move shows the order again with the reason.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use axum::routing::get;
use contracts::OrderStatus;
use serde::Deserialize;

use super::OperatorSession;
use super::order_views::{OpsOrderRow, OpsOrderView, OpsOrdersView, orders_url};
use crate::app::AppState;
use crate::clients::product_order::{OpsOrderQuery, ProductOrderCallError};
use crate::error::{AppForm, WebError, parse_cursor, parse_id};
use crate::listing::{LoadMore, MoreView};
use crate::render::{PageContext, fragment, page, see_other};

/// Rows per page of the list.
const PAGE_SIZE: u32 = 25;
/// Products the low-stock panel lists at most.
const LOW_STOCK_ROWS: u32 = 10;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ops/orders", get(orders_page))
        .route("/ops/orders/{id}", get(order_page))
        .route("/ops/orders/{id}/status", get(back_to_order).post(move_order))
}

/// The list's query: `?status=&cursor=`.
#[derive(Deserialize)]
struct ListParams {
    #[serde(default)]
    status: String,
    #[serde(default)]
    cursor: String,
}

impl ListParams {
    /// The status asked for; anything unknown lists every order.
    fn status(&self) -> Option<OrderStatus> {
        self.status.trim().parse().ok()
    }
}

#[derive(Deserialize)]
struct DoneParams {
    /// The status the last move went to.
    #[serde(default)]
    done: String,
}

/// A move, as the form sends it.
#[derive(Deserialize)]
struct MoveForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    reason: String,
}

async fn orders_page(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    let status = params.status();
    let cursor = parse_cursor(&params.cursor)?;
    let query = OpsOrderQuery {
        status,
        cursor,
        limit: Some(PAGE_SIZE),
    };
    let token = &operator.access_token;
    let listing = state.product_order.ops_orders(token, &query).await?;
    let load_more = LoadMore {
        next_url: listing.next_cursor.map(|next| orders_url(status, Some(next))),
        target: "#ops-order-rows",
        oob: ctx.partial && cursor.is_some(),
    };
    if load_more.oob {
        let view = MoreView {
            rows: listing.items.iter().map(|order| OpsOrderRow { order }).collect(),
            load_more,
        };
        return Ok(fragment(StatusCode::OK, &view));
    }
    let low_stock = state.product_order.low_stock(token, None, LOW_STOCK_ROWS).await?;
    let view = OpsOrdersView::new(status, &listing.items, cursor.is_some(), load_more, &low_stock);
    Ok(page(&ctx, StatusCode::OK, "Orders · Operator", &view))
}

async fn order_page(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Path(id): Path<String>,
    Query(params): Query<DoneParams>,
) -> Result<Response, WebError> {
    let detail = state
        .product_order
        .ops_order(&operator.access_token, parse_id(&id)?)
        .await?;
    let view = OpsOrderView::new(&ctx, &operator, &detail).with_notice(&params.done);
    Ok(page(&ctx, StatusCode::OK, &view.title(), &view))
}

/// The form's address opened as a page (after logging in again, say): the order's page.
async fn back_to_order(_operator: OperatorSession, Path(id): Path<String>) -> Result<Redirect, WebError> {
    Ok(Redirect::to(&format!("/ops/orders/{}", parse_id(&id)?)))
}

async fn move_order(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Path(id): Path<String>,
    AppForm(form): AppForm<MoveForm>,
) -> Result<Response, WebError> {
    let id = parse_id(&id)?;
    let token = &operator.access_token;
    let (status, message) = match form.status.trim().parse::<OrderStatus>() {
        Err(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose one of the moves this order offers.".to_owned(),
        ),
        Ok(to) => match state.product_order.set_order_status(token, id, to, &form.reason).await {
            Ok(changed) => {
                tracing::info!(order_id = %changed.order_id, status = %changed.status, operator = %operator.user.id, "order moved through the web");
                return Ok(see_other(&ctx, &format!("/ops/orders/{id}?done={to}")));
            }
            Err(ProductOrderCallError::Refused(refusal)) => {
                let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::CONFLICT);
                (status, refusal.message_for("status"))
            }
            Err(e) => return Err(e.into()),
        },
    };
    let detail = state.product_order.ops_order(token, id).await?;
    let view = OpsOrderView::new(&ctx, &operator, &detail).with_refusal(message, form.status, form.reason);
    Ok(page(&ctx, status, &view.title(), &view))
}
