//! Checkout and orders at product-order: the countries it ships to, starting a checkout, how
//! a checkout goes, cancelling an order.

use api::checkout::{Checkout, CheckoutAccepted, CheckoutRequest, CountryOption};
use api::orders::OrderStatusBody;
use reqwest::Method;
use uuid::Uuid;

use super::{Caller, ProductOrderClient, Result, answer, send};

/// The header that makes a repeated checkout request return the first checkout.
const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

impl ProductOrderClient {
    /// The countries the checkout delivers to.
    pub async fn shipping_countries(&self) -> Result<Vec<CountryOption>> {
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
        request: &CheckoutRequest,
    ) -> Result<CheckoutAccepted> {
        let request = self
            .request(Method::POST, "/api/checkout", Caller::Bearer(token))
            .header(IDEMPOTENCY_KEY_HEADER, idempotency_key)
            .json(request);
        answer(send(request).await?).await
    }

    /// One of the shopper's checkouts (someone else's is not found).
    pub async fn checkout(&self, token: &str, id: Uuid) -> Result<Checkout> {
        let request = self.request(Method::GET, &format!("/api/checkouts/{id}"), Caller::Bearer(token));
        answer(send(request).await?).await
    }

    /// Cancels one of the shopper's orders; refused (409) once it can no longer be cancelled.
    pub async fn cancel_order(&self, token: &str, order_id: Uuid) -> Result<OrderStatusBody> {
        let path = format!("/api/orders/{order_id}/cancel");
        answer(send(self.request(Method::POST, &path, Caller::Bearer(token))).await?).await
    }
}
