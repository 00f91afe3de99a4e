//! The engine's Prometheus metrics; the host registers them with its registry.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use saga_core::{AttemptOutcome, InstanceState, Phase};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SagaLabel {
    pub saga: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndLabels {
    pub saga: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    pub saga: String,
    pub step: String,
    pub phase: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    pub saga: String,
    pub step: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

fn step_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_5, 2.0, 16))
}

/// Counters and gauges of the engine, cheap to clone (they share their values).
#[derive(Clone, Debug)]
pub struct SagaMetrics {
    pub started: Family<SagaLabel, Counter>,
    pub ended: Family<EndLabels, Counter>,
    pub attempts: Family<AttemptLabels, Counter>,
    pub step_seconds: Family<StepLabels, Histogram>,
    /// Instances per state, sampled from the database.
    pub instances: Family<StateLabel, Gauge>,
    /// How long the oldest due job has waited for a worker, sampled.
    pub queue_age_seconds: Gauge<f64, AtomicU64>,
    /// Instances the sweep found with nobody driving them and queued again.
    pub rescued: Counter,
    /// Attempts a worker gave up because the instance had moved on without it (its lease
    /// lapsed and another worker took over, or an operator acted): the fence held.
    pub fenced_out: Counter,
}

impl Default for SagaMetrics {
    fn default() -> Self {
        Self {
            started: Family::default(),
            ended: Family::default(),
            attempts: Family::default(),
            step_seconds: Family::new_with_constructor(step_histogram as fn() -> Histogram),
            instances: Family::default(),
            queue_age_seconds: Gauge::default(),
            rescued: Counter::default(),
            fenced_out: Counter::default(),
        }
    }
}

impl SagaMetrics {
    pub(crate) fn started(&self, saga: &str) {
        self.started.get_or_create(&SagaLabel { saga: saga.into() }).inc();
    }

    pub(crate) fn ended(&self, saga: &str, state: InstanceState) {
        self.ended
            .get_or_create(&EndLabels {
                saga: saga.into(),
                state: state.as_str().into(),
            })
            .inc();
    }

    pub(crate) fn attempt(&self, saga: &str, step: &str, phase: Phase, outcome: AttemptOutcome) {
        self.attempts
            .get_or_create(&AttemptLabels {
                saga: saga.into(),
                step: step.into(),
                phase: phase.as_str().into(),
                outcome: outcome.as_str().into(),
            })
            .inc();
    }

    pub(crate) fn rescued(&self, count: usize) {
        self.rescued.inc_by(count as u64);
    }

    pub(crate) fn duration(&self, saga: &str, step: &str, elapsed: Duration) {
        self.step_seconds
            .get_or_create(&StepLabels {
                saga: saga.into(),
                step: step.into(),
            })
            .observe(elapsed.as_secs_f64());
    }
}
