//! What browsers are told to refuse, on every answer of the web front: scripts, styles and
//! forms from this site only (no inline script or style anywhere, so an injected one does not
//! run), pictures from this site or any HTTPS address (products may show an image hosted
//! elsewhere), no framing (clickjacking of the operator's confirmation pages), no referrer
//! beyond the site, no content sniffing, and HSTS with secure cookies (the shop is reached over
//! HTTPS; browsers ignore HSTS over plain HTTP, localhost's included). An
//! answer that brings its own policy (an uploaded picture's `default-src 'none'`) keeps it.

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::AppState;

pub const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// A year, subdomains included: once a browser saw the shop over HTTPS it never tries HTTP.
const HSTS: &str = "max-age=31536000; includeSubDomains";

pub async fn security_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let secure = state.settings.secure_cookies;
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_POLICY));
    }
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if secure {
        headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    response
}
