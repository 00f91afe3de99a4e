//! Order history: a read model of the customer's orders kept from product-order's events, and
//! the routes that show it to its owner.

pub mod events;
pub mod store;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use platform::auth::Caller;
use platform::http::{AppPath, AppQuery, keyset_page};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::{CustomerError, Result};
use store::{OrderDetail, OrderSummary};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/orders", get(list_orders))
        .route("/api/orders/{id}", get(show_order))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    cursor: Option<Uuid>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
struct OrderList {
    items: Vec<OrderSummary>,
    next_cursor: Option<Uuid>,
}

/// The caller's orders, newest first.
async fn list_orders(
    State(state): State<AppState>,
    Caller(claims): Caller,
    AppQuery(query): AppQuery<ListQuery>,
) -> Result<Json<OrderList>> {
    let limit = query.limit.unwrap_or(20).clamp(1, 100);
    let orders = store::list(&state.db, claims.sub, query.cursor, limit + 1).await?;
    let (items, next_cursor) = keyset_page(orders, limit as usize, |o| o.id);
    Ok(Json(OrderList { items, next_cursor }))
}

/// One of the caller's orders; another customer's is 404.
async fn show_order(
    State(state): State<AppState>,
    Caller(claims): Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<OrderDetail>> {
    store::get(&state.db, claims.sub, id)
        .await?
        .map(Json)
        .ok_or(CustomerError::NotFound)
}
