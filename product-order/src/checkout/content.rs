//! What a checkout orders, fixed when it starts: the cart's lines at their prices then, in the
//! cart's one currency, for the total the shopper reviewed. A cart that does not make such an
//! order is refused here, before anything is recorded.

use contracts::events::OrderLine;

use crate::cart;
use crate::cart::store::CartLine;
use crate::catalog::domain::Money;
use crate::error::{ProductOrderError, Result};

/// The lines, total and currency of the order a checkout places.
#[derive(Debug, PartialEq, Eq)]
pub struct OrderContent {
    pub lines: Vec<OrderLine>,
    pub total: i64,
    pub currency: String,
}

impl OrderContent {
    /// The order `cart` makes, when it is one order the shopper saw: not empty, every line in
    /// one currency (an operator may have changed a product's since it was added), at the
    /// total `reviewed` (a price may have changed since the shopper looked).
    pub fn of(cart: &[CartLine], reviewed: &Money) -> Result<Self> {
        let currencies = cart::currencies(cart);
        let Some(currency) = currencies.first().map(|c| (*c).to_owned()) else {
            return Err(ProductOrderError::EmptyCart);
        };
        if currencies.len() > 1 {
            return Err(ProductOrderError::MixedCurrencies {
                others: cart
                    .iter()
                    .filter(|l| l.currency != currency)
                    .map(|l| (l.name.clone(), l.currency.clone()))
                    .collect(),
                currency,
            });
        }
        let lines: Vec<OrderLine> = cart
            .iter()
            .map(|l| OrderLine {
                product_id: l.product_id,
                sku: l.sku.clone(),
                name: l.name.clone(),
                unit_price: l.price,
                quantity: l.quantity,
            })
            .collect();
        let total = lines.iter().map(|l| l.unit_price * i64::from(l.quantity)).sum();
        if total != reviewed.minor || currency != reviewed.currency.as_str() {
            return Err(ProductOrderError::PricesChanged { total, currency });
        }
        Ok(Self { lines, total, currency })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::money::Currency;

    fn line(name: &str, price: i64, quantity: i32, currency: &str) -> CartLine {
        CartLine {
            product_id: uuid::Uuid::new_v4(),
            sku: name.to_uppercase(),
            name: name.into(),
            price,
            currency: currency.into(),
            stock: 10,
            active: true,
            image_url: None,
            quantity,
            checkout_id: None,
        }
    }

    fn reviewed(minor: i64, currency: &str) -> Money {
        Money {
            minor,
            currency: Currency::parse(currency).unwrap(),
        }
    }

    #[test]
    fn a_cart_as_reviewed_is_the_order() {
        let cart = [line("Sencha", 1290, 2, "EUR"), line("Teapot", 3490, 1, "EUR")];
        let content = OrderContent::of(&cart, &reviewed(6070, "EUR")).expect("one order");
        assert_eq!((content.total, content.currency.as_str()), (6070, "EUR"));
        assert_eq!(content.lines.len(), 2);
        assert_eq!(content.lines[0].unit_price, 1290);
    }

    #[test]
    fn an_empty_cart_is_no_order() {
        let refused = OrderContent::of(&[], &reviewed(0, "EUR"));
        assert!(matches!(refused, Err(ProductOrderError::EmptyCart)), "{refused:?}");
    }

    #[test]
    fn lines_in_another_currency_than_the_first_are_named() {
        let cart = [
            line("Sencha", 1000, 1, "EUR"),
            line("Teapot", 500, 1, "USD"),
            line("Kettle", 700, 1, "EUR"),
        ];
        match OrderContent::of(&cart, &reviewed(1500, "EUR")) {
            Err(ProductOrderError::MixedCurrencies { currency, others }) => {
                assert_eq!(currency, "EUR");
                assert_eq!(others, [("Teapot".to_owned(), "USD".to_owned())]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn another_total_or_currency_than_reviewed_is_refused_with_the_total_now() {
        let cart = [line("Sencha", 1500, 2, "EUR")];
        for seen in [reviewed(2580, "EUR"), reviewed(3000, "USD")] {
            match OrderContent::of(&cart, &seen) {
                Err(ProductOrderError::PricesChanged { total, currency }) => {
                    assert_eq!((total, currency.as_str()), (3000, "EUR"));
                }
                other => panic!("{seen:?}: {other:?}"),
            }
        }
    }
}
