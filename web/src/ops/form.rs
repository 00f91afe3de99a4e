//! The operator's product and stock forms: what they send, and its check before product-order
//! sees it (prices are typed as "12.90", product-order takes cents).

use api::catalog::Product;
use serde::Deserialize;

use crate::clients::product_order::{NewProduct, ProductChanges};
use crate::money::{amount_input, parse_amount};

pub use crate::fields::FieldErrors;

/// The currencies product-order sells in.
pub const CURRENCIES: [&str; 4] = ["EUR", "USD", "GBP", "CHF"];

/// The fields of the product form, as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProductForm {
    #[serde(default)]
    pub sku: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub price: String,
    #[serde(default)]
    pub currency: String,
    /// Only when creating; the edit page adjusts stock with its own form.
    #[serde(default)]
    pub stock: String,
    #[serde(default)]
    pub image_url: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    pub active: Option<String>,
}

impl ProductForm {
    /// The form of a new product.
    pub fn blank() -> Self {
        Self {
            currency: "EUR".into(),
            stock: "0".into(),
            active: Some("true".into()),
            ..Self::default()
        }
    }

    /// The form filled with `product` as it is.
    pub fn of(product: &Product) -> Self {
        Self {
            sku: product.sku.clone(),
            name: product.name.clone(),
            description: product.description.clone(),
            price: amount_input(product.price),
            currency: product.currency.clone(),
            stock: product.stock.to_string(),
            image_url: product.image_url.clone().unwrap_or_default(),
            active: product.active.then(|| "true".into()),
        }
    }

    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// The product to create, or the fields this form gets wrong on its own.
    pub fn new_product(&self) -> Result<NewProduct, FieldErrors> {
        let mut errors = FieldErrors::new();
        let price = parse_amount(&self.price)
            .map_err(|m| errors.insert("price".into(), m))
            .ok();
        let stock = match self.stock.trim() {
            "" => Some(0),
            raw => raw
                .parse::<i64>()
                .map_err(|_| errors.insert("stock".into(), "Enter the stock as a whole number.".into()))
                .ok(),
        };
        match (price, stock) {
            (Some(price), Some(stock)) => Ok(NewProduct {
                sku: self.sku.clone(),
                name: self.name.clone(),
                description: self.description.clone(),
                price,
                currency: self.currency.clone(),
                stock,
                image_url: self.image_url.clone(),
                active: self.is_active(),
            }),
            _ => Err(errors),
        }
    }

    /// Every field of the edit form as a change, or the fields it gets wrong on its own.
    pub fn changes(&self) -> Result<ProductChanges, FieldErrors> {
        let price = parse_amount(&self.price).map_err(|m| FieldErrors::from([("price".to_owned(), m)]))?;
        Ok(ProductChanges {
            sku: Some(self.sku.clone()),
            name: Some(self.name.clone()),
            description: Some(self.description.clone()),
            price: Some(price),
            currency: Some(self.currency.clone()),
            image_url: Some(self.image_url.clone()),
            active: Some(self.is_active()),
            ..ProductChanges::default()
        })
    }
}

/// The stock adjustment form.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StockForm {
    /// Units to add (or, negative, to take away).
    #[serde(default)]
    pub stock_delta: String,
    #[serde(default)]
    pub stock_reason: String,
}

impl StockForm {
    /// The adjustment, or the fields this form gets wrong on its own.
    pub fn changes(&self) -> Result<ProductChanges, FieldErrors> {
        let delta = parse_delta(&self.stock_delta).map_err(|m| FieldErrors::from([("stock_delta".to_owned(), m)]))?;
        Ok(ProductChanges {
            stock_delta: Some(delta),
            stock_reason: Some(self.stock_reason.clone()),
            ..ProductChanges::default()
        })
    }
}

/// A stock change typed as "5", "+5" or "-3"; zero changes nothing and is refused.
pub fn parse_delta(raw: &str) -> Result<i64, String> {
    const INVALID: &str = "Enter a change like 5 or -3.";
    let raw = raw.trim();
    let number = match raw.strip_prefix('+') {
        Some(rest) if !rest.starts_with(|c: char| c.is_ascii_digit()) => return Err(INVALID.into()),
        Some(rest) => rest,
        None => raw,
    };
    match number.parse::<i64>() {
        Ok(0) => Err("Enter a change other than 0.".into()),
        Ok(delta) => Ok(delta),
        Err(_) => Err(INVALID.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_are_signed_whole_numbers_other_than_zero() {
        assert_eq!(parse_delta("5"), Ok(5));
        assert_eq!(parse_delta(" +5 "), Ok(5));
        assert_eq!(parse_delta("-3"), Ok(-3));
        for raw in ["", "0", "+0", "1.5", "++1", "+-1", "five"] {
            assert!(parse_delta(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn a_new_product_needs_a_price_and_a_whole_stock() {
        let form = ProductForm {
            sku: "tea-1".into(),
            name: "Tea".into(),
            price: "12,90".into(),
            stock: "".into(),
            ..ProductForm::blank()
        };
        let product = form.new_product().unwrap();
        assert_eq!((product.price, product.stock, product.active), (1290, 0, true));
        let errors = ProductForm {
            price: "cheap".into(),
            stock: "lots".into(),
            ..form
        }
        .new_product()
        .unwrap_err();
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["price", "stock"]);
    }

    #[test]
    fn an_unticked_checkbox_deactivates() {
        let form = ProductForm {
            price: "1".into(),
            active: None,
            ..ProductForm::blank()
        };
        assert_eq!(form.changes().unwrap().active, Some(false));
    }
}
