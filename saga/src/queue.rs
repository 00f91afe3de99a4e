//! Step execution rides on apalis's PostgreSQL queue: a job says "drive this instance". Jobs
//! are pushed in the same transaction that makes an instance runnable, claimed with
//! `FOR UPDATE SKIP LOCKED`, woken by LISTEN/NOTIFY with an interval poll for delayed jobs, and
//! handed to a live worker when the worker holding them stops sending heartbeats.

use std::time::{Duration, Instant};

use apalis::prelude::*;
use apalis_postgres::{Config, PostgresStorage};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::engine::{Engine, Error};

/// The apalis queue the engine's jobs live in.
pub const QUEUE: &str = "saga-steps";

/// apalis gives up on a job after this many failed runs; the engine's own retry policies
/// decide about steps, so a job only fails when the database does.
const JOB_MAX_ATTEMPTS: usize = 1_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DriveInstance {
    pub(crate) instance: Uuid,
}

/// Queues a job to drive `instance`, due at `due` (seconds since the epoch) or now.
pub(crate) async fn enqueue(tx: &mut PgConnection, instance: Uuid, due: Option<f64>) -> Result<(), Error> {
    let args = serde_json::to_vec(&DriveInstance { instance }).expect("a job serialises");
    let mut task = TaskBuilder::new(args).max_attempts(JOB_MAX_ATTEMPTS);
    if let Some(due) = due {
        // apalis keeps whole seconds: round up so the job is never early.
        task = task.run_at_timestamp(due.ceil().max(0.0) as u64);
    }
    apalis_postgres::queries::push_tasks(tx, QUEUE, vec![task.build()])
        .await
        .map_err(|e| Error::Queue(e.to_string()))
}

/// Runs the engine's apalis worker until `shutdown`. apalis stops a worker for good when its
/// backend fails (the database went away): a new worker then takes its place, under a new
/// name, so the stopped one's jobs and leases go to live workers as when a process dies.
pub(crate) fn spawn_worker(engine: Engine, shutdown: CancellationToken, tasks: &TaskTracker) {
    tasks.spawn(async move {
        let mut engine = engine;
        let mut backoff = RESTART_BACKOFF;
        loop {
            let started = Instant::now();
            let outcome = run_worker(&engine, &shutdown).await;
            if shutdown.is_cancelled() {
                return;
            }
            if started.elapsed() > MAX_RESTART_BACKOFF * 2 {
                backoff = RESTART_BACKOFF;
            }
            let error = outcome.err().unwrap_or_else(|| "it ended by itself".into());
            tracing::error!(worker = engine.worker(), %error, retry_in_ms = backoff.as_millis() as u64,
                "saga worker stopped; a new worker takes over its work");
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
            engine = engine.as_new_worker();
        }
    });
}

/// The first wait before a stopped worker is replaced; it doubles while replacements stop
/// again at once.
const RESTART_BACKOFF: Duration = Duration::from_millis(250);
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(5);

/// Runs one apalis worker as `engine`'s worker until `shutdown` or until it stops by itself.
async fn run_worker(engine: &Engine, shutdown: &CancellationToken) -> Result<(), String> {
    let settings = &engine.inner.settings;
    let config = Config::default()
        .queue(QUEUE)
        .batch_size(settings.concurrency.max(1))
        .heartbeat_interval(settings.heartbeat)
        .missed_heartbeats(settings.missed_heartbeats.max(1) as usize);
    let backend = PostgresStorage::<DriveInstance>::new(engine.pool())
        .with_config(config)
        .with_pubsub()
        .poll_with_strategy(Strategy::new().interval(settings.poll_interval));
    let worker = WorkerBuilder::new(engine.worker())
        .backend(backend)
        .concurrency(settings.concurrency.max(1))
        .data(engine.clone())
        .build(drive);
    let stopped = shutdown.clone();
    worker
        .run_until(async move {
            stopped.cancelled().await;
            Ok::<(), std::io::Error>(())
        })
        .await
        .map_err(|e| e.to_string())
}

async fn drive(job: DriveInstance, engine: Data<Engine>) -> Result<(), BoxDynError> {
    engine.drive(job.instance).await.map_err(|e| {
        tracing::warn!(instance = %job.instance, error = %e, "driving a saga instance failed; apalis retries it");
        Box::new(e) as BoxDynError
    })
}

/// Seconds the oldest due job has been waiting, 0 when none waits.
pub(crate) async fn oldest_due_age(pool: &sqlx::PgPool) -> Result<Duration, sqlx::Error> {
    let seconds: f64 = sqlx::query_scalar(
        "SELECT coalesce(extract(epoch FROM now() - min(run_at))::float8, 0) \
         FROM apalis.jobs WHERE job_type = $1 AND status = 'Pending' AND run_at <= now()",
    )
    .bind(QUEUE)
    .fetch_one(pool)
    .await?;
    Ok(Duration::from_secs_f64(seconds.max(0.0)))
}
