//! The cart: its page, adding from a product page, changing and removing lines. Guests keep
//! a cart too (by a token in the `shop_cart` cookie); it joins the account's cart at login.
//! With htmx, changes answer the changed part and the header badge (out of band); without,
//! they redirect (303) to the cart.

mod holder;
pub mod shown;
pub mod views;

use api::catalog::{Cart, Product};
use axum::Extension;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::catalog::views::ProductView;
use crate::clients::product_order::{Caller, ProductOrderCallError};
use crate::csrf;
use crate::error::{AppForm, WebError, parse_id};
use crate::render::{PageContext, fragment, page, see_other};
pub use holder::{CartHolder, HeaderCart, join_guest_cart, load_header_cart};
use views::{AddToCartView, CartView, MAX_QUANTITY};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cart", get(cart_page))
        .route("/cart/items", post(add_to_cart))
        .route("/cart/items/{product_id}", post(update_line))
        .route("/cart/items/{product_id}/remove", post(remove_line))
}

#[derive(Deserialize)]
struct AddForm {
    #[serde(default)]
    product_id: String,
    #[serde(default)]
    quantity: String,
}

#[derive(Deserialize)]
struct QuantityForm {
    #[serde(default)]
    quantity: String,
}

/// A change to a line that product-order (or the form check) refused.
struct LineError {
    status: StatusCode,
    message: String,
}

impl LineError {
    fn invalid(message: String) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message,
        }
    }

    /// The reason a shopper can act on, or the error page for anything else.
    fn of(error: ProductOrderCallError) -> Result<Self, WebError> {
        match error {
            ProductOrderCallError::Refused(refusal) => Ok(Self {
                status: StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::CONFLICT),
                message: refusal.message_for("quantity"),
            }),
            ProductOrderCallError::NotFound => Ok(Self {
                status: StatusCode::NOT_FOUND,
                message: "This product is no longer in the catalog.".into(),
            }),
            other => Err(other.into()),
        }
    }
}

/// A quantity typed into a form: a whole number from 1 to 99.
pub fn parse_quantity(raw: &str) -> Result<i64, String> {
    match raw.trim().parse::<i64>() {
        Ok(quantity) if (1..=MAX_QUANTITY).contains(&quantity) => Ok(quantity),
        _ => Err(format!("Choose a quantity from 1 to {MAX_QUANTITY}.")),
    }
}

async fn cart_page(
    State(state): State<AppState>,
    mut ctx: PageContext,
    holder: CartHolder,
    loaded: Option<Extension<HeaderCart>>,
) -> Result<Response, WebError> {
    let cart = match (loaded, holder.caller()) {
        (Some(Extension(HeaderCart(cart))), _) => Cart::clone(&cart),
        (None, Some(caller)) => state.product_order.cart(caller).await?,
        (None, None) => Cart::default(),
    };
    Ok(show_cart(&mut ctx, StatusCode::OK, &cart, None))
}

async fn add_to_cart(
    State(state): State<AppState>,
    mut ctx: PageContext,
    holder: CartHolder,
    AppForm(form): AppForm<AddForm>,
) -> Result<Response, WebError> {
    let product_id = parse_id(&form.product_id)?;
    let product = state.product_order.product(Caller::Anonymous, product_id).await?;
    // A visitor's first item starts a guest cart.
    let (holder, new_guest) = match holder {
        CartHolder::Nobody => {
            let token =
                csrf::new_token().map_err(|e| WebError::Internal(format!("no randomness for a cart token: {e}")))?;
            (CartHolder::Guest(token.clone()), Some(token))
        }
        holder => (holder, None),
    };
    let caller = holder
        .caller()
        .ok_or_else(|| WebError::Internal("a cart without a holder".into()))?;
    match add(&state, caller, &product, &form.quantity).await? {
        Ok((quantity, cart)) => {
            let secure = state.settings.secure_cookies;
            let cookie = new_guest.map(|token| holder::guest_cookie(&token, secure));
            let answer = if ctx.partial {
                fragment(StatusCode::OK, &AddToCartView::added(&ctx, &product, quantity, &cart))
            } else {
                see_other(&ctx, "/cart")
            };
            Ok((cookie, answer).into_response())
        }
        Err(error) if ctx.partial => {
            let view = AddToCartView::refused(&ctx, &product, &form.quantity, error.message);
            Ok(fragment(error.status, &view))
        }
        Err(error) => {
            if let Some(caller) = holder.caller().filter(|_| new_guest.is_none()) {
                ctx.cart_count = state.product_order.cart(caller).await.ok().map(|c| c.item_count);
            }
            let view = ProductView::new(
                &product,
                AddToCartView::refused(&ctx, &product, &form.quantity, error.message),
            );
            Ok(page(&ctx, error.status, &product.name, &view))
        }
    }
}

/// Adds `raw_quantity` of `product` to what the cart already holds; answers the quantity
/// added and the cart after.
/// Adds to the cart; product-order adds atomically and says when stock or the limit refuse it.
async fn add(
    state: &AppState,
    caller: Caller<'_>,
    product: &Product,
    raw_quantity: &str,
) -> Result<Result<(i64, Cart), LineError>, WebError> {
    let quantity = match parse_quantity(raw_quantity) {
        Ok(quantity) => quantity,
        Err(message) => return Ok(Err(LineError::invalid(message))),
    };
    match state.product_order.add_to_cart(caller, product.id, quantity).await {
        Ok(cart) => Ok(Ok((quantity, cart))),
        Err(e) => Ok(Err(LineError::of(e)?)),
    }
}

async fn update_line(
    State(state): State<AppState>,
    ctx: PageContext,
    holder: CartHolder,
    Path(product_id): Path<String>,
    AppForm(form): AppForm<QuantityForm>,
) -> Result<Response, WebError> {
    let product_id = parse_id(&product_id)?;
    let Some(caller) = holder.caller() else {
        return Ok(see_other(&ctx, "/cart"));
    };
    let outcome = match parse_quantity(&form.quantity) {
        Err(message) => Err(LineError::invalid(message)),
        Ok(quantity) => match state
            .product_order
            .set_cart_quantity(caller, product_id, quantity)
            .await
        {
            Ok(cart) => Ok(cart),
            Err(e) => Err(LineError::of(e)?),
        },
    };
    changed(&state, ctx, caller, product_id, outcome).await
}

async fn remove_line(
    State(state): State<AppState>,
    ctx: PageContext,
    holder: CartHolder,
    Path(product_id): Path<String>,
) -> Result<Response, WebError> {
    let product_id = parse_id(&product_id)?;
    let Some(caller) = holder.caller() else {
        return Ok(see_other(&ctx, "/cart"));
    };
    let outcome = match state.product_order.remove_from_cart(caller, product_id).await {
        Ok(cart) => Ok(cart),
        Err(e) => Err(LineError::of(e)?),
    };
    changed(&state, ctx, caller, product_id, outcome).await
}

/// The answer to a change of the cart: the cart (htmx) or a redirect to it, or the cart
/// with the reason next to the line when the change was refused.
async fn changed(
    state: &AppState,
    mut ctx: PageContext,
    caller: Caller<'_>,
    product_id: Uuid,
    outcome: Result<Cart, LineError>,
) -> Result<Response, WebError> {
    match outcome {
        Ok(cart) if ctx.partial => Ok(show_cart(&mut ctx, StatusCode::OK, &cart, None)),
        Ok(_) => Ok(see_other(&ctx, "/cart")),
        Err(error) => {
            let cart = state.product_order.cart(caller).await?;
            Ok(show_cart(
                &mut ctx,
                error.status,
                &cart,
                Some((product_id, error.message)),
            ))
        }
    }
}

fn show_cart(ctx: &mut PageContext, status: StatusCode, cart: &Cart, line_error: Option<(Uuid, String)>) -> Response {
    ctx.cart_count = Some(cart.item_count);
    page(ctx, status, "Your cart", &CartView::new(ctx, cart, line_error))
}

#[cfg(test)]
mod tests {
    use super::parse_quantity;

    #[test]
    fn quantities_are_whole_numbers_from_1_to_99() {
        assert_eq!(parse_quantity("1"), Ok(1));
        assert_eq!(parse_quantity(" 99 "), Ok(99));
        for raw in ["", "0", "100", "-1", "1.5", "two", "1e2"] {
            assert!(parse_quantity(raw).is_err(), "{raw:?}");
        }
    }
}
