//! How the pages show a product and its stock trail.

use api::catalog::{Availability, Product, StockChange};

use crate::money::format_money;

/// A product in the pages' words.
pub trait ProductShown {
    /// Where pages load the product's picture from: the uploaded image through this site
    /// (product-order's address stays internal), else the image address, if any.
    fn picture(&self) -> Option<String>;
    fn price_label(&self) -> String;
    /// "In stock", "Only 3 left", "Out of stock".
    fn availability_label(&self) -> String;
    /// The CSS class of the availability badge.
    fn availability_class(&self) -> &'static str;
    /// The first letter of the name, for a picture placeholder.
    fn initial(&self) -> char;
    /// Low or out of stock: worth an operator's attention.
    fn needs_restock(&self) -> bool;
    fn is_out(&self) -> bool;
}

impl ProductShown for Product {
    fn picture(&self) -> Option<String> {
        match &self.uploaded_image {
            Some(image) => Some(format!("/products/{}/images/{}", self.id, image.sha256)),
            None => self.image_url.clone(),
        }
    }

    fn price_label(&self) -> String {
        format_money(self.price, &self.currency)
    }

    fn availability_label(&self) -> String {
        match self.availability {
            Availability::InStock => "In stock".into(),
            Availability::Low => format!("Only {} left", self.stock),
            Availability::Out => "Out of stock".into(),
        }
    }

    fn availability_class(&self) -> &'static str {
        match self.availability {
            Availability::InStock => "in-stock",
            Availability::Low => "low",
            Availability::Out => "out",
        }
    }

    fn initial(&self) -> char {
        self.name
            .chars()
            .find(|c| c.is_alphanumeric())
            .map_or('?', |c| c.to_uppercase().next().unwrap_or(c))
    }

    fn needs_restock(&self) -> bool {
        self.availability != Availability::InStock
    }

    fn is_out(&self) -> bool {
        self.availability == Availability::Out
    }
}

/// An entry of a product's stock trail in the pages' words.
pub trait StockChangeShown {
    /// When, to the minute (UTC).
    fn when(&self) -> String;
    /// Who made the change, shortened (the full id is in the title).
    fn by_short(&self) -> String;
    /// "+5", "-3".
    fn delta(&self) -> String;
}

impl StockChangeShown for StockChange {
    fn when(&self) -> String {
        self.changed_at.format("%Y-%m-%d %H:%M").to_string()
    }

    fn by_short(&self) -> String {
        self.changed_by.simple().to_string()[..8].to_owned()
    }

    fn delta(&self) -> String {
        format!("{:+}", i64::from(self.to) - i64::from(self.from))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    use super::*;

    fn product(stock: i32) -> Product {
        serde_json::from_value::<Product>(serde_json::json!({
            "id": Uuid::nil(), "sku": "TEA-1", "name": "Tea", "description": "", "price": 1290,
            "currency": "EUR", "stock": stock, "availability": Availability::of(stock), "active": true,
            "image_url": null, "uploaded_image": null,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn availability_reads_like_a_shop() {
        assert_eq!(product(40).availability_label(), "In stock");
        assert_eq!(product(3).availability_label(), "Only 3 left");
        assert_eq!(product(0).availability_label(), "Out of stock");
        assert_eq!(product(1).price_label(), "€12.90");
        assert!(product(0).is_out() && product(3).needs_restock() && !product(40).needs_restock());
    }

    #[test]
    fn stock_changes_show_their_delta() {
        let change = StockChange {
            changed_at: DateTime::<Utc>::from_timestamp(0, 0).unwrap(),
            changed_by: Uuid::nil(),
            from: 10,
            to: 7,
            reason: "broken".into(),
        };
        assert_eq!(change.delta(), "-3");
        assert_eq!(
            StockChange {
                to: 15,
                ..change.clone()
            }
            .delta(),
            "+5"
        );
        assert_eq!(change.when(), "1970-01-01 00:00");
    }
}
