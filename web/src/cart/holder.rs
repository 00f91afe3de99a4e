//! Whose cart a request is about: the signed-in shopper's (by access token) or a guest's (by
//! the token in the `shop_cart` cookie), and the cart the header badge shows.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use api::catalog::Cart;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;

use crate::app::AppState;
use crate::clients::product_order::{Caller, ProductOrderCallError};
use crate::render::PageContext;
use crate::session::Session;
use crate::session::cookies::{self, SetCookies};

/// How long a page waits for the cart its header badge shows.
const BADGE_WAIT: Duration = Duration::from_secs(2);

/// Whose cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartHolder {
    /// A signed-in shopper, by access token.
    Shopper(String),
    /// A guest, by cart token.
    Guest(String),
    /// A visitor who has no cart yet.
    Nobody,
}

impl CartHolder {
    /// How to call product-order about this cart; None when there is no cart.
    pub fn caller(&self) -> Option<Caller<'_>> {
        match self {
            CartHolder::Shopper(token) => Some(Caller::Bearer(token)),
            CartHolder::Guest(token) => Some(Caller::Guest(token)),
            CartHolder::Nobody => None,
        }
    }

    fn of(headers: &HeaderMap, extensions: &Extensions, secure: bool) -> Self {
        if let Some(token) = extensions.get::<Session>().and_then(|s| s.access_token.clone()) {
            return CartHolder::Shopper(token);
        }
        guest_token(headers, secure).map_or(CartHolder::Nobody, CartHolder::Guest)
    }
}

impl FromRequestParts<AppState> for CartHolder {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self::of(
            &parts.headers,
            &parts.extensions,
            state.settings.secure_cookies,
        ))
    }
}

/// The guest cart token in the request's cart cookie, when well formed.
pub fn guest_token(headers: &HeaderMap, secure: bool) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(cookies::CART.get(secure))
        .map(|c| c.value().to_owned())
        .filter(|token| is_cart_token(token))
}

/// What product-order accepts as a cart token: 22 to 128 letters, digits, `-` or `_`.
pub fn is_cart_token(token: &str) -> bool {
    (22..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The `Set-Cookie` value that starts a guest cart.
pub fn guest_cookie(token: &str, secure: bool) -> SetCookies {
    SetCookies(vec![cookies::set_cookie(
        cookies::CART,
        token,
        Some(cookies::CART_MAX_AGE),
        secure,
    )])
}

/// Moves the guest cart of this browser, if it has one, into the cart of the shopper whose
/// access token is `access_token`; answers the removal of the guest cookie once it is done.
/// When product-order cannot be reached the cookie stays, and a later page tries again.
pub async fn join_guest_cart(state: &AppState, access_token: &str, headers: &HeaderMap) -> Option<SetCookies> {
    let secure = state.settings.secure_cookies;
    let token = guest_token(headers, secure)?;
    match state.product_order.merge_cart(access_token, &token).await {
        Ok(cart) => tracing::info!(item_count = cart.item_count, "guest cart joined the shopper's"),
        // A token product-order refuses will never merge: forget it.
        Err(ProductOrderCallError::Refused(refusal)) => {
            tracing::warn!(code = ?refusal.code, "product-order refused to merge a guest cart")
        }
        Err(e) => {
            tracing::warn!(error = %e, "merging the guest cart failed; trying again later");
            return None;
        }
    }
    Some(SetCookies(vec![cookies::removal(cookies::CART, secure)]))
}

/// The cart loaded for the header badge of a full page; pages showing the cart reuse it.
#[derive(Debug, Clone)]
pub struct HeaderCart(pub Arc<Cart>);

/// Loads the visitor's cart for the header of full page loads (GET, not htmx partials);
/// when product-order does not answer in time the page shows without the count. Also joins
/// a guest cart left over from a login whose merge failed.
pub async fn load_header_cart(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if request.method() != Method::GET || PageContext::of(&request).partial {
        return next.run(request).await;
    }
    let secure = state.settings.secure_cookies;
    let holder = CartHolder::of(request.headers(), request.extensions(), secure);
    let mut joined = None;
    if let CartHolder::Shopper(token) = &holder
        && guest_token(request.headers(), secure).is_some()
    {
        joined = join_guest_cart(&state, token, request.headers()).await;
    }
    let cart = match holder.caller() {
        None => Some(Cart::default()),
        Some(caller) => match state.product_order.cart_within(caller, BADGE_WAIT).await {
            Ok(cart) => Some(cart),
            Err(e) => {
                tracing::warn!(error = %e, "no cart for the header");
                None
            }
        },
    };
    if let Some(cart) = cart {
        request.extensions_mut().insert(HeaderCart(Arc::new(cart)));
    }
    let response = next.run(request).await;
    (joined, response).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cart_tokens_are_what_product_order_accepts() {
        let token = crate::csrf::new_token().unwrap();
        assert!(is_cart_token(&token));
        assert!(is_cart_token(&"a".repeat(22)));
        assert!(is_cart_token(&"A-_9".repeat(32)));
        assert!(!is_cart_token(&"a".repeat(21)));
        assert!(!is_cart_token(&"a".repeat(129)));
        assert!(!is_cart_token("abcdefghijklmnopqrstuvwxyz+/"));
        assert!(!is_cart_token("abcdefghijklmnopqrstuv;x"));
    }

    #[test]
    fn a_signed_in_shopper_holds_their_own_cart_even_with_a_guest_cookie() {
        let guest = "g".repeat(43);
        let mut headers = HeaderMap::new();
        headers.insert("cookie", format!("shop_cart={guest}").parse().unwrap());
        let mut extensions = Extensions::new();
        assert_eq!(CartHolder::of(&headers, &extensions, false), CartHolder::Guest(guest));
        assert_eq!(
            CartHolder::of(&headers, &extensions, true),
            CartHolder::Nobody,
            "with secure cookies only the __Host- cookie counts"
        );
        extensions.insert(Session {
            access_token: Some("jwt".into()),
            ..Session::default()
        });
        assert_eq!(
            CartHolder::of(&headers, &extensions, false),
            CartHolder::Shopper("jwt".into())
        );
        assert_eq!(
            CartHolder::of(&HeaderMap::new(), &Extensions::new(), false),
            CartHolder::Nobody
        );
    }
}
