//! Test support: real PostgreSQL and RabbitMQ (from `TEST_DATABASE_URL` / `TEST_AMQP_URL`,
//! else the local defaults when they answer, else containers), a fresh database per test,
//! and the shop's services started in-process on free ports.

mod infra;
mod shop;

pub use infra::{Infra, fresh_database_url, infra};
mod proxy;
pub use proxy::TcpProxy;
pub use shop::{ProductOrderReplica, Replica, TestShop, delete_event_queues, wait_until};
