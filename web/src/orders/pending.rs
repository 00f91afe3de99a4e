//! Orders not in the shopper's history yet. Customer learns of an order from product-order's
//! events, a moment after the checkout placed it; until then the shopper's recent checkouts
//! say it exists, so a just-placed order never seems missing.

use api::checkout::CheckoutSummary;
use chrono::{DateTime, Utc};
use saga_core::InstanceState;
use uuid::Uuid;

use crate::clients::customer::OrderPage;

/// An order on its way: placed but not in the history yet, or still being placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingOrder {
    pub checkout_id: Uuid,
    /// None while the checkout has not placed it yet.
    pub order_id: Option<Uuid>,
    /// When the checkout started.
    pub since: DateTime<Utc>,
}

impl PendingOrder {
    /// The checkout page, which follows the order until it is placed.
    pub fn path(&self) -> String {
        format!("/checkouts/{}", self.checkout_id)
    }
}

/// The checkouts (newest first) whose order is missing from `first_page` of the history: it
/// is placed but not listed, or the checkout is still running. When the history has more
/// pages, an order placed before the oldest one listed is on a later page, not missing.
pub fn pending_orders(first_page: &OrderPage, checkouts: &[CheckoutSummary]) -> Vec<PendingOrder> {
    let listed_since = first_page
        .next_cursor
        .and(first_page.items.last())
        .map(|oldest| oldest.placed_at);
    checkouts
        .iter()
        .filter(|checkout| match checkout.order_id {
            Some(order_id) => {
                !first_page.items.iter().any(|order| order.id == order_id)
                    && listed_since.is_none_or(|oldest| checkout.created_at >= oldest)
            }
            None => checkout.state == InstanceState::Running,
        })
        .map(|checkout| PendingOrder {
            checkout_id: checkout.checkout_id,
            order_id: checkout.order_id,
            since: checkout.created_at,
        })
        .collect()
}

/// The checkout that placed `order_id`, among the shopper's recent ones.
pub fn checkout_of(order_id: Uuid, checkouts: &[CheckoutSummary]) -> Option<&CheckoutSummary> {
    checkouts.iter().find(|checkout| checkout.order_id == Some(order_id))
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use contracts::OrderStatus;

    use super::*;
    use crate::clients::customer::OrderSummary;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap() + TimeDelta::minutes(minute)
    }

    fn order(id: Uuid, minute: i64) -> OrderSummary {
        OrderSummary {
            id,
            status: OrderStatus::Placed,
            total: 100,
            currency: "EUR".into(),
            item_count: 1,
            placed_at: at(minute),
            updated_at: at(minute),
        }
    }

    fn checkout(state: InstanceState, order_id: Option<Uuid>, minute: i64) -> CheckoutSummary {
        CheckoutSummary {
            checkout_id: Uuid::new_v4(),
            state,
            order_id,
            failure: None,
            created_at: at(minute),
        }
    }

    #[test]
    fn placed_orders_missing_from_the_history_and_running_checkouts_are_pending() {
        let (listed, missing) = (Uuid::new_v4(), Uuid::new_v4());
        let page = OrderPage {
            items: vec![order(listed, 5)],
            next_cursor: None,
        };
        let checkouts = [
            checkout(InstanceState::Running, None, 9),
            checkout(InstanceState::Completed, Some(missing), 8),
            checkout(InstanceState::Failed, None, 7),
            checkout(InstanceState::Compensating, None, 6),
            checkout(InstanceState::Completed, Some(listed), 5),
        ];
        let pending = pending_orders(&page, &checkouts);
        let orders: Vec<_> = pending.iter().map(|p| p.order_id).collect();
        assert_eq!(orders, [None, Some(missing)]);
        assert_eq!(pending[0].path(), format!("/checkouts/{}", checkouts[0].checkout_id));
    }

    #[test]
    fn orders_older_than_a_full_first_page_are_on_a_later_page() {
        let (newest, oldest_listed, on_page_two) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let page = OrderPage {
            items: vec![order(newest, 10), order(oldest_listed, 5)],
            next_cursor: Some(oldest_listed),
        };
        let just_placed = Uuid::new_v4();
        let checkouts = [
            checkout(InstanceState::Completed, Some(just_placed), 11),
            checkout(InstanceState::Completed, Some(newest), 10),
            checkout(InstanceState::Completed, Some(on_page_two), 3),
        ];
        let pending = pending_orders(&page, &checkouts);
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].order_id, Some(just_placed));
        assert_eq!(checkout_of(on_page_two, &checkouts).map(|c| c.created_at), Some(at(3)));
        assert!(checkout_of(Uuid::new_v4(), &checkouts).is_none());
    }

    #[test]
    fn an_empty_history_and_no_checkouts_have_nothing_pending() {
        let page = OrderPage {
            items: vec![],
            next_cursor: None,
        };
        assert!(pending_orders(&page, &[]).is_empty());
    }
}
