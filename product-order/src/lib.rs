//! The product-order service: catalog, carts, the checkout saga and orders.

pub mod app;
pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod config;
pub mod error;
pub mod health;
pub mod orders;
pub mod outbox;
pub mod reconcile;
pub mod reservations;
pub mod sagas;

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

/// A started product-order.
pub struct Running {
    pub listening: http::Listening,
    /// The checkout saga engine (tests reach its fault injection through it).
    pub saga: saga::Engine,
}

/// Connects to its dependencies, then serves until `shutdown` on tasks tracked by `tasks`.
pub async fn start(
    settings: Settings,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> Result<Running, StartupError> {
    let Foundation {
        db,
        broker,
        listener,
        internal_listener,
        listening,
    } = lay_foundation(
        FoundationSettings {
            service: "product-order",
            addr: settings.addr,
            addr_variable: "PRODUCT_ORDER_ADDR",
            internal_addr: settings.internal_addr,
            internal_addr_variable: "PRODUCT_ORDER_INTERNAL_ADDR",
            database_url: &settings.database_url,
            database_max_connections: settings.database_max_connections,
            migrator: &MIGRATOR,
            amqp_url: &settings.amqp_url,
            events_exchange: &settings.events_exchange,
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
    let publisher = platform::broker::Publisher::new(broker.clone());
    let engine = saga::Engine::new(
        db.clone(),
        vec![checkout::steps::definition(publisher.clone(), db.clone())],
        saga::EngineSettings {
            worker_name: format!("product-order@{}", listening.addr),
            concurrency: settings.saga_concurrency.max(1),
            heartbeat: settings.saga_heartbeat.max(Duration::from_millis(100)),
            ..saga::EngineSettings::default()
        },
    )
    .await
    .map_err(|e| StartupError::new(format!("cannot prepare the saga engine's tables: {e}")))?;
    let relay = outbox::RelayWaker::default();
    if settings.saga_workers {
        engine.spawn(shutdown.clone(), tasks);
        outbox::spawn_relay(db.clone(), publisher.clone(), relay.clone(), shutdown.clone(), tasks);
    }
    let metrics = Arc::new(Metrics::new());
    register_saga_metrics(&metrics, engine.metrics());
    let mismatches = platform::metrics::GaugeByKind::default();
    metrics.register_by_kind(
        "reconciliation_mismatches",
        "Mismatches the last reconciliation check found, by kind",
        &mismatches,
    );
    let verifier = Arc::new(TokenVerifier::from_customer(&settings.customer_url, client));
    platform::auth::ended::follow(broker.clone(), verifier.ended_sessions(), shutdown.clone(), tasks);
    let state = AppState {
        db: db.clone(),
        verifier,
        saga: engine.clone(),
        relay,
        saga_workers: settings.saga_workers,
        publisher,
        word_stats: catalog::word_stats::WordStats::default(),
        mismatches,
    };
    if settings.saga_workers {
        reconcile::spawn(state.clone(), shutdown.clone(), tasks);
    }
    http::spawn_server(
        http::Service {
            name: "product-order",
            app: app::router(state),
            metrics,
            dependencies: vec![Dependency::Database(db), Dependency::Broker(broker)],
            request_ids: http::RequestIds::FromCaller,
            openapi: Some(app::openapi()),
        },
        listener,
        internal_listener,
        shutdown,
        tasks,
    );
    Ok(Running {
        listening,
        saga: engine,
    })
}

fn register_saga_metrics(metrics: &Metrics, saga: &saga::SagaMetrics) {
    metrics.register("saga_instances_started", "Saga instances started", saga.started.clone());
    metrics.register(
        "saga_instances_ended",
        "Saga instances that ended, by final state",
        saga.ended.clone(),
    );
    metrics.register("saga_step_attempts", "Step attempts, by outcome", saga.attempts.clone());
    metrics.register(
        "saga_step_duration_seconds",
        "Time a step attempt takes",
        saga.step_seconds.clone(),
    );
    metrics.register(
        "saga_instances",
        "Saga instances per state (sampled)",
        saga.instances.clone(),
    );
    metrics.register(
        "saga_queue_age_seconds",
        "How long the oldest due saga job has waited for a worker (sampled)",
        saga.queue_age_seconds.clone(),
    );
    metrics.register(
        "saga_instances_rescued",
        "Instances found with nobody driving them (lease lapsed or worker stopped) and queued again",
        saga.rescued.clone(),
    );
    metrics.register(
        "saga_attempts_fenced_out",
        "Attempts a worker gave up because the instance moved on without it (lease lapsed, operator acted)",
        saga.fenced_out.clone(),
    );
}
