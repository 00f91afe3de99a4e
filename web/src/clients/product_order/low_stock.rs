//! Products about to run out, for the operators' orders board.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Caller, Product, ProductOrderClient, Result, answer, send};

/// Active products with at most `threshold` in stock, lowest first.
#[derive(Debug, Clone, Deserialize)]
pub struct LowStock {
    pub threshold: i32,
    pub items: Vec<Product>,
}

#[derive(Serialize)]
struct LowStockQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    threshold: Option<i32>,
    limit: u32,
}

impl ProductOrderClient {
    /// Up to `limit` products with at most `threshold` in stock (product-order's "low" when
    /// None), lowest first (operators only).
    pub async fn low_stock(&self, token: &str, threshold: Option<i32>, limit: u32) -> Result<LowStock> {
        let request = self
            .request(Method::GET, "/api/ops/low-stock", Caller::Bearer(token))
            .query(&LowStockQuery { threshold, limit });
        answer(send(request).await?).await
    }
}
