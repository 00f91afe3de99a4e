//! The life of a service process: start, run until a signal, finish in-flight work.

use std::future::Future;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::StartupError;

/// Runs `start` (which spawns its work on the tracker) until Ctrl-C or SIGTERM, then waits
/// for that work to finish. A failed start prints one line and exits non-zero.
pub async fn main<F, Fut>(name: &str, start: F) -> ExitCode
where
    F: FnOnce(CancellationToken, TaskTracker) -> Fut,
    Fut: Future<Output = Result<(), StartupError>>,
{
    crate::telemetry::init();
    let shutdown = crate::shutdown::on_signal();
    let tasks = TaskTracker::new();
    if let Err(e) = start(shutdown.clone(), tasks.clone()).await {
        eprintln!("{name}: {e}");
        shutdown.cancel();
        tasks.close();
        tasks.wait().await;
        return ExitCode::FAILURE;
    }
    tasks.close();
    tasks.wait().await;
    tracing::info!("{name} stopped");
    ExitCode::SUCCESS
}

/// What a service with state stands on: its own database (created and migrated), its broker
/// connection (named after its address) and its bound listener.
pub struct Foundation {
    pub db: sqlx::PgPool,
    pub broker: crate::broker::Broker,
    pub listener: tokio::net::TcpListener,
    pub internal_listener: tokio::net::TcpListener,
    pub listening: crate::http::Listening,
}

/// Where a service's foundation is.
pub struct FoundationSettings<'a> {
    pub service: &'static str,
    pub addr: std::net::SocketAddr,
    /// The variable that sets `addr`, named when the port is taken.
    pub addr_variable: &'static str,
    /// Where `/readyz` and `/metrics` answer, and its variable.
    pub internal_addr: std::net::SocketAddr,
    pub internal_addr_variable: &'static str,
    pub database_url: &'a str,
    pub database_max_connections: u32,
    pub migrator: &'static sqlx::migrate::Migrator,
    pub amqp_url: &'a str,
    pub events_exchange: &'a str,
}

/// Connects the database, binds the listener and connects the broker, failing with one line
/// that says what to start.
pub async fn lay_foundation(
    settings: FoundationSettings<'_>,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> Result<Foundation, StartupError> {
    let db = crate::db::connect(
        settings.database_url,
        settings.database_max_connections,
        settings.migrator,
    )
    .await?;
    let (listener, internal_listener, listening) = crate::http::bind_both(
        (settings.addr, settings.addr_variable),
        (settings.internal_addr, settings.internal_addr_variable),
    )
    .await?;
    let connection_name = format!("{}@{}", settings.service, listening.addr);
    let broker = crate::broker::Broker::connect(
        settings.amqp_url,
        &connection_name,
        settings.events_exchange,
        shutdown,
        tasks,
    )
    .await?;
    Ok(Foundation {
        db,
        broker,
        listener,
        internal_listener,
        listening,
    })
}
