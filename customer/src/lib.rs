//! The customer service: accounts, login and sessions, order history kept from events, and
//! the events it could not apply (dead letters) for operators.

pub mod accounts;
pub mod app;
pub mod config;
pub mod dead_letters;
pub mod error;
pub mod health;
pub mod orders;
pub mod reconcile;
pub mod second_factor;
pub mod sessions;
pub mod throttle;

use std::sync::Arc;

use platform::StartupError;
use platform::auth::TokenVerifier;
use platform::http::{self, Dependency};
use platform::metrics::Metrics;
use platform::service::{Foundation, FoundationSettings, lay_foundation};
use prometheus_client::metrics::family::Family;
use sqlx::migrate::Migrator;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use app::AppState;
pub use config::Settings;
use sessions::signing::TokenSigner;

/// Customer's schema, from `migrations/customer`.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations/customer");

/// Connects to its dependencies, then serves until `shutdown` on tasks tracked by `tasks`;
/// answers where it listens.
pub async fn start(
    settings: Settings,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> Result<http::Listening, StartupError> {
    let Foundation {
        db,
        broker,
        listener,
        internal_listener,
        listening,
    } = lay_foundation(
        FoundationSettings {
            service: "customer",
            addr: settings.addr,
            addr_variable: "CUSTOMER_ADDR",
            internal_addr: settings.internal_addr,
            internal_addr_variable: "CUSTOMER_INTERNAL_ADDR",
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
    let ttl = settings.access_token_ttl;
    let signer = match &settings.signing_key_file {
        Some(path) => TokenSigner::from_pem_file(path, ttl),
        None => TokenSigner::from_database(&db, ttl).await,
    }
    .map_err(|e| StartupError::new(format!("cannot load the token signing key: {e:#}")))?;
    let metrics = Arc::new(Metrics::new());
    let logins = Family::default();
    metrics.register("customer_logins", "Login attempts by outcome", logins.clone());
    let verifier = Arc::new(TokenVerifier::with_keys(signer.jwks()));
    platform::auth::ended::follow(broker.clone(), verifier.ended_sessions(), shutdown.clone(), tasks);
    let announcements = sessions::announce::Announcements::default();
    sessions::announce::spawn(
        db.clone(),
        broker.clone(),
        announcements.clone(),
        shutdown.clone(),
        tasks,
    );
    let state = AppState {
        db: db.clone(),
        verifier,
        signer: Arc::new(signer),
        hasher: accounts::password::PasswordHasher::new(),
        logins,
        announcements,
        settings: Arc::new(settings),
    };
    if let Some((email, password)) = &state.settings.operator {
        accounts::ensure_operator(&state, email, password, state.settings.operator_totp_secret.as_ref())
            .await
            .map_err(|e| StartupError::new(format!("cannot set up the operator account: {e:#}")))?;
    }
    if state.settings.events.workers {
        orders::events::spawn(
            db.clone(),
            broker.clone(),
            state.settings.events.clone(),
            shutdown.clone(),
            tasks,
        );
        dead_letters::intake::spawn(
            db.clone(),
            broker.clone(),
            state.settings.events.clone(),
            shutdown.clone(),
            tasks,
        );
    }
    http::spawn_server(
        http::Service {
            name: "customer",
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
    Ok(listening)
}
