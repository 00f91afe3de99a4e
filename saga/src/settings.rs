//! How the engine's workers run.

use std::time::Duration;

/// How the engine's workers run.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Names this process's worker (a unique suffix is added).
    pub worker_name: String,
    /// Instances driven at once by this process.
    pub concurrency: usize,
    /// How often the worker tells the others it is alive.
    pub heartbeat: Duration,
    /// Heartbeats missed before a worker counts as dead: its jobs and leases go to others.
    pub missed_heartbeats: u32,
    /// How often the queue is polled for delayed work besides being woken by NOTIFY.
    pub poll_interval: Duration,
    /// How much longer than its step's timeout a lease runs: a lease that lapses means the
    /// instance's driving was lost, and the sweep hands it to a worker.
    pub lease_margin: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            worker_name: "saga".into(),
            concurrency: 16,
            heartbeat: Duration::from_secs(2),
            missed_heartbeats: 3,
            poll_interval: Duration::from_secs(1),
            lease_margin: Duration::from_secs(10),
        }
    }
}

impl EngineSettings {
    /// How long a worker's heartbeats must have stopped for it to count as dead.
    pub(crate) fn orphaned_after(&self) -> Duration {
        self.heartbeat * self.missed_heartbeats.max(1)
    }
}
