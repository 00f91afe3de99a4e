//! Step execution rides on apalis's PostgreSQL queue: a job says "drive this instance". Jobs
//! are pushed in the same transaction that makes an instance runnable, claimed with
//! `FOR UPDATE SKIP LOCKED`, woken by LISTEN/NOTIFY with an interval poll for delayed jobs, and
//! handed to a live worker when the worker holding them stops sending heartbeats.

use std::time::Duration;

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

pub(crate) fn spawn_worker(engine: Engine, shutdown: CancellationToken, tasks: &TaskTracker) {
    let settings = engine.inner.settings.clone();
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
    tasks.spawn(async move {
        let stopped = shutdown.clone();
        let result = worker
            .run_until(async move {
                stopped.cancelled().await;
                Ok::<(), std::io::Error>(())
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "saga worker stopped");
        }
    });
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
