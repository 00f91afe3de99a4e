//! Checkout and orders at product-order: the countries it ships to, starting a checkout, how
//! a checkout goes, cancelling an order.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Caller, ProductOrderClient, Result, answer, send};
use crate::money::format_money;

/// The header that makes a repeated checkout request return the first checkout.
const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// A country the checkout delivers to.
#[derive(Debug, Clone, Deserialize)]
pub struct ShippingCountry {
    /// ISO 3166 alpha-2, what a checkout sends.
    pub code: String,
    pub name: String,
}

/// The contact and delivery details of a checkout, as typed (product-order checks them).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckoutDetails {
    pub contact: ContactDetails,
    pub delivery: DeliveryDetails,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ContactDetails {
    pub name: String,
    pub email: String,
    pub phone: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DeliveryDetails {
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub postal_code: String,
    /// The country's code.
    pub country: String,
}

/// What the shopper reviewed before placing the order: the cart's total (minor units) and
/// currency as the page showed them. product-order refuses the checkout when the cart's are
/// not the same any more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewedTotal {
    pub total: i64,
    pub currency: String,
}

/// The body of a checkout request.
#[derive(Serialize)]
struct CheckoutRequest<'a> {
    #[serde(flatten)]
    details: &'a CheckoutDetails,
    reviewed: &'a ReviewedTotal,
}

/// A checkout product-order accepted; it runs on its own from here.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutStarted {
    pub checkout_id: Uuid,
}

/// Where a checkout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutState {
    Running,
    /// A step failed for good; the steps before it are being undone.
    Compensating,
    Completed,
    Failed,
    /// Undoing failed too: an operator has to look.
    Stuck,
}

impl CheckoutState {
    /// Nothing changes any more without an operator.
    pub fn is_final(self) -> bool {
        !matches!(self, CheckoutState::Running | CheckoutState::Compensating)
    }
}

/// Where a step of a checkout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutStepState {
    Pending,
    Running,
    /// Failed, and another attempt is scheduled.
    Retrying,
    Succeeded,
    Failed,
}

/// A step of a checkout.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutStep {
    /// `validate_details`, `reserve_stock`, `place_order`, `publish_order_placed`.
    pub name: String,
    pub state: CheckoutStepState,
    pub attempts: u32,
}

/// A line of the cart as the checkout took it.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutLine {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    /// Minor units of the checkout's currency.
    pub unit_price: i64,
    pub quantity: i32,
}

impl CheckoutLine {
    pub fn line_total(&self) -> i64 {
        self.unit_price * i64::from(self.quantity)
    }
}

/// A checkout, as its owner sees it.
#[derive(Debug, Clone, Deserialize)]
pub struct Checkout {
    pub checkout_id: Uuid,
    pub state: CheckoutState,
    /// Set once the order is placed.
    pub order_id: Option<Uuid>,
    /// The order's status now, once placed.
    #[serde(default)]
    pub order_status: Option<String>,
    /// Why it failed, in words a shopper can read.
    pub failure: Option<String>,
    pub steps: Vec<CheckoutStep>,
    pub lines: Vec<CheckoutLine>,
    pub total: i64,
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

impl Checkout {
    /// `minor` in the checkout's currency (templates hand over references).
    pub fn money(&self, minor: impl std::borrow::Borrow<i64>) -> String {
        format_money(*minor.borrow(), &self.currency)
    }
}

/// An order's new status after a change.
#[derive(Debug, Clone, Deserialize)]
pub struct OrderStatusChanged {
    pub order_id: Uuid,
    pub status: String,
}

impl ProductOrderClient {
    /// The countries the checkout delivers to.
    pub async fn shipping_countries(&self) -> Result<Vec<ShippingCountry>> {
        let request = self.request(Method::GET, "/api/shipping-countries", Caller::Anonymous);
        answer(send(request).await?).await
    }

    /// Checks out the signed-in shopper's cart, refused (409 `prices_changed`) when its total
    /// is not `reviewed` any more. The same `idempotency_key` again answers the same checkout,
    /// never a second order.
    pub async fn start_checkout(
        &self,
        token: &str,
        idempotency_key: &str,
        details: &CheckoutDetails,
        reviewed: &ReviewedTotal,
    ) -> Result<CheckoutStarted> {
        let request = self
            .request(Method::POST, "/api/checkout", Caller::Bearer(token))
            .header(IDEMPOTENCY_KEY_HEADER, idempotency_key)
            .json(&CheckoutRequest { details, reviewed });
        answer(send(request).await?).await
    }

    /// One of the shopper's checkouts (someone else's is not found).
    pub async fn checkout(&self, token: &str, id: Uuid) -> Result<Checkout> {
        let request = self.request(Method::GET, &format!("/api/checkouts/{id}"), Caller::Bearer(token));
        answer(send(request).await?).await
    }

    /// Cancels one of the shopper's orders; refused (409) once it can no longer be cancelled.
    pub async fn cancel_order(&self, token: &str, order_id: Uuid) -> Result<OrderStatusChanged> {
        let path = format!("/api/orders/{order_id}/cancel");
        answer(send(self.request(Method::POST, &path, Caller::Bearer(token))).await?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkout_reads_as_product_order_writes_it() {
        let checkout: Checkout = serde_json::from_value(serde_json::json!({
            "checkout_id": Uuid::nil(), "state": "compensating", "order_id": null, "failure": null,
            "steps": [{"name": "reserve_stock", "state": "retrying", "attempts": 2, "error": "timeout"}],
            "lines": [{"product_id": Uuid::nil(), "sku": "TEA-1", "name": "Tea", "unit_price": 450, "quantity": 3}],
            "total": 1350, "currency": "EUR", "created_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(checkout.state, CheckoutState::Compensating);
        assert!(!checkout.state.is_final());
        assert_eq!(checkout.steps[0].state, CheckoutStepState::Retrying);
        assert_eq!(checkout.money(checkout.lines[0].line_total()), "€13.50");
        for state in [CheckoutState::Completed, CheckoutState::Failed, CheckoutState::Stuck] {
            assert!(state.is_final(), "{state:?}");
        }
    }

    #[test]
    fn a_checkout_request_is_sent_in_the_api_shape() {
        let details = CheckoutDetails {
            contact: ContactDetails {
                name: "Ada".into(),
                ..ContactDetails::default()
            },
            delivery: DeliveryDetails {
                country: "DE".into(),
                ..DeliveryDetails::default()
            },
        };
        let reviewed = ReviewedTotal {
            total: 2580,
            currency: "EUR".into(),
        };
        assert_eq!(
            serde_json::to_value(CheckoutRequest {
                details: &details,
                reviewed: &reviewed
            })
            .unwrap(),
            serde_json::json!({
                "contact": {"name": "Ada", "email": "", "phone": ""},
                "delivery": {"line1": "", "line2": "", "city": "", "postal_code": "", "country": "DE"},
                "reviewed": {"total": 2580, "currency": "EUR"}
            })
        );
    }
}
