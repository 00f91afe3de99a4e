//! The shop on clustered dependencies, as in production: RabbitMQ a cluster of three nodes of
//! the test's own that loses one node at a time, and PostgreSQL a primary with a synchronous
//! streaming replica behind one read-write endpoint, the replica promoted when the primary
//! dies. The services run as processes (`system::Wiring`) under the system tests' load of
//! checkouts, with an operator moving the orders along; `system::audit` says after each fault
//! whether every guarantee held.

mod broker;
mod database;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use testkit::ServiceProcess;
use uuid::Uuid;

use crate::helpers::Stores;
use crate::system::load::{Ledger, Load, Operator, Shopper};
use crate::system::{Catalog, operator_token, sign_up};

/// How long the shop may take to settle once a fault is over.
const CONVERGE_WITHIN: Duration = Duration::from_secs(60);

/// Six shoppers checking out on `product_order` and an operator moving their orders along.
async fn load(customer: &ServiceProcess, product_order: &ServiceProcess, stores: &Stores) -> (Arc<Catalog>, Load) {
    let catalog = Arc::new(Catalog::stock(&customer.url, &product_order.url).await);
    let shoppers: Vec<Shopper> = sign_up(&[&customer.url], &[&product_order.url], 6).await;
    let operator = Operator {
        product_order_url: product_order.url.clone(),
        access_token: operator_token(&customer.url).await,
        orders: stores.product_order.clone(),
    };
    let baskets = catalog.clone();
    let load = Load::start_with_operator(shoppers, Arc::new(move |s, r| baskets.basket(s, r)), operator);
    (catalog, load)
}

/// The database's clock (the outbox's times are the database's).
async fn database_now(stores: &Stores) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&stores.product_order)
        .await
        .expect("product-order's database answers")
}

/// Waits until an event product-order wrote after `since` has been applied by customer:
/// events flow from end to end again.
async fn events_flow_again(stores: &Stores, since: DateTime<Utc>, what: &str) {
    testkit::wait_until(what, CONVERGE_WITHIN, || async {
        let written: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM outbox WHERE created_at > $1")
            .bind(since)
            .fetch_all(&stores.product_order)
            .await
            .unwrap_or_default();
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM applied_events WHERE event_id = ANY($1)")
            .bind(&written)
            .fetch_one(&stores.customer)
            .await
            .is_ok_and(|applied| applied > 0)
    })
    .await;
}

/// The longest customer went without applying an event after `since` (up to its last one):
/// under a steady load, how long events stopped flowing. Both databases are on one server, so
/// their clocks agree.
async fn longest_pause_in_applying(stores: &Stores, since: DateTime<Utc>) -> Option<Duration> {
    let applied: Vec<DateTime<Utc>> =
        sqlx::query_scalar("SELECT applied_at FROM applied_events WHERE applied_at > $1 ORDER BY applied_at")
            .bind(since)
            .fetch_all(&stores.customer)
            .await
            .ok()?;
    std::iter::once(since)
        .chain(applied)
        .collect::<Vec<_>>()
        .windows(2)
        .filter_map(|pair| (pair[1] - pair[0]).to_std().ok())
        .max()
}

/// Deliveries customer found it had applied already (redelivered after a connection or a
/// queue leader was lost), from its log: one debug line per event handled.
fn duplicates_seen(customer: &ServiceProcess) -> usize {
    customer
        .log_text()
        .lines()
        .filter(|line| line.contains(r#""message":"order event""#) && line.contains(r#""applied":"Duplicate""#))
        .count()
}

/// The longest an event written after `since` took from product-order's outbox to customer
/// (both databases' clocks are the machine's), or None when none was applied.
async fn slowest_event(stores: &Stores, since: DateTime<Utc>) -> Option<Duration> {
    let written: HashMap<Uuid, DateTime<Utc>> =
        sqlx::query_as("SELECT id, created_at FROM outbox WHERE created_at > $1")
            .bind(since)
            .fetch_all(&stores.product_order)
            .await
            .ok()?
            .into_iter()
            .collect();
    let ids: Vec<Uuid> = written.keys().copied().collect();
    let applied: Vec<(Uuid, DateTime<Utc>)> =
        sqlx::query_as("SELECT event_id, applied_at FROM applied_events WHERE event_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&stores.customer)
            .await
            .ok()?;
    applied
        .iter()
        .filter_map(|(id, at)| (*at - *written.get(id)?).to_std().ok())
        .max()
}

/// Waits until every one of `services` answers ready.
async fn wait_until_ready(services: &[&ServiceProcess]) {
    for service in services {
        testkit::wait_until(&format!("{} ready", service.label), CONVERGE_WITHIN, || async {
            service.readiness().await == Some(true)
        })
        .await;
    }
}

/// The requests that got a 5xx or no answer (and were made again), by kind.
fn failures_table(ledger: &Ledger) -> String {
    let mut table = String::from("| request failed (then retried) | times |\n|---|---:|\n");
    for (kind, times) in &ledger.failures {
        table.push_str(&format!("| {kind} | {times} |\n"));
    }
    if ledger.failures.is_empty() {
        table.push_str("| none | 0 |\n");
    }
    table
}

fn seconds(duration: Option<Duration>) -> String {
    duration.map_or_else(|| "-".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()))
}

/// How long each of some services answered `/readyz` with "not ready" (or not at all), sampled
/// every 50 ms from `start` until `stop`.
struct ReadinessWatch {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<(String, tokio::task::JoinHandle<Duration>)>,
}

impl ReadinessWatch {
    fn start(services: &[&ServiceProcess]) -> Self {
        let stop = tokio::sync::watch::Sender::new(false);
        let tasks = services
            .iter()
            .map(|service| {
                let url = format!("{}/readyz", service.internal_url);
                let mut stopped = stop.subscribe();
                let task = tokio::spawn(async move {
                    let http = reqwest::Client::builder()
                        .timeout(Duration::from_secs(2))
                        .build()
                        .expect("an HTTP client");
                    let mut unready = Duration::ZERO;
                    let mut tick = tokio::time::interval(Duration::from_millis(50));
                    let mut last = Instant::now();
                    loop {
                        tokio::select! {
                            _ = stopped.wait_for(|stop| *stop) => return unready,
                            _ = tick.tick() => {}
                        }
                        let ready = http
                            .get(&url)
                            .send()
                            .await
                            .is_ok_and(|response| response.status().is_success());
                        let now = Instant::now();
                        if !ready {
                            unready += now - last;
                        }
                        last = now;
                    }
                });
                (service.label.clone(), task)
            })
            .collect();
        Self { stop, tasks }
    }

    /// Each service's label with the time it was not ready.
    async fn stop(self) -> Vec<(String, Duration)> {
        self.stop.send_replace(true);
        let mut unready = Vec::new();
        for (label, task) in self.tasks {
            unready.push((label, task.await.expect("the readiness watch ends")));
        }
        unready
    }
}
