//! The product-order service: catalog, carts, the checkout saga and orders.

pub mod app;
pub mod config;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use platform::StartupError;
use platform::auth::TokenVerifier;
use platform::broker::Broker;
use platform::http::{self, Dependency};
use platform::metrics::Metrics;
use sqlx::migrate::Migrator;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use app::AppState;
pub use config::Settings;

/// Product-order's schema, from `migrations/product-order`.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations/product-order");

/// Connects to its dependencies, then serves until `shutdown` on tasks tracked by `tasks`;
/// returns the address it listens on.
pub async fn start(
    settings: Settings,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> Result<SocketAddr, StartupError> {
    let db = platform::db::connect(&settings.database_url, settings.database_max_connections, &MIGRATOR).await?;
    let listener = http::bind(settings.addr, "PRODUCT_ORDER_ADDR").await?;
    let addr = listener.local_addr().map_err(|e| StartupError::new(e.to_string()))?;
    let broker = Broker::connect(
        &settings.amqp_url,
        &format!("product-order@{addr}"),
        shutdown.clone(),
        tasks,
    )
    .await?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| StartupError::new(format!("cannot build the HTTP client: {e}")))?;
    let state = AppState {
        db: db.clone(),
        verifier: Arc::new(TokenVerifier::from_customer(&settings.customer_url, client)),
    };
    let metrics = Arc::new(Metrics::new());
    http::spawn_server(
        "product-order",
        listener,
        app::router(state),
        metrics,
        vec![Dependency::Database(db), Dependency::Broker(broker)],
        shutdown,
        tasks,
    );
    Ok(addr)
}
