//! Order history: a read model of the customer's orders kept from product-order's events, and
//! the routes that show it to its owner.

pub mod events;
pub mod store;

use axum::Json;
use axum::extract::State;
use platform::auth::Caller;
use platform::http::{AppPath, AppQuery, keyset_page};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::{CustomerError, Result};
use store::{OrderDetail, OrderSummary};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orders))
        .routes(routes!(show_order))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// The `next_cursor` of the page before.
    cursor: Option<Uuid>,
    /// 1 to 100 (default 20).
    limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
struct OrderList {
    items: Vec<OrderSummary>,
    next_cursor: Option<Uuid>,
}

/// The caller's orders, newest first.
/// The caller's orders, newest first.
#[utoipa::path(get, path = "/api/orders", tag = "orders", params(ListQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of the caller's orders.", body = OrderList)))]
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
/// One of the caller's orders, with its status history.
#[utoipa::path(get, path = "/api/orders/{id}", tag = "orders", params(("id" = Uuid, Path, description = "The order id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The order.", body = OrderDetail)))]
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
