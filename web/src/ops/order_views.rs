//! The operator's order pages.

use askama::Template;
use contracts::OrderStatus;
use uuid::Uuid;

use super::OperatorSession;
use crate::clients::product_order::{LowStock, OpsOrder, OpsOrderDetail, OrderStatusEntry};
use crate::listing::LoadMore;
use crate::orders::views::{short_id, status_label};
use crate::render::PageContext;

/// The address of the order list of `status` (all when None), from `cursor` on.
pub fn orders_url(status: Option<OrderStatus>, cursor: Option<Uuid>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(status) = status {
        query.append_pair("status", status.as_str());
    }
    if let Some(cursor) = cursor {
        query.append_pair("cursor", &cursor.to_string());
    }
    let query = query.finish();
    if query.is_empty() {
        "/ops/orders".to_owned()
    } else {
        format!("/ops/orders?{query}")
    }
}

/// One choice of the status filter.
pub struct StatusFilter {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

/// /ops/orders: the status filter, a page of orders and "Load more", and the products about
/// to run out, lowest stock first.
#[derive(Template)]
#[template(path = "ops/orders.html")]
pub struct OpsOrdersView<'a> {
    pub status: Option<OrderStatus>,
    pub filters: Vec<StatusFilter>,
    pub orders: &'a [OpsOrder],
    /// This page continues an earlier one (opened without JavaScript).
    pub continued: bool,
    pub load_more: LoadMore,
    pub low_stock: &'a LowStock,
}

impl<'a> OpsOrdersView<'a> {
    pub fn new(
        status: Option<OrderStatus>,
        orders: &'a [OpsOrder],
        continued: bool,
        load_more: LoadMore,
        low_stock: &'a LowStock,
    ) -> Self {
        let all = StatusFilter {
            label: "All",
            href: orders_url(None, None),
            current: status.is_none(),
        };
        let filters = std::iter::once(all)
            .chain(OrderStatus::ALL.into_iter().map(|s| StatusFilter {
                label: status_label(&s),
                href: orders_url(Some(s), None),
                current: status == Some(s),
            }))
            .collect();
        Self {
            status,
            filters,
            orders,
            continued,
            load_more,
            low_stock,
        }
    }

    /// The filter's status in words, lower case ("placed"), for the empty state.
    pub fn status_name(&self) -> &'static str {
        self.status.map_or("", OrderStatus::as_str)
    }
}

/// An order's row in the operators' order board.
#[derive(Template)]
#[template(path = "ops/order_row.html")]
pub struct OpsOrderRow<'a> {
    pub order: &'a OpsOrder,
}

/// /ops/orders/{id}: the order, its lines and history, and one form per move it may make.
#[derive(Template)]
#[template(path = "ops/order.html")]
pub struct OpsOrderView<'a> {
    pub csrf_token: &'a str,
    /// The operator looking, to tell their own changes.
    pub operator_id: Uuid,
    pub detail: &'a OpsOrderDetail,
    pub order: &'a OpsOrder,
    /// What the last move did.
    pub notice: Option<String>,
    /// Why the move just tried was refused.
    pub error: Option<String>,
    /// The move just tried (as sent) and the reason typed for it, kept in its form.
    pub attempted: Option<(String, String)>,
}

impl<'a> OpsOrderView<'a> {
    pub fn new(ctx: &'a PageContext, operator: &OperatorSession, detail: &'a OpsOrderDetail) -> Self {
        Self {
            csrf_token: &ctx.csrf_token,
            operator_id: operator.user.id,
            detail,
            order: &detail.order,
            notice: None,
            error: None,
            attempted: None,
        }
    }

    /// With the notice for `?done=<status>` after a move.
    pub fn with_notice(self, done: &str) -> Self {
        let notice = done
            .parse::<OrderStatus>()
            .ok()
            .map(|status| format!("Order moved to {}.", status_label(&status).to_lowercase()));
        Self { notice, ..self }
    }

    /// With why the move to `status` was refused, and the reason typed for it.
    pub fn with_refusal(self, message: String, status: String, reason: String) -> Self {
        Self {
            error: Some(message),
            attempted: Some((status.trim().to_owned(), reason)),
            ..self
        }
    }

    pub fn title(&self) -> String {
        format!("Order {} · Operator", short_id(&self.order.id))
    }

    /// The button of the move to `to`.
    pub fn move_label(&self, to: &OrderStatus) -> &'static str {
        match to {
            OrderStatus::Placed => "Mark as placed",
            OrderStatus::Confirmed => "Confirm order",
            OrderStatus::Shipped => "Mark as shipped",
            OrderStatus::Delivered => "Mark as delivered",
            OrderStatus::Cancelled => "Cancel order",
        }
    }

    /// The reason typed for the move to `to` before it was refused.
    pub fn reason_for(&self, to: &OrderStatus) -> &str {
        match &self.attempted {
            Some((status, reason)) if status == to.as_str() => reason,
            _ => "",
        }
    }

    /// Who made a change: the shop on its own, the customer, this operator or another.
    pub fn changed_by(&self, entry: &OrderStatusEntry) -> String {
        match entry.changed_by {
            None => "The shop".into(),
            Some(id) if id == self.order.customer_id => "The customer".into(),
            Some(id) if id == self.operator_id => "You".into(),
            Some(id) => format!("Operator {}", short_id(&id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::CurrentUser;

    fn order_detail(status: &str, moves: &[&str]) -> OpsOrderDetail {
        serde_json::from_value(serde_json::json!({
            "id": Uuid::nil(), "checkout_id": Uuid::nil(), "customer_id": Uuid::from_u128(7),
            "status": status, "version": 2, "total": 1290, "currency": "EUR",
            "contact": {"name": "Ada <L>", "email": "ada@example.com", "phone": "+44"},
            "delivery": {"line1": "1 Square", "line2": "", "city": "London", "postal_code": "SW1", "country": "GB"},
            "placed_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "allowed_moves": moves,
            "lines": [{"product_id": Uuid::nil(), "sku": "TEA-1", "name": "Sencha", "unit_price": 1290, "quantity": 1}],
            "history": [
                {"version": 1, "status": "placed", "previous_status": null, "changed_by": null, "reason": null, "at": "2026-01-01T00:00:00Z"},
                {"version": 2, "status": "confirmed", "previous_status": "placed", "changed_by": Uuid::from_u128(9), "reason": "paid <now>", "at": "2026-01-01T01:00:00Z"}
            ]
        }))
        .unwrap()
    }

    fn operator() -> OperatorSession {
        OperatorSession {
            user: CurrentUser {
                id: Uuid::from_u128(9),
                name: "Op".into(),
                email: "op@example.com".into(),
                role: contracts::Role::Operator,
            },
            access_token: "jwt".into(),
        }
    }

    #[test]
    fn only_the_allowed_moves_are_offered() {
        let ctx = PageContext::default();
        let detail = order_detail("confirmed", &["shipped", "cancelled"]);
        let html = OpsOrderView::new(&ctx, &operator(), &detail).render().unwrap();
        for (status, offered) in [
            ("placed", false),
            ("confirmed", false),
            ("shipped", true),
            ("delivered", false),
            ("cancelled", true),
        ] {
            let field = format!(r#"name="status" value="{status}""#);
            assert_eq!(html.contains(&field), offered, "{status}: {html}");
        }
        assert!(html.contains(r#"action="/ops/orders/00000000-0000-0000-0000-000000000000/status""#));
        assert!(
            html.contains("paid &#60;now&#62;") || html.contains("paid &lt;now&gt;"),
            "{html}"
        );
        assert!(html.contains(">You<") && html.contains(">The shop<"), "{html}");
        let done = order_detail("delivered", &[]);
        let html = OpsOrderView::new(&ctx, &operator(), &done).render().unwrap();
        assert!(!html.contains(r#"name="status""#), "{html}");
    }

    #[test]
    fn a_refused_move_keeps_its_reason_and_says_why() {
        let ctx = PageContext::default();
        let detail = order_detail("placed", &["confirmed", "cancelled"]);
        let view = OpsOrderView::new(&ctx, &operator(), &detail).with_refusal(
            "Not now.".into(),
            "cancelled".into(),
            "out of stock".into(),
        );
        assert_eq!(view.reason_for(&OrderStatus::Cancelled), "out of stock");
        assert_eq!(view.reason_for(&OrderStatus::Confirmed), "");
        let html = view.render().unwrap();
        assert!(
            html.contains("Not now.") && html.contains(r#"value="out of stock""#),
            "{html}"
        );
    }

    #[test]
    fn the_filter_and_notices_read_well() {
        assert_eq!(orders_url(None, None), "/ops/orders");
        assert_eq!(
            orders_url(Some(OrderStatus::Shipped), Some(Uuid::nil())),
            "/ops/orders?status=shipped&cursor=00000000-0000-0000-0000-000000000000"
        );
        let ctx = PageContext::default();
        let detail = order_detail("confirmed", &[]);
        let view = OpsOrderView::new(&ctx, &operator(), &detail).with_notice("confirmed");
        assert_eq!(view.notice.as_deref(), Some("Order moved to confirmed."));
        let view = OpsOrderView::new(&ctx, &operator(), &detail).with_notice("<script>");
        assert_eq!(view.notice, None);
    }
}
