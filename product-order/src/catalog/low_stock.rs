//! Low stock, for the operators' orders board: the products about to run out.

use axum::Json;
use axum::extract::State;
use platform::FieldErrors;
use platform::auth::Operator;
use platform::http::AppQuery;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::domain::MAX_STOCK;
use super::store;
use crate::app::AppState;
use crate::error::{ProductOrderError, Result};
use api::catalog::{LOW_STOCK, Product as ProductBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_low_stock))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LowStockQuery {
    /// At most this many in stock (default: what shoppers see as "low", 5).
    #[param(minimum = 0, maximum = 1_000_000)]
    threshold: Option<i64>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
struct LowStock {
    threshold: i32,
    items: Vec<ProductBody>,
}

/// Active products with stock at or below the threshold, lowest first.
#[utoipa::path(get, path = "/api/ops/low-stock", tag = "operators", params(LowStockQuery), security(("bearer" = [])),
    responses((status = 200, description = "The products about to run out.", body = LowStock)))]
async fn list_low_stock(
    State(state): State<AppState>,
    _: Operator,
    AppQuery(query): AppQuery<LowStockQuery>,
) -> Result<Json<LowStock>> {
    let mut errors = FieldErrors::new();
    let threshold = query.threshold.unwrap_or(i64::from(LOW_STOCK));
    if !(0..=MAX_STOCK).contains(&threshold) {
        errors.add("threshold", format!("Between 0 and {MAX_STOCK}."));
    }
    let limit = query.limit.unwrap_or(20);
    if !(1..=super::MAX_PAGE).contains(&limit) {
        errors.add("limit", format!("Ask for 1 to {} products at a time.", super::MAX_PAGE));
    }
    if !errors.is_empty() {
        return Err(ProductOrderError::Validation(errors));
    }
    // Both fit: checked against MAX_STOCK and MAX_PAGE above.
    let threshold = threshold as i32;
    let products = store::low_stock(&state.db, threshold, limit).await?;
    Ok(Json(LowStock {
        threshold,
        items: products.into_iter().map(super::product_body).collect(),
    }))
}
