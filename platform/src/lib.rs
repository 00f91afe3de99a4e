//! What every shop service shares: configuration helpers, telemetry, the PostgreSQL
//! and RabbitMQ connections, the HTTP stack (request ids, metrics, health), the JSON
//! error body, and verification of access tokens.

pub mod auth;
pub mod broker;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod service;
pub mod shutdown;
pub mod telemetry;

pub use error::{ApiError, FieldErrors, StartupError};
