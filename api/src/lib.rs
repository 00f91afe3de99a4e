//! The shop's HTTP API as Rust types, written once: the services build and send them, the web
//! front's clients receive them (and send the requests), and the OpenAPI descriptions are
//! derived from them. The JSON-level tests (`tests/it`) pin the wire independently of these
//! types, so a change here that changes the wire still fails a test.
//!
//! - `error`: the error body every service answers with, and its codes.
//! - `money`: the currencies the shop sells in.
//! - `catalog`: products, their stock trail, carts.
//! - `checkout`: the details a checkout takes, starting one, and how one stands.
//! - `orders`: what a status move answers.
//! - `sagas`: product-order's saga console (list, one saga, operator actions, bulk retry).
//! - `whole_number`, `schema`: how numbers are read and enumerations described.
//!
//! The saga engine's own words (`InstanceState`, `Phase`, `StepState`, an instance's views)
//! are `saga_core`'s; the messages between services are `contracts`'.

pub mod catalog;
pub mod checkout;
pub mod error;
pub mod money;
pub mod orders;
pub mod sagas;
pub mod schema;
pub mod whole_number;

pub use error::{ErrorBody, ErrorCode, ErrorDetail};
