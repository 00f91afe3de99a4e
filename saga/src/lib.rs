//! A durable saga engine that knows nothing of shops. A saga is an ordered list of named steps,
//! each with an action and an optional compensation; when a step fails for good, the
//! compensations of the steps before it run in reverse.
//!
//! - `machine`, `policy`, `graph`: the pure core, from `saga-core` (where an instance goes
//!   after an event, how a step is retried, the edges drawn for operators).
//! - `definition`: how a saga is declared.
//! - `engine`: instances and attempts in PostgreSQL, driven by leased workers: `start`,
//!   `claim`, `run` and `record` what it does, `worker` what runs in the background.
//! - `store`: every statement the engine sends to PostgreSQL.
//! - `queue`: step execution carried by apalis's PostgreSQL queue.
//! - `views`, `operator`: what operators read and do.

mod claim;
pub mod definition;
pub mod engine;
mod error;
pub mod faults;
pub mod metrics;
pub mod operator;
pub mod queue;
mod record;
mod run;
mod schema;
mod settings;
mod start;
mod store;
pub mod views;
mod worker;

pub use saga_core::{graph, machine, policy};

pub use definition::{
    CheckFuture, Definition, GuardContext, GuardFuture, OperatorGuard, SearchKeys, Step, StepAction, StepContext,
    StepError, StepFuture,
};
pub use engine::Engine;
pub use error::Error;
pub use faults::{FaultInjection, FaultPoint};
pub use graph::{Edge, EdgeKind, Node};
pub use machine::{Action, Event, InstanceState, Phase, Position, Refused, Shape, StepShape, transition};
pub use metrics::SagaMetrics;
pub use operator::Actor;
pub use policy::RetryPolicy;
pub use saga_core::{AttemptOutcome, OperatorMove, StepState};
pub use settings::EngineSettings;
pub use start::{NewInstance, Started};
pub use views::{AttemptView, InstanceSummary, InstanceView, ListFilter, Search, StepView};
