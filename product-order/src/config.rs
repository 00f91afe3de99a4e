//! Product-order's settings, from the environment.

use std::net::SocketAddr;
use std::time::Duration;

use platform::StartupError;
use platform::config::{parse_or, var_or};

/// Everything product-order reads at start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: SocketAddr,
    /// Where `/readyz` and `/metrics` answer (`PRODUCT_ORDER_INTERNAL_ADDR`): reachable by the
    /// platform's probes and scrapers only.
    pub internal_addr: SocketAddr,
    pub database_url: String,
    pub database_max_connections: u32,
    pub amqp_url: String,
    /// The topic exchange order events are published to.
    pub events_exchange: String,
    /// Where customer publishes the keys access tokens are verified with.
    pub customer_url: String,
    /// Seed the demo catalog when the catalog is empty.
    pub demo_catalog: bool,
    /// Run checkout saga workers (and the outbox relay) in this process. An instance without
    /// them only serves the API; at least one instance must run them.
    pub saga_workers: bool,
    /// Saga instances one process drives at once.
    pub saga_concurrency: usize,
    /// How often a saga worker reports that it is alive; one silent for three beats counts as
    /// dead, and its work goes to the others.
    pub saga_heartbeat: Duration,
}

impl Settings {
    pub fn from_env() -> Result<Self, StartupError> {
        Ok(Self {
            addr: parse_or("PRODUCT_ORDER_ADDR", SocketAddr::from(([127, 0, 0, 1], 8082)))?,
            internal_addr: parse_or("PRODUCT_ORDER_INTERNAL_ADDR", SocketAddr::from(([127, 0, 0, 1], 9082)))?,
            database_url: var_or(
                "PRODUCT_ORDER_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/shop_product_order",
            ),
            database_max_connections: parse_or("PRODUCT_ORDER_DATABASE_MAX_CONNECTIONS", 20)?,
            amqp_url: var_or("SHOP_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            events_exchange: var_or("SHOP_EVENTS_EXCHANGE", platform::broker::DEFAULT_EVENTS_EXCHANGE),
            customer_url: var_or("SHOP_CUSTOMER_URL", "http://127.0.0.1:8081"),
            demo_catalog: parse_or("PRODUCT_ORDER_DEMO_CATALOG", false)?,
            saga_workers: parse_or("PRODUCT_ORDER_SAGA_WORKERS", true)?,
            saga_concurrency: parse_or("PRODUCT_ORDER_SAGA_CONCURRENCY", 16)?,
            saga_heartbeat: Duration::from_millis(parse_or("PRODUCT_ORDER_SAGA_HEARTBEAT_MS", 2000)?),
        })
    }
}
