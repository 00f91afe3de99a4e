//! The durable engine: instances and attempts in PostgreSQL, steps driven by workers that
//! hold a lease on the instance they run.
//!
//! A worker claims an instance (a lease that lapses when it expires or when the worker's
//! heartbeat stops), then runs its steps one after another. Each attempt runs in one
//! transaction that first locks the instance row and checks the instance still stands where
//! the worker claimed it (the fence), then runs the action, then records the outcome and the
//! next position: the step's effects and the record commit together, so a step whose worker
//! dies takes effect exactly once however often it is run.
//!
//! Here: the engine's handle and what it holds. Its work is told apart by what it does:
//! `start` (new instances), `claim` (taking an instance's lease), `run` (attempts and chains),
//! `record` (writing each move), `worker` (what runs in the background); every statement is
//! in `store`, every decision that needs no database in `saga-core`.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::task::TaskTracker;

use crate::definition::{Definition, Step};
use crate::error::Error;
use crate::faults::FaultInjection;
use crate::metrics::SagaMetrics;
use crate::settings::EngineSettings;

/// The durable saga engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
    /// The worker this handle drives instances as: it names the apalis worker whose heartbeat
    /// keeps this process's leases, and it is recorded on attempts.
    worker: Arc<str>,
}

pub(crate) struct Inner {
    pub(crate) pool: PgPool,
    definitions: Vec<Definition>,
    pub(crate) settings: EngineSettings,
    pub(crate) metrics: SagaMetrics,
    pub(crate) faults: FaultInjection,
    /// Instances this process drives at once, whether its queue or a start handed them over.
    pub(crate) slots: Arc<tokio::sync::Semaphore>,
    /// Instances handed over by starts that this process holds at once, driving or waiting
    /// for a slot: twice the slots, so a burst waits here rather than in the queue.
    pub(crate) admitted: Arc<tokio::sync::Semaphore>,
    /// This process's worker while it runs, for the instances started here.
    pub(crate) local: std::sync::RwLock<Option<LocalWorker>>,
}

/// This process's running worker, as instances started here see it.
#[derive(Debug, Clone)]
pub(crate) struct LocalWorker {
    /// The apalis worker's name: its heartbeat keeps the leases taken under it.
    pub(crate) worker: Arc<str>,
    pub(crate) tasks: TaskTracker,
}

impl Engine {
    /// Creates the engine's schema (and apalis's) when missing.
    pub async fn new(pool: PgPool, definitions: Vec<Definition>, settings: EngineSettings) -> Result<Self, Error> {
        crate::schema::migrate(&pool).await?;
        let worker = worker_name(&settings);
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                definitions,
                slots: Arc::new(tokio::sync::Semaphore::new(settings.concurrency.max(1))),
                admitted: Arc::new(tokio::sync::Semaphore::new(settings.concurrency.max(1) * 2)),
                settings,
                metrics: SagaMetrics::default(),
                faults: FaultInjection::default(),
                local: std::sync::RwLock::default(),
            }),
            worker,
        })
    }

    /// The same engine as a new worker, for a worker that replaces one which stopped: the
    /// stopped one's jobs and leases go to live workers once its heartbeat is missed, as
    /// when a process dies.
    pub(crate) fn as_new_worker(&self) -> Self {
        Self::with_worker(self.inner.clone(), worker_name(&self.inner.settings))
    }

    pub(crate) fn with_worker(inner: Arc<Inner>, worker: Arc<str>) -> Self {
        Self { inner, worker }
    }

    pub fn metrics(&self) -> &SagaMetrics {
        &self.inner.metrics
    }

    /// Lets tests stop this process's worker at a chosen point of a step.
    pub fn faults(&self) -> &FaultInjection {
        &self.inner.faults
    }

    /// Whether this process's worker runs, so that instances started here are handed to it.
    pub fn worker_is_running(&self) -> bool {
        self.inner.local.read().is_ok_and(|local| local.is_some())
    }

    /// The worker this handle drives instances as, as recorded on attempts.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    pub fn definition(&self, name: &str) -> Result<&Definition, Error> {
        self.inner
            .definitions
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| Error::UnknownSaga(name.to_owned()))
    }

    /// The lease for running `step`, or, while the step is not known yet (a claim), the
    /// slowest step of any definition.
    pub(crate) fn lease(&self, step: Option<&Step>) -> Duration {
        let longest = (self.inner.definitions.iter())
            .flat_map(|d| d.steps.iter().map(|s| s.retry.timeout))
            .max();
        saga_core::policy::lease(step.map(|s| s.retry.timeout), longest, self.inner.settings.lease_margin)
    }
}

/// `<settings' name>-<pid>-<random>`: unique to one worker of one process.
fn worker_name(settings: &EngineSettings) -> Arc<str> {
    format!(
        "{}-{}-{:08x}",
        settings.worker_name,
        std::process::id(),
        random_u64() as u32
    )
    .into()
}

fn random_u64() -> u64 {
    getrandom::u64().unwrap_or(0x9e37_79b9_7f4a_7c15)
}

/// A random number in 0.0..1.0 for retry jitter.
pub(crate) fn random_unit() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}
