//! What an instance looks like to whoever reads it (an operator's console, the requester's
//! status page): written by the engine, read by anyone, so both sides share these shapes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::graph::Edge;
use crate::machine::{InstanceState, Phase};
use crate::progress::{AttemptOutcome, StepState};

/// An instance in a list.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InstanceSummary {
    pub id: Uuid,
    pub saga: String,
    pub state: InstanceState,
    /// The step it is at (or ended at) and in which phase.
    pub step: String,
    pub phase: Phase,
    pub attempts: u32,
    /// Why it failed, in full (for operators).
    pub failure: Option<String>,
    /// Why it failed in words meant for whoever started it, when the failing step gave them
    /// (`StepError::rejected`); otherwise the host says it in words of its own.
    pub public_failure: Option<String>,
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// A step of the definition with how it went in this instance.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepView {
    pub index: usize,
    pub name: String,
    pub state: StepState,
    pub attempts: u32,
    pub error: Option<String>,
    /// `None` when the step has no compensation.
    pub compensation: Option<CompensationView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CompensationView {
    pub state: StepState,
    pub attempts: u32,
    pub error: Option<String>,
}

/// One attempt of a step or of its compensation.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptView {
    pub id: i64,
    pub step: String,
    pub phase: Phase,
    pub attempt: u32,
    pub worker: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub outcome: AttemptOutcome,
    pub error: Option<String>,
}

/// What an operator did to the instance.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OperatorActionView {
    pub operator: String,
    pub action: String,
    pub reason: String,
    pub state_before: String,
    pub state_after: String,
    /// What the action changed besides the state, for people to read.
    pub details: Option<Value>,
    pub at: DateTime<Utc>,
}

/// One instance, whole.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InstanceView {
    #[serde(flatten)]
    pub summary: InstanceSummary,
    pub input: Value,
    /// When the next attempt is due, while one is scheduled.
    pub run_after: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
    pub steps: Vec<StepView>,
    /// How the definition's steps and compensations lead to each other, for drawing.
    pub edges: Vec<Edge>,
    pub attempts_log: Vec<AttemptView>,
    pub operator_actions: Vec<OperatorActionView>,
}

/// How the instances of one saga started within a window stand now.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecentInstances {
    pub started: i64,
    pub completed: i64,
    pub failed: i64,
    pub stuck: i64,
    /// The commonest reasons those that failed (or are stuck) give, commonest first.
    pub failure_reasons: Vec<FailureReason>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FailureReason {
    pub reason: String,
    pub count: i64,
}

/// Instances waiting: stuck for an operator, or idle (running or compensating without a move
/// for a while), and where they wait.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WaitingInstances {
    pub stuck: i64,
    pub idle: i64,
    /// Stuck and idle together, by saga, step and phase, the largest counts first.
    pub steps: Vec<WaitingAt>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WaitingAt {
    pub saga: String,
    pub step: String,
    pub phase: Phase,
    pub count: i64,
}
