//! Web's settings, from the environment.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use axum::http::HeaderMap;
use platform::StartupError;
use platform::config::{ip_ranges, parse_or, var_or};
use platform::http::IpRange;

/// Everything web reads at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the pages are served (`WEB_ADDR`).
    pub addr: SocketAddr,
    /// Where `/readyz` and `/metrics` answer (`WEB_INTERNAL_ADDR`): reachable by the
    /// platform's probes and scrapers only.
    pub internal_addr: SocketAddr,
    /// Base URL of the customer service (`SHOP_CUSTOMER_URL`), without a trailing slash.
    pub customer_url: String,
    /// Base URL of the product-order service (`SHOP_PRODUCT_ORDER_URL`), without a trailing slash.
    pub product_order_url: String,
    /// When cookies get the `Secure` attribute (`WEB_SECURE_COOKIES`).
    pub secure_cookies: SecureCookies,
    /// How long an order's change may take to reach customer before the health page counts
    /// it as a mismatch (`WEB_RECONCILE_GRACE_SECONDS`, default 30): events in flight are not.
    pub reconcile_grace: Duration,
    /// The proxies in front of web whose `X-Forwarded-For` it believes (`WEB_TRUSTED_PROXIES`,
    /// none by default): the shopper's address is the right-most hop none of them added, and
    /// web forwards it to customer, whose login limits count by it.
    pub trusted_proxies: Vec<IpRange>,
}

/// When cookies are marked `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecureCookies {
    /// When the request arrived through a proxy that says `X-Forwarded-Proto: https`.
    #[default]
    Auto,
    Always,
    Never,
}

impl SecureCookies {
    /// Whether cookies set in answer to a request with these headers are `Secure`.
    pub fn for_request(self, headers: &HeaderMap) -> bool {
        match self {
            SecureCookies::Always => true,
            SecureCookies::Never => false,
            SecureCookies::Auto => headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https")),
        }
    }
}

impl FromStr for SecureCookies {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(SecureCookies::Auto),
            "always" => Ok(SecureCookies::Always),
            "never" => Ok(SecureCookies::Never),
            _ => Err("expected auto, always or never".to_owned()),
        }
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, StartupError> {
        Ok(Self {
            addr: parse_or("WEB_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            internal_addr: parse_or("WEB_INTERNAL_ADDR", SocketAddr::from(([127, 0, 0, 1], 9080)))?,
            customer_url: base_url("SHOP_CUSTOMER_URL", "http://127.0.0.1:8081")?,
            product_order_url: base_url("SHOP_PRODUCT_ORDER_URL", "http://127.0.0.1:8082")?,
            secure_cookies: parse_or("WEB_SECURE_COOKIES", SecureCookies::Auto)?,
            reconcile_grace: Duration::from_secs(parse_or("WEB_RECONCILE_GRACE_SECONDS", 30)?),
            trusted_proxies: ip_ranges("WEB_TRUSTED_PROXIES")?,
        })
    }
}

fn base_url(name: &str, default: &str) -> Result<String, StartupError> {
    let raw = var_or(name, default);
    match url::Url::parse(&raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(raw.trim_end_matches('/').to_owned()),
        _ => Err(StartupError::new(format!("{name}={raw:?} is not an http(s) URL"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_follows_the_forwarded_proto() {
        let mut headers = HeaderMap::new();
        assert!(!SecureCookies::Auto.for_request(&headers));
        headers.insert("x-forwarded-proto", "https".parse().unwrap());
        assert!(SecureCookies::Auto.for_request(&headers));
        assert!(!SecureCookies::Never.for_request(&headers));
        headers.insert("x-forwarded-proto", "http".parse().unwrap());
        assert!(!SecureCookies::Auto.for_request(&headers));
        assert!(SecureCookies::Always.for_request(&headers));
    }
}
