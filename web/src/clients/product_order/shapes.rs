//! What product-order's catalog is asked: a listing's query, a product to create, changes to
//! one. (Its answers are `api::catalog`'s.)

use serde::{Deserialize, Serialize};

/// The order of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    #[default]
    Newest,
    Name,
}

impl Sort {
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Newest => "newest",
            Sort::Name => "name",
        }
    }
}

/// What a listing asks for.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProductQuery<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    pub sort: Sort,
    /// Operators only.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub include_inactive: bool,
}

/// A product to create.
#[derive(Debug, Clone, Serialize)]
pub struct NewProduct {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price: i64,
    pub currency: String,
    pub stock: i64,
    pub image_url: String,
    pub active: bool,
}

/// Changes to a product; absent fields stay as they are.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProductChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Empty removes the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock_delta: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_queries_leave_out_what_is_not_asked() {
        let query = ProductQuery {
            q: Some("tea pot"),
            limit: Some(8),
            ..Default::default()
        };
        let encoded = serde_json::to_value(&query).unwrap();
        assert_eq!(
            encoded,
            serde_json::json!({"q": "tea pot", "limit": 8, "sort": "newest"})
        );
        let ops = ProductQuery {
            include_inactive: true,
            sort: Sort::Name,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&ops).unwrap(),
            serde_json::json!({"sort": "name", "include_inactive": true})
        );
    }
}
