//! Low stock, for the operators' orders board: the products about to run out.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use platform::FieldErrors;
use platform::auth::Operator;
use platform::http::AppQuery;
use serde::{Deserialize, Serialize};

use super::ProductBody;
use super::domain::{LOW_STOCK, MAX_STOCK};
use super::store;
use crate::app::AppState;
use crate::error::{ProductOrderError, Result};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/ops/low-stock", get(list_low_stock))
}

#[derive(Debug, Deserialize)]
struct LowStockQuery {
    /// At most this many in stock (default: what shoppers see as "low").
    threshold: Option<i64>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
struct LowStock {
    threshold: i32,
    items: Vec<ProductBody>,
}

/// Active products with stock at or below the threshold, lowest first.
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
        items: products.into_iter().map(Into::into).collect(),
    }))
}
