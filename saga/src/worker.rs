//! What a running engine keeps doing in the background: its apalis worker (replaced by a new
//! one when it stops), the new instances started here and handed to it, the sweep for
//! instances nobody drives any more, and the metrics sampler.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::engine::{Engine, Inner, LocalWorker};
use crate::error::Error;
use crate::metrics::StateLabel;
use crate::{queue, store};

impl Engine {
    /// Runs the workers (with the sweep for instances left by stopped workers, and the metrics
    /// sampler) until `shutdown`.
    pub fn spawn(&self, shutdown: CancellationToken, tasks: &TaskTracker) {
        spawn_worker(self.clone(), shutdown.clone(), tasks);
        tasks.spawn(rescue_orphans_regularly(self.clone(), shutdown.clone()));
        tasks.spawn(sample_metrics(self.clone(), shutdown));
    }
}

/// A new instance handed to this process's worker by `Engine::start`, admitted while the
/// worker drives or holds no more than twice its slots' worth of instances.
#[derive(Debug)]
pub(crate) struct Handover {
    admission: OwnedSemaphorePermit,
    worker: LocalWorker,
}

impl Handover {
    /// Admits a new instance to the running worker, if it runs and has room.
    pub(crate) fn admit(inner: &Inner) -> Option<Self> {
        let worker = inner.local.read().ok()?.clone()?;
        let admission = inner.admitted.clone().try_acquire_owned().ok()?;
        Some(Self { admission, worker })
    }

    /// The worker the instance is handed to.
    pub(crate) fn worker(&self) -> &str {
        &self.worker.worker
    }

    /// Drives `instance` with `drive` once a slot is free, in the background. Should it fail
    /// (the database went away), the sweep for orphans queues it once this worker's lease has
    /// lapsed.
    pub(crate) fn drive<F, Driving>(self, inner: &Arc<Inner>, instance: Uuid, drive: F)
    where
        F: FnOnce(Engine) -> Driving + Send + 'static,
        Driving: Future<Output = Result<(), Error>> + Send,
    {
        let engine = Engine::with_worker(inner.clone(), self.worker.worker.clone());
        self.worker.tasks.spawn(async move {
            let _admission = self.admission;
            let slots = engine.inner.slots.clone();
            let Ok(_slot) = slots.acquire().await else {
                return;
            };
            let driven = if engine.inner.faults.hand_over_lost() {
                Err(Error::Queue("fault injection: the hand-over failed".into()))
            } else {
                drive(engine).await
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

/// The first wait before a stopped worker is replaced; it doubles while replacements stop
/// again at once.
const RESTART_BACKOFF: Duration = Duration::from_millis(250);
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(5);

/// Runs the engine's apalis worker until `shutdown`. apalis stops a worker for good when its
/// backend fails (the database went away): a new worker then takes its place, under a new
/// name, so the stopped one's jobs and leases go to live workers as when a process dies.
fn spawn_worker(engine: Engine, shutdown: CancellationToken, tasks: &TaskTracker) {
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
            let outcome = queue::run_worker(
                engine.pool(),
                &engine.inner.settings,
                engine.worker(),
                driver(&engine),
                &shutdown,
            )
            .await;
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

/// What the queue's jobs do: drive their instance as `engine`'s worker, once a slot is free.
fn driver(engine: &Engine) -> queue::Driver {
    let engine = engine.clone();
    queue::Driver(Arc::new(move |instance| -> queue::Driving {
        let engine = engine.clone();
        Box::pin(async move {
            let _slot = (engine.inner.slots.acquire().await).map_err(|e| Error::Queue(e.to_string()))?;
            engine.drive(instance).await
        })
    }))
}

/// Sweeps for orphaned instances (`queue::rescue_orphans`) once per heartbeat until
/// `shutdown`.
async fn rescue_orphans_regularly(engine: Engine, shutdown: CancellationToken) {
    let settings = &engine.inner.settings;
    let mut ticks = tokio::time::interval(settings.heartbeat);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match queue::rescue_orphans(engine.pool(), settings.orphaned_after()).await {
            Ok(0) => {}
            Ok(rescued) => engine.inner.metrics.rescued(rescued),
            Err(e) => tracing::warn!(error = %e, "looking for saga instances left by stopped workers failed"),
        }
    }
}

/// Samples queue age and instances per state every few seconds until `shutdown`.
async fn sample_metrics(engine: Engine, shutdown: CancellationToken) {
    let metrics = engine.metrics();
    loop {
        if let Ok(age) = store::oldest_due_age(engine.pool(), queue::QUEUE).await {
            metrics.queue_age_seconds.set(age.as_secs_f64());
        }
        if let Ok(counts) = engine.count_by_state().await {
            for (state, count) in counts {
                let label = StateLabel {
                    state: state.as_str().into(),
                };
                metrics.instances.get_or_create(&label).set(count);
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}
