//! Step execution rides on apalis's PostgreSQL queue: a job says "drive this instance". Jobs
//! are pushed in the same transaction that makes an instance runnable, claimed with
//! `FOR UPDATE SKIP LOCKED`, woken by LISTEN/NOTIFY with an interval poll for delayed jobs, and
//! handed to a live worker when the worker holding them stops sending heartbeats.
//!
//! An instance started in a process whose worker has room for it skips the queue: the process
//! drives it at once, with no job. That spares the queue's insert, notify, fetch, lock and
//! acknowledgement, each a statement or a transaction, for every instance. Should the process
//! die first, every process's sweep (`rescue_orphans`) finds the instance by its lapsed lease
//! and queues a job for it.
//!
//! This module knows the queue, not the engine: what a job does is the `Driver` it is given.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_postgres::{Config, PostgresStorage};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::Error;
use crate::settings::EngineSettings;
use crate::store;

/// The apalis queue the engine's jobs live in.
pub const QUEUE: &str = "saga-steps";

/// apalis gives up on a job after this many failed runs; the engine's own retry policies
/// decide about steps, so a job only fails when the database does.
const JOB_MAX_ATTEMPTS: usize = 1_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DriveInstance {
    instance: Uuid,
}

/// What a job does with its instance. A type of its own (no lifetimes to infer), so apalis's
/// handler stays `Send` for any caller.
#[derive(Clone)]
pub(crate) struct Driver(pub(crate) Arc<dyn Fn(Uuid) -> Driving + Send + Sync>);

/// Driving one instance.
pub(crate) type Driving = Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'static>>;

/// A job that drives `instance`, due now.
fn drive_job(instance: Uuid) -> TaskBuilder<Vec<u8>> {
    let args = serde_json::to_vec(&DriveInstance { instance }).expect("a job serialises");
    TaskBuilder::new(args).max_attempts(JOB_MAX_ATTEMPTS)
}

/// Queues a job to drive `instance`, due at `due` (seconds since the epoch) or now.
pub(crate) async fn enqueue(tx: &mut PgConnection, instance: Uuid, due: Option<f64>) -> Result<(), Error> {
    let mut task = drive_job(instance);
    if let Some(due) = due {
        // apalis keeps whole seconds: round up so the job is never early.
        task = task.run_at_timestamp(due.ceil().max(0.0) as u64);
    }
    apalis_postgres::queries::push_tasks(tx, QUEUE, vec![task.build()])
        .await
        .map_err(|e| Error::Queue(e.to_string()))
}

/// Queues a job for every instance nobody drives any more: running or compensating, due, and
/// leased by a worker whose lease has lapsed or whose heartbeats have stopped for
/// `orphaned_after`. A live worker renews its lease with every attempt it records, so a
/// lapsed lease means its driving was lost, whatever the worker's heartbeat says: a hand-over
/// whose task failed on a transient database error, or one that never began because its
/// starter was dropped. Instances handed over at their start have no job of their own; one
/// whose queue job was running is also re-queued by apalis (the second job finds it taken and
/// leaves it). One job per instance and lease (apalis's idempotency key: instance, holder and
/// the lease's end), one sweep at a time across processes. A worker still driving an instance
/// whose lease lapsed loses nothing but the race: the claim waits for its step's transaction,
/// and its fence fails afterwards. Answers how many were queued.
pub(crate) async fn rescue_orphans(pool: &PgPool, orphaned_after: Duration) -> Result<usize, Error> {
    let mut tx = pool.begin().await?;
    if !store::sweep_lock(&mut tx).await? {
        return Ok(0);
    }
    let orphans = store::orphans(&mut tx, orphaned_after, QUEUE).await?;
    if orphans.is_empty() {
        return Ok(0);
    }
    let tasks = orphans
        .iter()
        .map(|(instance, key)| drive_job(*instance).idempotency_key(key).build())
        .collect();
    apalis_postgres::queries::push_tasks(&mut *tx, QUEUE, tasks)
        .await
        .map_err(|e| Error::Queue(e.to_string()))?;
    tx.commit().await?;
    tracing::warn!(
        count = orphans.len(),
        "saga instances nobody drove any more (lease lapsed, or worker stopped) queued again"
    );
    Ok(orphans.len())
}

/// Runs one apalis worker named `worker`, whose jobs `driver` does, until `shutdown` or until
/// it stops by itself.
pub(crate) async fn run_worker(
    pool: &PgPool,
    settings: &EngineSettings,
    worker: &str,
    driver: Driver,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let config = Config::default()
        .queue(QUEUE)
        .batch_size(settings.concurrency.max(1))
        .heartbeat_interval(settings.heartbeat)
        .missed_heartbeats(settings.missed_heartbeats.max(1) as usize);
    let backend = PostgresStorage::<DriveInstance>::new(pool)
        .with_config(config)
        .with_pubsub()
        .poll_with_strategy(Strategy::new().interval(settings.poll_interval));
    let worker = WorkerBuilder::new(worker)
        .backend(backend)
        .concurrency(settings.concurrency.max(1))
        .data(driver)
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

async fn drive(job: DriveInstance, driver: Data<Driver>) -> Result<(), BoxDynError> {
    let Driver(drive_instance) = &*driver;
    drive_instance(job.instance).await.map_err(|e| {
        tracing::warn!(instance = %job.instance, error = %e, "driving a saga instance failed; apalis retries it");
        Box::new(e) as BoxDynError
    })
}
