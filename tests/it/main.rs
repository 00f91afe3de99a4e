//! Cross-service tests: the shop's services started in-process against real PostgreSQL and
//! RabbitMQ (one test binary, since each links the whole tree).

mod accounts;
mod browser;
mod cart;
mod catalog;
mod checkout;
mod checkout_faults;
mod helpers;
mod operations;
mod order_history;
mod order_history_faults;
mod sessions;
mod startup;
mod system;
mod tokens;
mod web_accounts;
mod web_catalog;
mod web_checkout;
mod web_orders;
mod web_sagas;
