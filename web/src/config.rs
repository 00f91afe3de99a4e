//! Web's settings, from the environment.

use std::net::SocketAddr;
use std::time::Duration;

use platform::StartupError;
use platform::config::{ip_ranges, parse_or, var_opt, var_or};
use platform::http::IpRange;

use crate::csrf::CsrfKey;

/// Everything web reads at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the pages are served (`WEB_ADDR`).
    pub addr: SocketAddr,
    /// Where `/readyz` and `/metrics` answer (`WEB_INTERNAL_ADDR`): reachable by the
    /// platform's probes and scrapers only.
    pub internal_addr: SocketAddr,
    /// The broker (`SHOP_AMQP_URL`), from which web learns of sessions that ended.
    pub amqp_url: String,
    /// The exchange customer announces ended sessions on (`SHOP_EVENTS_EXCHANGE`).
    pub events_exchange: String,
    /// Base URL of the customer service (`SHOP_CUSTOMER_URL`), without a trailing slash.
    pub customer_url: String,
    /// Base URL of the product-order service (`SHOP_PRODUCT_ORDER_URL`), without a trailing slash.
    pub product_order_url: String,
    /// Whether cookies are `Secure` with the `__Host-` prefix and browsers are told HSTS
    /// (`WEB_SECURE_COOKIES`, default true): the shop is reached over HTTPS, or on localhost,
    /// which browsers treat as secure. Never decided by a request header, which anyone sends.
    pub secure_cookies: bool,
    /// How long an order's change may take to reach customer before the health page counts
    /// it as a mismatch (`WEB_RECONCILE_GRACE_SECONDS`, default 30): events in flight are not.
    pub reconcile_grace: Duration,
    /// The proxies in front of web whose `X-Forwarded-For` it believes (`WEB_TRUSTED_PROXIES`,
    /// none by default): the shopper's address is the right-most hop none of them added, and
    /// web forwards it to customer, whose login limits count by it.
    pub trusted_proxies: Vec<IpRange>,
    /// The key form tokens are signed with (`WEB_CSRF_KEY`, at least 32 characters): every web
    /// instance behind one address needs the same one. Unset, each instance makes its own.
    pub csrf_key: Option<CsrfKey>,
}

impl Settings {
    pub fn from_env() -> Result<Self, StartupError> {
        Ok(Self {
            addr: parse_or("WEB_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            internal_addr: parse_or("WEB_INTERNAL_ADDR", SocketAddr::from(([127, 0, 0, 1], 9080)))?,
            amqp_url: var_or("SHOP_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            events_exchange: var_or("SHOP_EVENTS_EXCHANGE", platform::broker::DEFAULT_EVENTS_EXCHANGE),
            customer_url: base_url("SHOP_CUSTOMER_URL", "http://127.0.0.1:8081")?,
            product_order_url: base_url("SHOP_PRODUCT_ORDER_URL", "http://127.0.0.1:8082")?,
            secure_cookies: parse_or("WEB_SECURE_COOKIES", true)?,
            reconcile_grace: Duration::from_secs(parse_or("WEB_RECONCILE_GRACE_SECONDS", 30)?),
            trusted_proxies: ip_ranges("WEB_TRUSTED_PROXIES")?,
            csrf_key: var_opt("WEB_CSRF_KEY")
                .map(|key| CsrfKey::from_setting(&key))
                .transpose()
                .map_err(|e| StartupError::new(format!("WEB_CSRF_KEY {e}")))?,
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
