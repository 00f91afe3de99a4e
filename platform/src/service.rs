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
