//! The catalog and carts at product-order: products as listed and shown, their stock trail,
//! and a cart with what stops each line being ordered.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::money::Currency;

/// A product as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    /// In minor units (cents).
    pub price: i64,
    #[schema(value_type = Currency)]
    pub currency: String,
    pub stock: i32,
    pub availability: Availability,
    pub active: bool,
    /// An address of an image elsewhere, set by an operator...
    pub image_url: Option<String>,
    /// ...or the image an operator uploaded, served by this service.
    pub uploaded_image: Option<UploadedImage>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where an uploaded image is served; `path` changes whenever the image does.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UploadedImage {
    pub sha256: String,
    pub path: String,
}

/// How much is left, as shoppers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    InStock,
    Low,
    Out,
}

/// At or below this, stock is shown as low.
pub const LOW_STOCK: i32 = 5;

impl Availability {
    pub fn of(stock: i32) -> Self {
        match stock {
            s if s <= 0 => Self::Out,
            s if s <= LOW_STOCK => Self::Low,
            _ => Self::InStock,
        }
    }
}

/// A page of products.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProductPage {
    pub items: Vec<Product>,
    /// The `cursor` of the next page, while there is one.
    pub next_cursor: Option<String>,
}

/// A recorded stock change.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockChange {
    pub changed_at: DateTime<Utc>,
    pub changed_by: Uuid,
    pub from: i32,
    pub to: i32,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockChanges {
    pub items: Vec<StockChange>,
}

/// A line of a cart, with the product as it is now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CartItem {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    pub image_url: Option<String>,
    pub unit_price: i64,
    /// The product's currency now; another than the cart's when an operator changed it.
    #[schema(value_type = Currency)]
    pub currency: String,
    pub quantity: i32,
    pub line_total: i64,
    /// Stock on hand now.
    pub available: i32,
    /// Why this line cannot be ordered as it is, if it cannot.
    pub problem: Option<String>,
}

/// A shopper's or a guest's cart.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Cart {
    pub items: Vec<CartItem>,
    /// The total of the lines in `currency`.
    pub total: i64,
    /// The cart's currency (its first line's); null while the cart is empty.
    #[schema(value_type = Option<Currency>)]
    pub currency: Option<String>,
    /// Some lines are priced in another currency than `currency`: they carry a problem, and
    /// the cart cannot be checked out until they are removed.
    pub mixed_currencies: bool,
    /// Units in the cart (for the cart badge).
    pub item_count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_of_five_or_less_is_low() {
        assert_eq!(Availability::of(0), Availability::Out);
        assert_eq!(Availability::of(LOW_STOCK), Availability::Low);
        assert_eq!(Availability::of(LOW_STOCK + 1), Availability::InStock);
    }
}
