//! The shopper's order pages, and how statuses, times and ids read on every order page
//! (the operator's too).

use askama::Template;
use chrono::{DateTime, Utc};
use contracts::OrderStatus;
use uuid::Uuid;

use super::pending::PendingOrder;
use crate::clients::customer::{Order, OrderSummary};
use crate::listing::LoadMore;
use crate::render::PageContext;

/// The id of an order page's main part (`#order`), which htmx polls while the order is on
/// its way to the history.
pub const ORDER_PART: &str = "order";
/// The id of an order page's status part (`#order-status`), which htmx polls while the
/// order can still move.
pub const STATUS_PART: &str = "order-status";

/// A status in a shopper's words.
pub fn status_label(status: &OrderStatus) -> &'static str {
    match status {
        OrderStatus::Placed => "Placed",
        OrderStatus::Confirmed => "Confirmed",
        OrderStatus::Shipped => "Shipped",
        OrderStatus::Delivered => "Delivered",
        OrderStatus::Cancelled => "Cancelled",
    }
}

/// When, to the minute (UTC).
pub fn when(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// The last 8 hex digits of an id, for tables and titles (the full id goes in a title
/// attribute). Ids are UUIDv7, whose first digits are the time: ids made within the same
/// minute differ only at the end.
pub fn short_id(id: &Uuid) -> String {
    id.simple().to_string()[24..].to_owned()
}

/// /orders: the orders on their way, then the history, newest first, and "Load more".
#[derive(Template)]
#[template(path = "orders/list.html")]
pub struct OrdersView<'a> {
    pub pending: &'a [PendingOrder],
    pub orders: &'a [OrderSummary],
    /// This page continues an earlier one (opened without JavaScript).
    pub continued: bool,
    pub load_more: LoadMore,
}

/// An order's row in the shopper's order history.
#[derive(Template)]
#[template(path = "orders/row.html")]
pub struct OrderRow<'a> {
    pub order: &'a OrderSummary,
}

/// /orders/{id} (`#order`): the order, its delivery and contact details, and its status part.
#[derive(Template)]
#[template(path = "orders/order.html")]
pub struct OrderView<'a> {
    pub order: &'a Order,
    pub status: OrderStatusView<'a>,
}

impl<'a> OrderView<'a> {
    pub fn new(ctx: &'a PageContext, order: &'a Order, done: &str) -> Self {
        Self {
            order,
            status: OrderStatusView::new(ctx, order, done),
        }
    }

    pub fn title(&self) -> String {
        format!("Order {}", short_id(&self.order.id))
    }
}

/// The status part of an order page (`#order-status`): where the order stands, how it got
/// there and, while it may, the cancel form. While the order can still move, htmx fetches
/// it again every 2 seconds; once delivered or cancelled it carries no trigger.
#[derive(Template)]
#[template(path = "orders/status.html")]
pub struct OrderStatusView<'a> {
    pub csrf_token: &'a str,
    pub order: &'a Order,
    /// The shopper cancelled it from this page; the history may not say so yet.
    pub cancelled_here: bool,
}

impl<'a> OrderStatusView<'a> {
    pub fn new(ctx: &'a PageContext, order: &'a Order, done: &str) -> Self {
        Self {
            csrf_token: &ctx.csrf_token,
            order,
            cancelled_here: done == "cancelled",
        }
    }

    /// The order can still move: the part keeps polling.
    pub fn polls(&self) -> bool {
        !self.order.status.is_final()
    }

    /// The shopper may still cancel: the order has not shipped.
    pub fn cancellable(&self) -> bool {
        !self.cancelled_here && self.order.status.is_cancellable()
    }

    /// The order page's address (what htmx polls and the refresh link opens).
    pub fn path(&self) -> String {
        if self.cancelled_here {
            format!("/orders/{}?done=cancelled", self.order.id)
        } else {
            format!("/orders/{}", self.order.id)
        }
    }
}

/// /orders/{id} (`#order`) for an order placed but not in the history yet: polled every 2
/// seconds until the history has it, then replaced by the order.
#[derive(Template)]
#[template(path = "orders/processing.html")]
pub struct ProcessingView {
    pub order_id: Uuid,
    pub checkout_id: Uuid,
}

/// A page telling how cancelling an order went, with the way back.
#[derive(Template)]
#[template(path = "orders/notice.html")]
pub struct OrderNoticeView<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub back: &'a str,
    pub back_label: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(status: &str) -> Order {
        serde_json::from_value(serde_json::json!({
            "id": Uuid::nil(), "status": status, "total": 2580, "currency": "EUR",
            "lines": [{"product_id": Uuid::nil(), "sku": "TEA-1", "name": "Sencha <green>", "unit_price": 1290, "quantity": 2}],
            "contact": {"name": "Ada", "email": "ada@example.com", "phone": "+44"},
            "delivery": {"line1": "1 Square", "line2": "", "city": "London", "postal_code": "SW1", "country": "GB"},
            "placed_at": "2026-01-01T00:00:00Z",
            "status_history": [{"status": "placed", "at": "2026-01-01T00:00:00Z", "reason": null}]
        }))
        .unwrap()
    }

    #[test]
    fn only_orders_that_can_still_move_poll() {
        let ctx = PageContext::default();
        for (status, polls, cancellable) in [
            ("placed", true, true),
            ("confirmed", true, true),
            ("shipped", true, false),
            ("delivered", false, false),
            ("cancelled", false, false),
        ] {
            let order = order(status);
            let html = OrderStatusView::new(&ctx, &order, "").render().unwrap();
            assert_eq!(html.contains(r#"hx-trigger="every 2s""#), polls, "{status}: {html}");
            assert_eq!(html.contains("hx-trigger"), polls, "{status}");
            assert_eq!(html.contains(r#"id="cancel-order-form""#), cancellable, "{status}");
        }
    }

    #[test]
    fn the_status_part_polls_itself_and_keeps_what_was_done() {
        let ctx = PageContext::default();
        let placed = order("placed");
        let html = OrderStatusView::new(&ctx, &placed, "").render().unwrap();
        assert!(html.contains(r#"id="order-status""#), "{html}");
        assert!(html.contains(&format!(r#"hx-get="/orders/{}""#, Uuid::nil())), "{html}");
        assert!(html.contains(r#"hx-swap="outerHTML""#));
        assert!(html.contains(&format!(r#"action="/orders/{}/cancel""#, Uuid::nil())));
        let html = OrderStatusView::new(&ctx, &placed, "cancelled").render().unwrap();
        assert!(!html.contains("cancel-order-form"), "cancelled here: {html}");
        assert!(html.contains("?done=cancelled"), "{html}");
    }

    #[test]
    fn an_order_page_shows_its_lines_escaped() {
        let ctx = PageContext::default();
        let order = order("placed");
        let html = OrderView::new(&ctx, &order, "").render().unwrap();
        assert!(
            html.contains("Sencha &#60;green&#62;") || html.contains("Sencha &lt;green&gt;"),
            "{html}"
        );
        assert!(html.contains("€25.80") && html.contains("€12.90"), "{html}");
        assert!(html.contains("London") && html.contains("ada@example.com"));
    }

    #[test]
    fn statuses_and_ids_read_shortly() {
        assert_eq!(status_label(&OrderStatus::Delivered), "Delivered");
        assert_eq!(short_id(&Uuid::nil()), "00000000");
        let id = Uuid::parse_str("01a21397-a96f-7792-a2ff-f2cbd77c8255").unwrap();
        assert_eq!(short_id(&id), "d77c8255");
        let at = DateTime::<Utc>::from_timestamp(0, 0).unwrap();
        assert_eq!(when(&at), "1970-01-01 00:00");
    }
}
