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

use std::sync::Arc;
use std::time::{Duration, Instant};

use apalis::prelude::*;
use apalis_postgres::{Config, PostgresStorage};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::engine::{AtStart, Engine, Inner};
use crate::error::Error;

/// The apalis queue the engine's jobs live in.
pub const QUEUE: &str = "saga-steps";

/// apalis gives up on a job after this many failed runs; the engine's own retry policies
/// decide about steps, so a job only fails when the database does.
const JOB_MAX_ATTEMPTS: usize = 1_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DriveInstance {
    pub(crate) instance: Uuid,
}

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
/// leased by a worker whose lease has lapsed or whose heartbeats have stopped. A live worker
/// renews its lease with every attempt it records, so a lapsed lease means its driving was
/// lost, whatever the worker's heartbeat says: a hand-over whose task failed on a transient
/// database error, or one that never began because its starter was dropped. Instances handed
/// over at their start have no job of their own; one whose queue job was running is also
/// re-queued by apalis (the second job finds it taken and leaves it). One job per instance and
/// lease (apalis's idempotency key: instance, holder and the lease's end), one sweep at a time
/// across processes. A worker still driving an instance whose lease lapsed loses nothing but
/// the race: the claim waits for its step's transaction, and its fence fails afterwards.
pub(crate) async fn rescue_orphans(engine: &Engine) -> Result<usize, Error> {
    let mut tx = engine.pool().begin().await?;
    let sweeping: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended('saga.rescue', 0))")
        .fetch_one(&mut *tx)
        .await?;
    if !sweeping {
        return Ok(0);
    }
    let orphans: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT i.id, key FROM saga.instances i, \
              LATERAL (SELECT i.id::text || ' ' || i.lease_owner || ' ' || \
                              extract(epoch FROM i.lease_until)::text AS key) k \
         WHERE i.state IN ('running', 'compensating') AND i.lease_owner IS NOT NULL \
           AND i.run_after <= now() \
           AND (i.lease_until < now() \
                OR NOT EXISTS (SELECT 1 FROM apalis.workers w \
                               WHERE w.id = i.lease_owner AND w.last_seen > now() - make_interval(secs => $1))) \
           AND NOT EXISTS (SELECT 1 FROM apalis.jobs j WHERE j.job_type = $2 AND j.idempotency_key = k.key)",
    )
    .bind(engine.inner.settings.orphaned_after().as_secs_f64())
    .bind(QUEUE)
    .fetch_all(&mut *tx)
    .await?;
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
    engine.inner.metrics.rescued(orphans.len());
    tracing::warn!(
        count = orphans.len(),
        "saga instances nobody drove any more (lease lapsed, or worker stopped) queued again"
    );
    Ok(orphans.len())
}

/// Sweeps for orphaned instances (`rescue_orphans`) once per heartbeat until `shutdown`.
pub(crate) async fn rescue_orphans_regularly(engine: Engine, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(engine.inner.settings.heartbeat);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if let Err(e) = rescue_orphans(&engine).await {
            tracing::warn!(error = %e, "looking for saga instances left by stopped workers failed");
        }
    }
}

/// This process's running worker, as instances started here see it.
#[derive(Debug, Clone)]
pub(crate) struct LocalWorker {
    /// The apalis worker's name: its heartbeat keeps the leases taken under it.
    worker: Arc<str>,
    tasks: TaskTracker,
}

/// A new instance handed to this process's worker by `Engine::start`, admitted while the
/// worker drives or holds no more than twice its slots' worth of instances.
#[derive(Debug)]
pub(crate) struct Handover {
    admission: OwnedSemaphorePermit,
    worker: LocalWorker,
    /// What became of the first steps in the starting transaction.
    pub(crate) at_start: AtStart,
}

impl Handover {
    /// Admits a new instance to the running worker, if it runs and has room.
    pub(crate) fn admit(inner: &Inner) -> Option<Self> {
        let worker = inner.local.read().ok()?.clone()?;
        let admission = inner.admitted.clone().try_acquire_owned().ok()?;
        Some(Self {
            admission,
            worker,
            at_start: AtStart::NotRun,
        })
    }

    /// The worker the instance is handed to.
    pub(crate) fn worker(&self) -> Arc<str> {
        self.worker.worker.clone()
    }

    /// Drives `instance` once a slot is free, in the background. Should it fail (the database
    /// went away), the sweep for orphans queues it once this worker's lease has lapsed.
    pub(crate) fn drive(self, inner: &Arc<Inner>, instance: Uuid) {
        let engine = Engine::with_worker(inner.clone(), self.worker.worker.clone());
        self.worker.tasks.spawn(async move {
            let _admission = self.admission;
            let Ok(_slot) = engine.inner.slots.acquire().await else {
                return;
            };
            let driven = match self.at_start {
                _ if engine.inner.faults.hand_over_lost() => Err(Error::Queue("fault injection: the hand-over failed".into())),
                AtStart::Ran(run) => engine.continue_after(run).await,
                AtStart::Failed => engine.drive_step_by_step(instance).await,
                AtStart::NotRun => engine.drive(instance).await,
            };
            if let Err(e) = driven {
                tracing::warn!(%instance, error = %e, "driving a saga instance failed; it is queued once its lease lapses");
            }
        });
    }
}

/// Publishes the running worker to instances started in this process, or withdraws it.
fn set_local(engine: &Engine, worker: Option<LocalWorker>) {
    if let Ok(mut local) = engine.inner.local.write() {
        *local = worker;
    }
}

/// Runs the engine's apalis worker until `shutdown`. apalis stops a worker for good when its
/// backend fails (the database went away): a new worker then takes its place, under a new
/// name, so the stopped one's jobs and leases go to live workers as when a process dies.
pub(crate) fn spawn_worker(engine: Engine, shutdown: CancellationToken, tasks: &TaskTracker) {
    let tracker = tasks.clone();
    tasks.spawn(async move {
        let tasks = tracker;
        let mut engine = engine;
        let mut backoff = RESTART_BACKOFF;
        loop {
            let started = Instant::now();
            let local = LocalWorker {
                worker: engine.worker().into(),
                tasks: tasks.clone(),
            };
            set_local(&engine, Some(local));
            let outcome = run_worker(&engine, &shutdown).await;
            set_local(&engine, None);
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
    let _slot = engine.inner.slots.acquire().await?;
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
