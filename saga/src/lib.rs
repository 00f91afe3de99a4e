//! A saga engine that knows nothing of shops. A saga is an ordered list of named steps, each
//! with an action and an optional compensation; when a step fails for good, the compensations
//! of the steps before it run in reverse. This crate's core is a pure transition function
//! (`machine`): given where an instance stands and what just happened, it says where the
//! instance goes and what to run next, so every rule is testable without a database.

pub mod machine;
pub mod policy;

pub use machine::{Action, Event, InstanceState, Phase, Position, Refused, Shape, StepShape, transition};
pub use policy::RetryPolicy;
