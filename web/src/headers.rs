//! What browsers are told to refuse, on every answer of the web front: scripts, styles and
//! forms from this site only (no inline script or style anywhere, so an injected one does not
//! run), pictures from this site or any HTTPS address (products may show an image hosted
//! elsewhere), no framing (clickjacking of the operator's confirmation pages), no referrer
//! beyond the site, no content sniffing, and HSTS with secure cookies (the shop is reached over
//! HTTPS; browsers ignore HSTS over plain HTTP, localhost's included). An
//! answer that brings its own policy (an uploaded picture's `default-src 'none'`) keeps it.

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY};
use tower_http::set_header::SetResponseHeaderLayer;

pub const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// A year, subdomains included: once a browser saw the shop over HTTPS it never tries HTTP.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Web's own policy on top of the defaults every service sends (`platform::http`: framing
/// denied, no sniffing, which stay as they are): the pages' content policy where an answer
/// brings none, the referrer kept to the site, and HSTS with secure cookies.
pub fn layered(router: Router, secure_cookies: bool) -> Router {
    let router = router
        .layer(SetResponseHeaderLayer::if_not_present(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ));
    if secure_cookies {
        router.layer(SetResponseHeaderLayer::overriding(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        ))
    } else {
        router
    }
}
