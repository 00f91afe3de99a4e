//! The web front: askama + htmx pages for shoppers and operators, talking to the customer
//! and product-order services over HTTP, and following the broker's announcements of ended
//! sessions.

pub mod accounts;
pub mod app;
pub mod assets;
pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod clients;
pub mod config;
pub mod csrf;
pub mod error;
pub mod fields;
pub mod headers;
pub mod listing;
pub mod money;
pub mod multipart;
pub mod ops;
pub mod orders;
pub mod pages;
pub mod render;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use platform::StartupError;
use platform::auth::TokenVerifier;
use platform::broker::Broker;
use platform::http::{self, Dependency};
use platform::metrics::Metrics;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use app::AppState;
use clients::{CustomerClient, ProductOrderClient};
pub use config::Settings;
use csrf::CsrfKey;

/// Serves the pages until `shutdown` on tasks tracked by `tasks`; answers where it
/// listens. The services need not be up yet: pages say so until they are. The broker must be
/// reachable at start; when it goes away later, pages keep working and web learns of the
/// sessions that ended meanwhile once it is back.
pub async fn start(
    settings: Settings,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> Result<http::Listening, StartupError> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| StartupError::new(format!("cannot build the HTTP client: {e}")))?;
    let metrics = Arc::new(Metrics::new());
    let mismatches = platform::metrics::GaugeByKind::default();
    metrics.register_by_kind(
        "web_reconciliation_mismatches",
        "Mismatches between product-order's orders and customer's copies at the health page's last comparison, by kind",
        &mismatches,
    );
    let dependencies = vec![
        Dependency::Service {
            name: "customer",
            base_url: settings.customer_url.clone(),
            client: client.clone(),
        },
        Dependency::Service {
            name: "product-order",
            base_url: settings.product_order_url.clone(),
            client: client.clone(),
        },
    ];
    let broker = Broker::connect(
        &settings.amqp_url,
        "web",
        &settings.events_exchange,
        shutdown.clone(),
        tasks,
    )
    .await?;
    let verifier = Arc::new(TokenVerifier::from_customer(&settings.customer_url, client.clone()));
    platform::auth::ended::follow(broker, verifier.ended_sessions(), shutdown.clone(), tasks);
    let csrf_key = match settings.csrf_key.clone() {
        Some(key) => key,
        None => {
            tracing::info!("WEB_CSRF_KEY is not set: this instance signs its forms with a key of its own");
            CsrfKey::random().map_err(|e| StartupError::new(format!("no randomness for a CSRF key: {e}")))?
        }
    };
    let state = AppState {
        csrf_key,
        customer: CustomerClient::new(&settings.customer_url, client.clone()),
        product_order: ProductOrderClient::new(&settings.product_order_url, client),
        verifier,
        refreshes: Arc::default(),
        mismatches,
        settings: Arc::new(settings),
    };
    let (listener, internal_listener, listening) = http::bind_both(
        (state.settings.addr, "WEB_ADDR"),
        (state.settings.internal_addr, "WEB_INTERNAL_ADDR"),
    )
    .await?;
    http::spawn_server(
        http::Service {
            name: "web",
            app: app::router(state),
            metrics,
            dependencies,
            request_ids: http::RequestIds::Own,
            openapi: None,
        },
        listener,
        internal_listener,
        shutdown,
        tasks,
    );
    Ok(listening)
}
