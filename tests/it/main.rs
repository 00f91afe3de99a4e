//! Cross-service tests: the shop's services started in-process against real PostgreSQL and
//! RabbitMQ (one test binary, since each links the whole tree).

mod accounts;
mod bad_input;
mod bad_input_pages;
mod browser;
mod browser_journey;
mod browser_sagas;
mod cart;
mod catalog;
mod checkout;
mod checkout_faults;
mod chromium;
mod dead_letters;
mod ended_sessions;
mod helpers;
mod hostile;
mod interleaving;
mod operations;
mod ops_health;
mod order_history;
mod order_history_faults;
mod product_images;
mod reconciliation;
mod saga_console;
mod saga_engine;
mod second_factor;
mod security_headers;
mod sessions;
mod startup;
mod system;
mod tokens;
mod web_accounts;
mod web_catalog;
mod web_checkout;
mod web_orders;
mod web_sagas;
