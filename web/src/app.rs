//! Web's shared state and its router.

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::middleware::{from_fn, from_fn_with_state};
use platform::auth::TokenVerifier;
use platform::http::{IpRange, TrustsProxies};
use platform::metrics::GaugeByKind;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::clients::{CustomerClient, ProductOrderClient};
use crate::config::Settings;
use crate::csrf::CsrfKey;
use crate::session::refresh::RefreshFlights;
use crate::{accounts, assets, cart, catalog, checkout, csrf, error, headers, ops, orders, pages, session};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub customer: CustomerClient,
    pub product_order: ProductOrderClient,
    pub verifier: Arc<TokenVerifier>,
    pub refreshes: Arc<RefreshFlights>,
    /// Signs form tokens (`csrf`).
    pub csrf_key: CsrfKey,
    /// What the health page's last comparison of the services found, by kind
    /// (`web_reconciliation_mismatches`).
    pub mismatches: GaugeByKind,
}

/// The shopper's address as web tells customer (whose login and registration limits count
/// by it): the right-most hop of `X-Forwarded-For` no trusted proxy added (`WEB_TRUSTED_PROXIES`),
/// the connection's peer when nothing is trusted. Never the address web itself calls from, or
/// every shopper would share one limit.
impl TrustsProxies for AppState {
    fn trusted_proxies(&self) -> &[IpRange] {
        &self.settings.trusted_proxies
    }
}

/// The pages behind the session and CSRF middleware, and the static files outside them.
pub fn router(state: AppState) -> Router {
    // The last layer added runs first: session, CSRF token, header cart, error pages, CSRF check.
    // Every page is one visitor's (their cart, name, orders, form tokens): never kept by the
    // browser, so the back button shows the page as it is now, and nothing after logging out.
    let pages = Router::new()
        .merge(pages::router())
        .merge(accounts::router())
        .merge(catalog::router())
        .merge(cart::router())
        .merge(checkout::router())
        .merge(orders::router())
        .merge(ops::router())
        .fallback(error::not_found)
        .layer(from_fn(csrf::verify))
        .layer(from_fn(error::error_pages))
        .layer(from_fn_with_state(state.clone(), cart::load_header_cart))
        .layer(from_fn_with_state(state.clone(), csrf::issue_token))
        .layer(from_fn_with_state(state.clone(), session::resolve_session))
        .layer(SetResponseHeaderLayer::overriding(
            CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(state.clone());
    let secure_cookies = state.settings.secure_cookies;
    let site = pages
        .merge(assets::router())
        .merge(catalog::images::router().with_state(state));
    headers::layered(site, secure_cookies)
}
