//! Orders at product-order: the shopper's recent checkouts (to show an order before it
//! reaches the history at customer), and the operator's order list, order and status moves.

use api::checkout::{CheckoutList, CheckoutSummary};
use api::orders::OrderStatusBody;
use chrono::{DateTime, Utc};
use contracts::OrderStatus;
use contracts::events::{Contact, Delivery, OrderLine};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Caller, ProductOrderClient, Result, answer, send};
use crate::money::format_money;

/// An order as operators see it.
#[derive(Debug, Clone, Deserialize)]
pub struct OpsOrder {
    pub id: Uuid,
    pub checkout_id: Uuid,
    pub customer_id: Uuid,
    pub status: OrderStatus,
    pub version: i64,
    /// Minor units of `currency`.
    pub total: i64,
    pub currency: String,
    pub contact: Contact,
    pub delivery: Delivery,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The statuses it may move to now.
    #[serde(default)]
    pub allowed_moves: Vec<OrderStatus>,
}

impl OpsOrder {
    /// `minor` in the order's currency (templates hand over references).
    pub fn money(&self, minor: impl std::borrow::Borrow<i64>) -> String {
        format_money(*minor.borrow(), &self.currency)
    }
}

/// One page of the operator's order list, newest first.
#[derive(Debug, Clone, Deserialize)]
pub struct OpsOrderPage {
    pub items: Vec<OpsOrder>,
    /// Where the next page starts; None on the last page.
    pub next_cursor: Option<Uuid>,
}

/// A change of an order's status, as recorded.
#[derive(Debug, Clone, Deserialize)]
pub struct OrderStatusEntry {
    pub version: i64,
    pub status: OrderStatus,
    pub previous_status: Option<OrderStatus>,
    /// The account that made it; None when the shop did it on its own.
    pub changed_by: Option<Uuid>,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// An order with its lines and its status history, for operators.
#[derive(Debug, Clone, Deserialize)]
pub struct OpsOrderDetail {
    #[serde(flatten)]
    pub order: OpsOrder,
    pub lines: Vec<OrderLine>,
    /// Oldest first.
    pub history: Vec<OrderStatusEntry>,
}

/// What the operator's list asks for.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct OpsOrderQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<OrderStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Serialize)]
struct SetStatus<'a> {
    status: OrderStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

impl ProductOrderClient {
    /// The shopper's most recent checkouts, newest first.
    pub async fn recent_checkouts(&self, token: &str) -> Result<Vec<CheckoutSummary>> {
        let request = self.request(Method::GET, "/api/checkouts", Caller::Bearer(token));
        Ok(answer::<CheckoutList>(send(request).await?).await?.items)
    }

    /// A page of every shopper's orders (operators only).
    pub async fn ops_orders(&self, token: &str, query: &OpsOrderQuery) -> Result<OpsOrderPage> {
        let request = self
            .request(Method::GET, "/api/ops/orders", Caller::Bearer(token))
            .query(query);
        answer(send(request).await?).await
    }

    /// One order with its lines and history (operators only).
    pub async fn ops_order(&self, token: &str, id: Uuid) -> Result<OpsOrderDetail> {
        let request = self.request(Method::GET, &format!("/api/ops/orders/{id}"), Caller::Bearer(token));
        answer(send(request).await?).await
    }

    /// Moves an order to `status` (operators only); refused (409) when that move is not
    /// allowed from where the order stands. A blank `reason` is not sent.
    pub async fn set_order_status(
        &self,
        token: &str,
        id: Uuid,
        status: OrderStatus,
        reason: &str,
    ) -> Result<OrderStatusBody> {
        let body = SetStatus {
            status,
            reason: Some(reason.trim()).filter(|r| !r.is_empty()),
        };
        let path = format!("/api/ops/orders/{id}/status");
        let request = self.request(Method::PATCH, &path, Caller::Bearer(token)).json(&body);
        answer(send(request).await?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operator_order_reads_as_product_order_writes_it() {
        let detail: OpsOrderDetail = serde_json::from_value(serde_json::json!({
            "id": Uuid::nil(), "checkout_id": Uuid::nil(), "customer_id": Uuid::nil(),
            "status": "placed", "version": 1, "total": 1290, "currency": "EUR",
            "contact": {"name": "Ada", "email": "ada@example.com", "phone": "+44"},
            "delivery": {"line1": "1 Square", "line2": "", "city": "London", "postal_code": "SW1", "country": "GB"},
            "placed_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "allowed_moves": ["confirmed", "cancelled"],
            "lines": [{"product_id": Uuid::nil(), "sku": "TEA-1", "name": "Sencha", "unit_price": 1290, "quantity": 1}],
            "history": [{"version": 1, "status": "placed", "previous_status": null, "changed_by": null,
                         "reason": null, "at": "2026-01-01T00:00:00Z"}]
        }))
        .unwrap();
        assert_eq!(
            detail.order.allowed_moves,
            [OrderStatus::Confirmed, OrderStatus::Cancelled]
        );
        assert_eq!(detail.order.money(detail.order.total), "€12.90");
        assert_eq!(detail.history[0].changed_by, None);
    }

    #[test]
    fn a_blank_reason_is_left_out() {
        let body = SetStatus {
            status: OrderStatus::Shipped,
            reason: None,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"status": "shipped"})
        );
        let query = OpsOrderQuery {
            status: Some(OrderStatus::Placed),
            ..OpsOrderQuery::default()
        };
        assert_eq!(
            serde_json::to_value(query).unwrap(),
            serde_json::json!({"status": "placed"})
        );
    }
}
