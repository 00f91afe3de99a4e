//! The saga engine's pure core: the words it speaks (instance states, phases, positions, step
//! states, the edges of a drawing) and the rules it follows (the transition function, retry
//! policies), with no database, queue or runtime, so that whatever shows or decides about an
//! instance (the engine, a web front) uses the same vocabulary and the same wire strings.
//!
//! - `machine`: where an instance goes after an event.
//! - `policy`: how a step is retried.
//! - `graph`: a definition's steps as a graph for drawing.
//! - `progress`: how each step of an instance stands, and how attempts ended.
//! - `recovery`: what becomes of an attempt whose worker stopped.
//! - `operator`: what an operator's move may do.
//! - `views`: an instance as its readers see it.

pub mod graph;
pub mod machine;
pub mod operator;
pub mod policy;
pub mod progress;
pub mod recovery;
pub mod views;

pub use graph::{Edge, EdgeKind, Node, edges};
pub use machine::{Action, Event, InstanceState, Phase, Position, Refused, Shape, StepShape, transition};
pub use operator::OperatorMove;
pub use policy::RetryPolicy;
pub use progress::{AttemptOutcome, StepState};
