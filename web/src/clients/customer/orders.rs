//! The shopper's order history at customer: a read model fed by product-order's events, so an
//! order just placed may take a moment to arrive.

use chrono::{DateTime, Utc};
use contracts::OrderStatus;
use contracts::events::{Contact, Delivery, OrderLine};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{CustomerCallError, CustomerClient, Result, json};
use crate::money::format_money;

/// An order in the shopper's list.
#[derive(Debug, Clone, Deserialize)]
pub struct OrderSummary {
    pub id: Uuid,
    pub status: OrderStatus,
    /// Minor units of `currency`.
    pub total: i64,
    pub currency: String,
    /// Units ordered, all lines together.
    pub item_count: i64,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl OrderSummary {
    pub fn total_label(&self) -> String {
        format_money(self.total, &self.currency)
    }
}

/// A page of the shopper's orders, newest first.
#[derive(Debug, Clone, Deserialize)]
pub struct OrderPage {
    pub items: Vec<OrderSummary>,
    /// Where the next page starts; None on the last page.
    pub next_cursor: Option<Uuid>,
}

/// A status the order reached, and when.
#[derive(Debug, Clone, Deserialize)]
pub struct StatusAt {
    pub status: OrderStatus,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// One of the shopper's orders, whole.
#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    pub id: Uuid,
    pub status: OrderStatus,
    pub total: i64,
    pub currency: String,
    pub lines: Vec<OrderLine>,
    pub contact: Contact,
    pub delivery: Delivery,
    pub placed_at: DateTime<Utc>,
    /// Oldest first.
    #[serde(default)]
    pub status_history: Vec<StatusAt>,
}

impl Order {
    /// `minor` in the order's currency (templates hand over references).
    pub fn money(&self, minor: impl std::borrow::Borrow<i64>) -> String {
        format_money(*minor.borrow(), &self.currency)
    }

    /// A line's total, `quantity` times `unit_price`, in the order's currency.
    pub fn line_total(
        &self,
        unit_price: impl std::borrow::Borrow<i64>,
        quantity: impl std::borrow::Borrow<i32>,
    ) -> String {
        self.money(*unit_price.borrow() * i64::from(*quantity.borrow()))
    }

    /// Units ordered, all lines together.
    pub fn item_count(&self) -> i64 {
        self.lines.iter().map(|l| i64::from(l.quantity)).sum()
    }
}

/// What a page of the list asks for.
#[derive(Debug, Clone, Copy, Serialize)]
struct PageQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<Uuid>,
    limit: u32,
}

impl CustomerClient {
    /// A page of the shopper's orders, newest first, starting after `cursor`.
    pub async fn orders(&self, token: &str, cursor: Option<Uuid>, limit: u32) -> Result<OrderPage> {
        let request = self.get("/api/orders", token).query(&PageQuery { cursor, limit });
        let response = self.send("/api/orders", request).await?;
        match response.status() {
            StatusCode::UNAUTHORIZED => Err(CustomerCallError::SessionEnded),
            _ => json(response).await,
        }
    }

    /// One of the shopper's orders; None when customer does not know it (yet) or it is
    /// someone else's.
    pub async fn order(&self, token: &str, id: Uuid) -> Result<Option<Order>> {
        let path = format!("/api/orders/{id}");
        let response = self.send(&path, self.get(&path, token)).await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::UNAUTHORIZED => Err(CustomerCallError::SessionEnded),
            _ => json(response).await.map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_reads_as_customer_writes_it() {
        let order: Order = serde_json::from_value(serde_json::json!({
            "id": Uuid::nil(), "status": "confirmed", "total": 2580, "currency": "EUR",
            "lines": [{"product_id": Uuid::nil(), "sku": "TEA-1", "name": "Sencha", "unit_price": 1290, "quantity": 2}],
            "contact": {"name": "Ada", "email": "ada@example.com", "phone": "+44"},
            "delivery": {"line1": "1 Square", "line2": "", "city": "London", "postal_code": "SW1", "country": "GB"},
            "placed_at": "2026-01-01T00:00:00Z",
            "status_history": [{"status": "placed", "at": "2026-01-01T00:00:00Z", "reason": null},
                               {"status": "confirmed", "at": "2026-01-01T01:00:00Z"}]
        }))
        .unwrap();
        assert_eq!(order.status, OrderStatus::Confirmed);
        assert_eq!(order.item_count(), 2);
        assert_eq!(order.money(order.total), "€25.80");
        assert_eq!(order.line_total(1290, 2), "€25.80");
        assert_eq!(order.status_history.len(), 2);
    }

    #[test]
    fn the_list_query_leaves_out_a_missing_cursor() {
        let query = PageQuery {
            cursor: None,
            limit: 20,
        };
        assert_eq!(serde_json::to_value(query).unwrap(), serde_json::json!({"limit": 20}));
    }
}
