//! Checkout: the details form (/checkout) sends the cart to product-order's checkout saga;
//! the page that follows it (/checkouts/{id}, polled by htmx while it runs) says when the
//! order is placed or why not, and offers to cancel the order placed (the orders module
//! does the cancelling).

pub(crate) mod form;
mod status;
pub mod views;

use api::ErrorCode;
use api::catalog::Cart;
use api::checkout::CountryOption;
use axum::Extension;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use crate::app::AppState;
use crate::cart::HeaderCart;
use crate::cart::shown::CartShown as _;
use crate::clients::product_order::{Caller, ProductOrderCallError, Refusal};
use crate::error::{AppForm, WebError, call_error};
use crate::render::{PageContext, page, see_other};
use crate::session::SignedIn;
use form::{CheckoutForm, FieldErrors, field_errors};
use views::CheckoutView;

/// The address of the checkout form.
const CHECKOUT_PATH: &str = "/checkout";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(CHECKOUT_PATH, get(checkout_page).post(start_checkout))
        .route("/checkouts/{id}", get(status::checkout_status_page))
}

async fn checkout_page(
    State(state): State<AppState>,
    mut ctx: PageContext,
    shopper: SignedIn,
    loaded: Option<Extension<HeaderCart>>,
) -> Result<Response, WebError> {
    let cart = loaded.map(|Extension(HeaderCart(cart))| Cart::clone(&cart));
    let (cart, countries) = cart_and_countries(&state, &shopper, cart).await?;
    let form = CheckoutForm::blank(&shopper.user);
    let no_errors = (FieldErrors::new(), Vec::new());
    Ok(show_form(&mut ctx, StatusCode::OK, &cart, &countries, form, no_errors))
}

/// Starts the checkout and follows it on its page; a refusal shows the form again with the
/// reasons by their fields and everything typed kept.
async fn start_checkout(
    State(state): State<AppState>,
    mut ctx: PageContext,
    shopper: SignedIn,
    AppForm(form): AppForm<CheckoutForm>,
) -> Result<Response, WebError> {
    let (Some(key), Some(reviewed)) = (form.idempotency_key(), form.reviewed()) else {
        return Err(WebError::BadRequest(
            "Send the form from the checkout page: reload it and try again.".into(),
        ));
    };
    let refusal = match state
        .product_order
        .start_checkout(&shopper.access_token, &key, &form.request(reviewed))
        .await
    {
        Ok(started) => {
            tracing::info!(checkout_id = %started.checkout_id, customer_id = %shopper.user.id, "checkout started through the web");
            return Ok(see_other(&ctx, &format!("/checkouts/{}", started.checkout_id)));
        }
        Err(ProductOrderCallError::Refused(refusal)) => refusal,
        Err(e) => return Err(call_error(e, CHECKOUT_PATH)),
    };
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    if refusal.code == Some(ErrorCode::EmptyCart) {
        let empty = Cart::default();
        let view = CheckoutView {
            empty_message: refusal.message,
            ..CheckoutView::new(&ctx, &empty, &[], form)
        };
        return Ok(page(&ctx, status, "Check out", &view));
    }
    let (cart, countries) = cart_and_countries(&state, &shopper, None).await?;
    let (form, errors, others) = refused_form(form, refusal, &cart);
    Ok(show_form(&mut ctx, status, &cart, &countries, form, (errors, others)))
}

/// The form to show again after `refusal`, under `cart` as it is now, with its messages by
/// field and the others.
fn refused_form(form: CheckoutForm, refusal: Refusal, cart: &Cart) -> (CheckoutForm, FieldErrors, Vec<String>) {
    let mut others = Vec::new();
    // The page shows the cart as it is now (its hidden fields send that total next time): say
    // so when that is not the total reviewed, also when the refusal was about a field.
    if refusal.code == Some(ErrorCode::PricesChanged) || form.reviewed() != cart.reviewed() {
        others.push(format!(
            "Prices changed since you reviewed your cart: the total is now {}; please check and place the order again.",
            cart.money(cart.total)
        ));
    }
    match refusal.code {
        Some(ErrorCode::PricesChanged) => (form, FieldErrors::new(), others),
        Some(ErrorCode::IdempotencyKeyReused) => {
            // The details changed after this form's key started a checkout: sending them again
            // is a new checkout, so it needs a new key.
            others.push(
                "Your details changed since you first sent this form. Check them and place your order again.".into(),
            );
            (form.with_new_key(), FieldErrors::new(), others)
        }
        _ => {
            let (errors, unplaced) = field_errors(refusal.fields);
            if errors.is_empty() && unplaced.is_empty() {
                others.push(refusal.message);
            }
            others.extend(unplaced);
            (form, errors, others)
        }
    }
}

/// The form page, with messages by field and about no field.
fn show_form(
    ctx: &mut PageContext,
    status: StatusCode,
    cart: &Cart,
    countries: &[CountryOption],
    form: CheckoutForm,
    (errors, other_errors): (FieldErrors, Vec<String>),
) -> Response {
    ctx.cart_count = Some(cart.item_count);
    let view = CheckoutView {
        errors,
        other_errors,
        ..CheckoutView::new(ctx, cart, countries, form)
    };
    page(ctx, status, "Check out", &view)
}

/// The shopper's cart (`loaded` when the header already has it) and where we deliver.
async fn cart_and_countries(
    state: &AppState,
    shopper: &SignedIn,
    loaded: Option<Cart>,
) -> Result<(Cart, Vec<CountryOption>), WebError> {
    let cart = async {
        match loaded {
            Some(cart) => Ok(cart),
            None => state.product_order.cart(Caller::Bearer(&shopper.access_token)).await,
        }
    };
    let (cart, countries) = tokio::join!(cart, state.product_order.shipping_countries());
    let cart = cart.map_err(|e| call_error(e, CHECKOUT_PATH))?;
    Ok((cart, countries.map_err(|e| call_error(e, CHECKOUT_PATH))?))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn cart(total: i64) -> Cart {
        Cart {
            total,
            currency: Some("EUR".into()),
            item_count: 1,
            ..Cart::default()
        }
    }

    fn reviewed_at(total: &str) -> CheckoutForm {
        CheckoutForm {
            contact_name: "Ada Lovelace".into(),
            reviewed_total: total.into(),
            reviewed_currency: "EUR".into(),
            ..CheckoutForm::default()
        }
    }

    const NOTICE: &str =
        "Prices changed since you reviewed your cart: the total is now €30.00; please check and place the order again.";

    #[test]
    fn a_total_changed_since_the_review_is_noticed_with_the_total_now() {
        let changed = Refusal {
            status: 409,
            code: Some(ErrorCode::PricesChanged),
            message: "Prices changed since you reviewed your cart: the total is now 30.00 EUR.".into(),
            fields: BTreeMap::new(),
        };
        let (form, errors, others) = refused_form(reviewed_at("2580"), changed, &cart(3000));
        assert_eq!(form.contact_name, "Ada Lovelace", "what was typed is kept");
        assert!(errors.is_empty());
        assert_eq!(others, [NOTICE]);
    }

    #[test]
    fn a_field_refused_under_a_changed_total_is_noticed_too() {
        let invalid = Refusal {
            status: 422,
            code: Some(ErrorCode::ValidationFailed),
            message: "Some fields are not valid.".into(),
            fields: BTreeMap::from([("contact.email".to_owned(), "Not an email.".to_owned())]),
        };
        let (_, errors, others) = refused_form(reviewed_at("2580"), invalid.clone(), &cart(3000));
        assert_eq!(errors["contact_email"], "Not an email.");
        assert_eq!(others, [NOTICE]);
        let (_, _, others) = refused_form(reviewed_at("3000"), invalid, &cart(3000));
        assert!(others.is_empty(), "{others:?}");
    }
}
