//! The cart page and the add-to-cart form.

use api::catalog::{Cart, Product};
use askama::Template;
use uuid::Uuid;

use crate::cart::shown::{CartItemShown as _, CartShown as _};
use crate::catalog::shown::ProductShown as _;
use crate::render::{CartBadge, PageContext};

/// The most of one product a cart holds.
pub const MAX_QUANTITY: i64 = 99;

/// The cart (`#cart`): the main content of /cart, and what htmx swaps after a change.
#[derive(Template)]
#[template(path = "cart/cart.html")]
pub struct CartView<'a> {
    pub csrf_token: &'a str,
    pub cart: &'a Cart,
    /// A change to this line was refused, for this reason.
    pub line_error: Option<(Uuid, String)>,
    /// For htmx answers: the header badge, swapped out of band.
    pub oob_badge: Option<CartBadge>,
}

impl<'a> CartView<'a> {
    pub fn new(ctx: &'a PageContext, cart: &'a Cart, line_error: Option<(Uuid, String)>) -> Self {
        Self {
            csrf_token: &ctx.csrf_token,
            cart,
            line_error,
            oob_badge: ctx.partial.then(|| CartBadge::out_of_band(cart.item_count)),
        }
    }

    /// The error to show under the line of `product_id`.
    pub fn error_for(&self, product_id: &Uuid) -> Option<&str> {
        self.line_error
            .as_ref()
            .filter(|(id, _)| id == product_id)
            .map(|(_, message)| message.as_str())
    }
}

/// The add-to-cart form of a product (`#add-to-cart`), with its outcome.
#[derive(Template)]
#[template(path = "cart/add_to_cart.html")]
pub struct AddToCartView<'a> {
    pub csrf_token: &'a str,
    pub product_id: Uuid,
    pub product_name: &'a str,
    /// The largest quantity worth offering.
    pub max_quantity: i64,
    pub out_of_stock: bool,
    /// The quantity field's value.
    pub quantity: String,
    /// Why the product was not added (shown under the quantity).
    pub error: Option<String>,
    /// What was added (a confirmation).
    pub added: Option<String>,
    /// For htmx answers that changed the cart: the header badge, swapped out of band.
    pub oob_badge: Option<CartBadge>,
}

impl<'a> AddToCartView<'a> {
    /// The empty form.
    pub fn new(ctx: &'a PageContext, product: &'a Product) -> Self {
        Self {
            csrf_token: &ctx.csrf_token,
            product_id: product.id,
            product_name: &product.name,
            max_quantity: i64::from(product.stock).clamp(1, MAX_QUANTITY),
            out_of_stock: product.is_out(),
            quantity: "1".into(),
            error: None,
            added: None,
            oob_badge: None,
        }
    }

    /// The form after `quantity` was added, leaving `cart`.
    pub fn added(ctx: &'a PageContext, product: &'a Product, quantity: i64, cart: &Cart) -> Self {
        Self {
            added: Some(format!("Added {quantity} × {} to your cart.", product.name)),
            oob_badge: Some(CartBadge::out_of_band(cart.item_count)),
            ..Self::new(ctx, product)
        }
    }

    /// The form with `quantity` kept and why it was refused.
    pub fn refused(ctx: &'a PageContext, product: &'a Product, quantity: &str, error: String) -> Self {
        Self {
            quantity: quantity.trim().to_owned(),
            error: Some(error),
            ..Self::new(ctx, product)
        }
    }
}
