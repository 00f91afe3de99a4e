//! How the pages show a cart and its lines.

use api::catalog::{Cart, CartItem};
use api::checkout::ReviewedForm;

use crate::money::format_money;

/// A cart in the pages' words.
pub trait CartShown {
    /// `minor` in the cart's currency (templates hand over references).
    fn money(&self, minor: impl std::borrow::Borrow<i64>) -> String;
    fn has_problems(&self) -> bool;
    /// The total and currency this cart shows, what a checkout of it sends as reviewed; None
    /// while empty.
    fn reviewed(&self) -> Option<ReviewedForm>;
}

impl CartShown for Cart {
    fn money(&self, minor: impl std::borrow::Borrow<i64>) -> String {
        format_money(*minor.borrow(), self.currency.as_deref().unwrap_or("EUR"))
    }

    fn has_problems(&self) -> bool {
        self.items.iter().any(|l| l.problem.is_some())
    }

    fn reviewed(&self) -> Option<ReviewedForm> {
        self.currency.as_ref().map(|currency| ReviewedForm {
            total: Some(self.total),
            currency: Some(currency.clone()),
        })
    }
}

/// A cart line in the pages' words.
pub trait CartItemShown {
    /// `minor` in the line's currency (templates hand over references).
    fn money(&self, minor: impl std::borrow::Borrow<i64>) -> String;
}

impl CartItemShown for CartItem {
    fn money(&self, minor: impl std::borrow::Borrow<i64>) -> String {
        format_money(*minor.borrow(), &self.currency)
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

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
