//! A durable saga engine that knows nothing of shops. A saga is an ordered list of named steps,
//! each with an action and an optional compensation; when a step fails for good, the
//! compensations of the steps before it run in reverse.
//!
//! - `machine`: the pure transition function (where an instance goes after an event).
//! - `definition`: how a saga is declared.
//! - `engine`: instances and attempts in PostgreSQL, driven by leased workers.
//! - `queue`: step execution carried by apalis's PostgreSQL queue.
//! - `views`, `operator`, `graph`: what operators read, do, and see drawn.

pub mod definition;
pub mod engine;
pub mod faults;
pub mod graph;
pub mod machine;
pub mod metrics;
pub mod operator;
pub mod policy;
pub mod queue;
mod schema;
pub mod views;

pub use definition::{
    CheckFuture, Definition, GuardContext, GuardFuture, OperatorGuard, OperatorMove, SearchKeys, Step, StepAction,
    StepContext, StepError, StepFuture,
};
pub use engine::{Engine, EngineSettings, Error, NewInstance, Started};
pub use faults::{FaultInjection, FaultPoint};
pub use graph::{Edge, EdgeKind, Node};
pub use machine::{Action, Event, InstanceState, Phase, Position, Refused, Shape, StepShape, transition};
pub use metrics::SagaMetrics;
pub use operator::Actor;
pub use policy::RetryPolicy;
pub use views::{AttemptView, InstanceSummary, InstanceView, ListFilter, Search, StepState, StepView};
