//! The checkout form and the page that follows a checkout.

use api::catalog::Cart;
use api::checkout::{Checkout, CountryOption};
use askama::Template;
use contracts::OrderStatus;
use contracts::events::OrderLine;
use saga_core::{InstanceState, StepState};

use super::form::{CheckoutForm, FieldErrors};

use crate::cart::shown::{CartItemShown as _, CartShown as _};
use crate::money::format_money;
use crate::render::PageContext;

/// /checkout (`#checkout`): the cart's summary and the details form, or the empty state.
#[derive(Template)]
#[template(path = "checkout/checkout.html")]
pub struct CheckoutView<'a> {
    pub csrf_token: &'a str,
    pub cart: &'a Cart,
    pub countries: &'a [CountryOption],
    pub form: CheckoutForm,
    /// Messages by the form's field names.
    pub errors: FieldErrors,
    /// Messages about no field of the form.
    pub other_errors: Vec<String>,
    /// What the empty state says.
    pub empty_message: String,
}

impl<'a> CheckoutView<'a> {
    pub fn new(ctx: &'a PageContext, cart: &'a Cart, countries: &'a [CountryOption], form: CheckoutForm) -> Self {
        Self {
            csrf_token: &ctx.csrf_token,
            cart,
            countries,
            form,
            errors: FieldErrors::new(),
            other_errors: Vec::new(),
            empty_message: "Your cart is empty.".into(),
        }
    }
}

/// A step of a checkout in a shopper's words.
pub struct StepLine<'a> {
    pub label: &'a str,
    pub state: &'static str,
    /// The CSS class of its state.
    pub class: &'static str,
}

/// /checkouts/{id} (`#checkout-status`): how the checkout goes. While it runs, htmx fetches
/// this part again every second; once final it carries no trigger, and polling stops.
#[derive(Template)]
#[template(path = "checkout/status.html")]
pub struct CheckoutStatusView<'a> {
    pub csrf_token: &'a str,
    pub checkout: &'a Checkout,
    /// The order was cancelled from this page.
    pub cancelled: bool,
}

impl<'a> CheckoutStatusView<'a> {
    pub fn new(ctx: &'a PageContext, checkout: &'a Checkout, done: &str) -> Self {
        Self {
            csrf_token: &ctx.csrf_token,
            checkout,
            cancelled: done == "cancelled" || checkout.order_status == Some(OrderStatus::Cancelled),
        }
    }

    /// The page's title.
    pub fn title(&self) -> &'static str {
        match self.checkout.state {
            InstanceState::Running | InstanceState::Compensating => "Placing your order",
            InstanceState::Completed if self.cancelled => "Order cancelled",
            InstanceState::Completed => "Order placed",
            InstanceState::Failed => "Order not placed",
            InstanceState::Stuck => "We are looking into your order",
        }
    }

    /// This page's address (what htmx polls and the refresh link opens).
    pub fn path(&self) -> String {
        format!("/checkouts/{}", self.checkout.checkout_id)
    }

    /// The shopper may still cancel: the order has not shipped.
    pub fn cancellable(&self) -> bool {
        !self.cancelled && self.checkout.order_status.is_none_or(OrderStatus::is_cancellable)
    }

    /// `minor` in the checkout's currency (templates hand over references).
    pub fn money(&self, minor: impl std::borrow::Borrow<i64>) -> String {
        format_money(*minor.borrow(), &self.checkout.currency)
    }

    pub fn line_total(&self, line: &OrderLine) -> i64 {
        line.unit_price * i64::from(line.quantity)
    }

    pub fn placing(&self) -> bool {
        !self.checkout.state.is_final()
    }

    pub fn compensating(&self) -> bool {
        self.checkout.state == InstanceState::Compensating
    }

    pub fn completed(&self) -> bool {
        self.checkout.state == InstanceState::Completed
    }

    pub fn failed(&self) -> bool {
        self.checkout.state == InstanceState::Failed
    }

    pub fn steps(&self) -> Vec<StepLine<'_>> {
        self.checkout
            .steps
            .iter()
            .map(|step| {
                let (state, class) = step_state(step.state);
                StepLine {
                    label: step_label(&step.name),
                    state,
                    class,
                }
            })
            .collect()
    }
}

/// A step's name in a shopper's words (an unknown step by its own name).
pub fn step_label(name: &str) -> &str {
    match name {
        "validate_details" => "Checking your details",
        "reserve_stock" => "Reserving your items",
        "place_order" => "Placing your order",
        "publish_order_placed" => "Confirming your order",
        other => other,
    }
}

/// A step's state in a shopper's words, with its CSS class.
fn step_state(state: StepState) -> (&'static str, &'static str) {
    match state {
        StepState::Pending => ("Waiting", "pending"),
        StepState::Running => ("In progress", "running"),
        StepState::Retrying => ("Trying again", "retrying"),
        StepState::Succeeded => ("Done", "succeeded"),
        StepState::Failed => ("Did not work", "failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkout(state: &str) -> Checkout {
        serde_json::from_value(serde_json::json!({
            "checkout_id": uuid::Uuid::nil(), "state": state, "order_id": null, "failure": null,
            "steps": [
                {"name": "validate_details", "state": "succeeded", "attempts": 1, "error": null},
                {"name": "reserve_stock", "state": "retrying", "attempts": 2, "error": "timeout"},
                {"name": "something_new", "state": "pending", "attempts": 0, "error": null}
            ],
            "lines": [], "total": 0, "currency": "EUR", "created_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn steps_read_in_shopper_words() {
        let ctx = PageContext::default();
        let checkout = checkout("running");
        let view = CheckoutStatusView::new(&ctx, &checkout, "");
        let steps: Vec<_> = view.steps().iter().map(|s| (s.label, s.state)).collect();
        assert_eq!(
            steps,
            [
                ("Checking your details", "Done"),
                ("Reserving your items", "Trying again"),
                ("something_new", "Waiting"),
            ]
        );
        assert_eq!(step_label("place_order"), "Placing your order");
        assert_eq!(step_label("publish_order_placed"), "Confirming your order");
    }

    #[test]
    fn only_unfinished_checkouts_poll() {
        let ctx = PageContext::default();
        for (state, polls) in [
            ("running", true),
            ("compensating", true),
            ("completed", false),
            ("failed", false),
            ("stuck", false),
        ] {
            let checkout = checkout(state);
            let html = CheckoutStatusView::new(&ctx, &checkout, "").render().unwrap();
            assert_eq!(html.contains("hx-trigger"), polls, "{state}: {html}");
            assert_eq!(html.contains(r#"hx-trigger="every 1s""#), polls, "{state}");
        }
    }

    #[test]
    fn each_final_state_says_what_happened() {
        let ctx = PageContext::default();
        let mut failed = checkout("failed");
        failed.failure = Some("Only 2 of Sencha <green> left (you asked for 3).".into());
        let html = CheckoutStatusView::new(&ctx, &failed, "").render().unwrap();
        assert!(html.contains("Only 2 of Sencha &#60;green&#62; left") || html.contains("&lt;green&gt;"));
        assert!(html.contains(r#"href="/cart""#), "{html}");
        let stuck = checkout("stuck");
        let html = CheckoutStatusView::new(&ctx, &stuck, "").render().unwrap();
        assert!(html.contains("We are looking into your order"), "{html}");
        let mut completed = checkout("completed");
        completed.order_id = Some(uuid::Uuid::nil());
        let html = CheckoutStatusView::new(&ctx, &completed, "").render().unwrap();
        assert!(html.contains("Thank you, your order is placed"), "{html}");
        assert!(html.contains(&format!(r#"action="/orders/{}/cancel""#, uuid::Uuid::nil())));
        let html = CheckoutStatusView::new(&ctx, &completed, "cancelled").render().unwrap();
        assert!(
            html.contains("Your order is cancelled") && !html.contains("/cancel\""),
            "{html}"
        );
    }
}
