//! Test support: real PostgreSQL and RabbitMQ (from `TEST_DATABASE_URL` / `TEST_AMQP_URL`,
//! else the local defaults when they answer, else containers), a fresh database per test,
//! and the shop's services started in-process on free ports; or the services as separate
//! processes from their binaries, with private PostgreSQL and RabbitMQ servers to stop and
//! start.

mod infra;
mod private;
mod process;
mod proxy;
mod shop;

pub use infra::{Infra, fresh_database_url, infra};
pub use private::{PrivatePostgres, PrivateRabbitMq, PrivateRabbitMqCluster, QueueReplicas};
pub use process::{LogDir, Service, ServiceProcess, free_port};
pub use proxy::TcpProxy;
pub use shop::{EventRoutes, ProductOrderReplica, Replica, TestShop, delete_event_queues, wait_until};
