//! The product-order service: catalog, carts, the checkout saga and orders.

pub mod app;
pub mod cart;
pub mod catalog;
pub mod config;
pub mod error;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use platform::StartupError;
use platform::auth::TokenVerifier;
use platform::http::{self, Dependency};
use platform::metrics::Metrics;
use platform::service::{Foundation, FoundationSettings, lay_foundation};
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
    let Foundation {
        db,
        broker,
        listener,
        addr,
    } = lay_foundation(
        FoundationSettings {
            service: "product-order",
            addr: settings.addr,
            addr_variable: "PRODUCT_ORDER_ADDR",
            database_url: &settings.database_url,
            database_max_connections: settings.database_max_connections,
            migrator: &MIGRATOR,
            amqp_url: &settings.amqp_url,
        },
        shutdown.clone(),
        tasks,
    )
    .await?;
    if settings.demo_catalog {
        let seeded = catalog::demo::seed_if_empty(&db)
            .await
            .map_err(|e| StartupError::new(format!("cannot seed the demo catalog: {e}")))?;
        if seeded > 0 {
            tracing::info!(products = seeded, "seeded the demo catalog");
        }
    }
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
