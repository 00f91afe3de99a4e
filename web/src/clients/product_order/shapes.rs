//! What product-order's catalog and cart answers look like, with what pages derive from them.

use api::checkout::ReviewedForm;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::format_money;

/// How much of a product is left, as shoppers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    InStock,
    Low,
    Out,
}

/// A product of the catalog.
#[derive(Debug, Clone, Deserialize)]
pub struct Product {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    /// Minor units of `currency`.
    pub price: i64,
    pub currency: String,
    pub stock: i32,
    pub availability: Availability,
    pub active: bool,
    /// An address of an image elsewhere...
    pub image_url: Option<String>,
    /// ...or an image an operator uploaded to product-order.
    #[serde(default)]
    pub uploaded_image: Option<UploadedImage>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An image uploaded to product-order, known by its content hash.
#[derive(Debug, Clone, Deserialize)]
pub struct UploadedImage {
    pub sha256: String,
}

impl Product {
    /// Where pages load the product's picture from: the uploaded image through this site
    /// (product-order's address stays internal), else the image address, if any.
    pub fn picture(&self) -> Option<String> {
        match &self.uploaded_image {
            Some(image) => Some(format!("/products/{}/images/{}", self.id, image.sha256)),
            None => self.image_url.clone(),
        }
    }

    pub fn price_label(&self) -> String {
        format_money(self.price, &self.currency)
    }

    /// "In stock", "Only 3 left", "Out of stock".
    pub fn availability_label(&self) -> String {
        match self.availability {
            Availability::InStock => "In stock".into(),
            Availability::Low => format!("Only {} left", self.stock),
            Availability::Out => "Out of stock".into(),
        }
    }

    /// The CSS class of the availability badge.
    pub fn availability_class(&self) -> &'static str {
        match self.availability {
            Availability::InStock => "in-stock",
            Availability::Low => "low",
            Availability::Out => "out",
        }
    }

    /// The first letter of the name, for a picture placeholder.
    pub fn initial(&self) -> char {
        self.name
            .chars()
            .find(|c| c.is_alphanumeric())
            .map_or('?', |c| c.to_uppercase().next().unwrap_or(c))
    }

    /// Low or out of stock: worth an operator's attention.
    pub fn needs_restock(&self) -> bool {
        self.availability != Availability::InStock
    }

    pub fn is_out(&self) -> bool {
        self.availability == Availability::Out
    }
}

/// One page of a product listing.
#[derive(Debug, Clone, Deserialize)]
pub struct ProductPage {
    pub items: Vec<Product>,
    /// Where the next page starts; None on the last page.
    pub next_cursor: Option<String>,
}

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

/// One entry of a product's stock audit trail.
#[derive(Debug, Clone, Deserialize)]
pub struct StockChange {
    pub changed_at: DateTime<Utc>,
    pub changed_by: Uuid,
    pub from: i32,
    pub to: i32,
    pub reason: String,
}

impl StockChange {
    /// When, to the minute (UTC).
    pub fn when(&self) -> String {
        self.changed_at.format("%Y-%m-%d %H:%M").to_string()
    }

    /// Who made the change, shortened (the full id is in the title).
    pub fn by_short(&self) -> String {
        self.changed_by.simple().to_string()[..8].to_owned()
    }

    /// "+5", "-3".
    pub fn delta(&self) -> String {
        format!("{:+}", i64::from(self.to) - i64::from(self.from))
    }
}

#[derive(Deserialize)]
pub(super) struct StockChanges {
    pub items: Vec<StockChange>,
}

/// A cart line.
#[derive(Debug, Clone, Deserialize)]
pub struct CartLine {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    pub image_url: Option<String>,
    pub unit_price: i64,
    /// The product's currency now: another than the cart's when an operator changed it.
    pub currency: String,
    pub quantity: i32,
    pub line_total: i64,
    /// Stock on hand now.
    pub available: i32,
    /// Why this line cannot be ordered as it is.
    pub problem: Option<String>,
}

impl CartLine {
    /// `minor` in the line's currency (templates hand over references).
    pub fn money(&self, minor: impl std::borrow::Borrow<i64>) -> String {
        format_money(*minor.borrow(), &self.currency)
    }
}

/// A shopper's or guest's cart.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Cart {
    pub items: Vec<CartLine>,
    /// The total of the lines in `currency`.
    pub total: i64,
    /// The cart's currency (its first line's); None while empty.
    pub currency: Option<String>,
    /// Some lines are priced in another currency (each says so in its problem).
    pub mixed_currencies: bool,
    /// Units in the cart.
    pub item_count: i64,
}

impl Cart {
    /// `minor` in the cart's currency (templates hand over references).
    pub fn money(&self, minor: impl std::borrow::Borrow<i64>) -> String {
        format_money(*minor.borrow(), self.currency.as_deref().unwrap_or("EUR"))
    }

    pub fn has_problems(&self) -> bool {
        self.items.iter().any(|l| l.problem.is_some())
    }

    /// The total and currency this cart shows, what a checkout of it sends as reviewed; None
    /// while empty.
    pub fn reviewed(&self) -> Option<ReviewedForm> {
        self.currency.as_ref().map(|currency| ReviewedForm {
            total: Some(self.total),
            currency: Some(currency.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(stock: i32, availability: Availability) -> Product {
        serde_json::from_value::<Product>(serde_json::json!({
            "id": Uuid::nil(), "sku": "TEA-1", "name": "Tea", "description": "", "price": 1290,
            "currency": "EUR", "stock": stock, "availability": "in_stock", "active": true,
            "image_url": null, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        }))
        .map(|p| Product { availability, ..p })
        .unwrap()
    }

    #[test]
    fn availability_reads_like_a_shop() {
        assert_eq!(product(40, Availability::InStock).availability_label(), "In stock");
        assert_eq!(product(3, Availability::Low).availability_label(), "Only 3 left");
        assert_eq!(product(0, Availability::Out).availability_label(), "Out of stock");
        assert_eq!(product(1, Availability::Low).price_label(), "€12.90");
    }

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

    #[test]
    fn stock_changes_show_their_delta() {
        let change = StockChange {
            changed_at: DateTime::<Utc>::from_timestamp(0, 0).unwrap(),
            changed_by: Uuid::nil(),
            from: 10,
            to: 7,
            reason: "broken".into(),
        };
        assert_eq!(change.delta(), "-3");
        assert_eq!(
            StockChange {
                to: 15,
                ..change.clone()
            }
            .delta(),
            "+5"
        );
        assert_eq!(change.when(), "1970-01-01 00:00");
    }

    #[test]
    fn cart_money_is_in_the_cart_currency() {
        let cart: Cart = serde_json::from_value(serde_json::json!({
            "items": [{"product_id": Uuid::nil(), "sku": "TEA-1", "name": "Tea", "image_url": null,
                "unit_price": 450, "currency": "GBP", "quantity": 2, "line_total": 900, "available": 1,
                "problem": "Only 1 left."}],
            "total": 900, "currency": "GBP", "mixed_currencies": false, "item_count": 2
        }))
        .unwrap();
        assert_eq!(cart.money(cart.total), "£9.00");
        assert_eq!(cart.items[0].money(cart.items[0].unit_price), "£4.50");
        assert!(cart.has_problems());
        assert_eq!(
            cart.reviewed(),
            Some(ReviewedForm {
                total: Some(900),
                currency: Some("GBP".into())
            })
        );
        assert_eq!(Cart::default().reviewed(), None);
    }
}
