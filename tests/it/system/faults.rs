//! Faults injected into the running shop under a steady load of checkouts: product-order and
//! customer killed with SIGKILL and restarted, RabbitMQ's application stopped and started,
//! PostgreSQL stopped at once and started. PostgreSQL and RabbitMQ are the test's own, so no
//! other test notices. After each fault the shop must converge.

use std::sync::Arc;
use std::time::{Duration, Instant};

use testkit::{LogDir, PrivatePostgres, PrivateRabbitMq, ServiceProcess};

use super::audit::converge;
use super::load::Load;
use super::{Catalog, Report, Row, Wiring, sign_up};
use crate::helpers::Stores;

/// How long the shop may take to settle once a fault is over.
const CONVERGE_WITHIN: Duration = Duration::from_secs(60);

/// How many checkouts the load makes between faults (and during those the API survives).
const CHECKOUTS_BETWEEN_FAULTS: usize = 10;

#[derive(Clone, Copy, Debug)]
enum Fault {
    None,
    ProductOrderKilled,
    CustomerKilled,
    BrokerStopped,
    DatabaseStopped,
}

impl Fault {
    fn describe(self) -> &'static str {
        match self {
            Fault::None => "none (the load alone)",
            Fault::ProductOrderKilled => "product-order killed (SIGKILL) mid-checkout, restarted",
            Fault::CustomerKilled => "customer killed (SIGKILL), orders placed meanwhile, restarted",
            Fault::BrokerStopped => "RabbitMQ stop_app, checkouts meanwhile, start_app",
            Fault::DatabaseStopped => "PostgreSQL stopped (immediate), started",
        }
    }
}

/// The running shop and what it stands on.
struct Shop {
    postgres: PrivatePostgres,
    rabbitmq: PrivateRabbitMq,
    customer: ServiceProcess,
    product_order: ServiceProcess,
    stores: Stores,
    load: Load,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_each_fault_under_load_every_checkout_ends_and_every_order_is_accounted_for_once() {
    let (postgres, rabbitmq) = tokio::join!(PrivatePostgres::start(), PrivateRabbitMq::start());
    let wiring = Wiring {
        customer_database_url: postgres.database_url("shop_customer"),
        product_order_database_url: postgres.database_url("shop_product_order"),
        amqp_url: rabbitmq.amqp_url(),
        events_exchange: "shop.events".to_owned(),
        customer_events_queue: "customer.order-events".to_owned(),
        logs: LogDir::new("system-faults"),
    };
    let customer = wiring.customer("customer").await;
    let product_order = wiring.product_order("product-order", &customer.url).await;
    let catalog = Arc::new(Catalog::stock(&customer.url, &product_order.url).await);
    let shoppers = sign_up(&[&customer.url], &[&product_order.url], 6).await;
    let basket = catalog.clone();
    let mut shop = Shop {
        stores: Stores::connect(&wiring.product_order_database_url, &wiring.customer_database_url).await,
        load: Load::start(shoppers, Arc::new(move |s, r| basket.basket(s, r))),
        postgres,
        rabbitmq,
        customer,
        product_order,
    };

    let mut report = Report::default();
    for fault in [
        Fault::None,
        Fault::ProductOrderKilled,
        Fault::CustomerKilled,
        Fault::BrokerStopped,
        Fault::DatabaseStopped,
    ] {
        let before = shop.load.ledger();
        shop.load.resume();
        shop.load
            .wait_for_accepted(
                before.accepted.len(),
                CHECKOUTS_BETWEEN_FAULTS,
                "checkouts before the fault",
            )
            .await;
        eprintln!("fault: {}", fault.describe());
        shop.inject(fault).await;
        let healed = Instant::now();
        let deadline = healed + CONVERGE_WITHIN;
        // Each shopper finishes the round it is in; the audit names any checkout left behind.
        shop.load.pause(deadline).await;
        let seen = shop.load.ledger();
        let audit = converge(&shop.stores, &seen.accepted, &catalog.initial_stock, deadline).await;
        let converged = audit.mismatches.is_empty();
        report.rows.push(Row {
            fault: fault.describe(),
            accepted: seen.accepted.len(),
            retried: seen.retried - before.retried,
            audit,
            converged_in: healed.elapsed(),
        });
        if !converged {
            break;
        }
    }
    shop.load.stop();
    println!("{report}");
    report.assert_no_mismatch();
}

impl Shop {
    /// Injects `fault` while the load runs and returns once it is over (every service ready).
    async fn inject(&mut self, fault: Fault) {
        match fault {
            Fault::None => {}
            Fault::ProductOrderKilled => {
                self.checkout_in_flight().await;
                self.product_order.kill().await;
                self.product_order.restart().await;
            }
            Fault::CustomerKilled => {
                self.customer.kill().await;
                self.more_checkouts("checkouts while customer is down").await;
                self.customer.restart().await;
            }
            Fault::BrokerStopped => {
                self.rabbitmq.stop_app().await;
                self.wait_until_unready("the services noticing the broker is gone")
                    .await;
                self.more_checkouts("checkouts while the broker is down").await;
                self.rabbitmq.start_app().await;
            }
            Fault::DatabaseStopped => {
                let retried = self.load.ledger().retried;
                self.postgres.stop_server().await;
                self.wait_until_unready("the services noticing the database is gone")
                    .await;
                self.load
                    .wait_for_retries(retried, "shoppers meeting the database outage")
                    .await;
                self.postgres.start_server().await;
            }
        }
        self.customer.wait_ready().await;
        self.product_order.wait_ready().await;
    }

    /// Waits until a saga is between its first and last step.
    async fn checkout_in_flight(&self) {
        testkit::wait_until("a checkout in flight", Duration::from_secs(30), || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM saga.instances WHERE state = 'running'")
                .fetch_one(&self.stores.product_order)
                .await
                .is_ok_and(|running| running > 0)
        })
        .await;
    }

    async fn more_checkouts(&self, what: &str) {
        let accepted = self.load.ledger().accepted.len();
        self.load.wait_for_accepted(accepted, 5, what).await;
    }

    /// Waits until both services' `/readyz` answer that a dependency is down.
    async fn wait_until_unready(&self, what: &str) {
        testkit::wait_until(what, Duration::from_secs(30), || async {
            self.customer.readiness().await == Some(false) && self.product_order.readiness().await == Some(false)
        })
        .await;
    }
}
