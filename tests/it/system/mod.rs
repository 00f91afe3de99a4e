//! The shop as in production: each service a process of its own, started from its binary and
//! configured by environment variables only, under a steady load of checkouts through the
//! HTTP API; then faults injected into it, or two instances of each service sharing the work.

pub mod audit;
mod faults;
mod instances;
pub mod load;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use testkit::{LogDir, Service, ServiceProcess};
use uuid::Uuid;

use crate::helpers::{CustomerApi, ProductOrderApi, email};
use audit::Audit;
use load::Shopper;

const OPERATOR_EMAIL: &str = "operator@shop.test";
const OPERATOR_PASSWORD: &str = "operator password";

/// Where the services' dependencies are, as their settings name them.
pub struct Wiring {
    pub customer_database_url: String,
    pub product_order_database_url: String,
    pub amqp_url: String,
    pub events_exchange: String,
    pub customer_events_queue: String,
    pub logs: LogDir,
}

impl Wiring {
    /// A customer, with the operator account, logging each event it applies.
    pub async fn customer(&self, label: &str) -> ServiceProcess {
        let env = [
            ("CUSTOMER_DATABASE_URL", self.customer_database_url.clone()),
            ("SHOP_AMQP_URL", self.amqp_url.clone()),
            ("SHOP_EVENTS_EXCHANGE", self.events_exchange.clone()),
            ("CUSTOMER_EVENTS_QUEUE", self.customer_events_queue.clone()),
            ("SHOP_OPERATOR_EMAIL", OPERATOR_EMAIL.to_owned()),
            ("SHOP_OPERATOR_PASSWORD", OPERATOR_PASSWORD.to_owned()),
            ("CUSTOMER_DATABASE_MAX_CONNECTIONS", "5".to_owned()),
            ("RUST_LOG", "info,customer::orders::events=debug".to_owned()),
        ];
        ServiceProcess::start(Service::Customer, label, &env, &self.logs).await
    }

    /// A product-order running saga workers whose death the others notice within 1.5 s.
    pub async fn product_order(&self, label: &str, customer_url: &str) -> ServiceProcess {
        let env = [
            ("PRODUCT_ORDER_DATABASE_URL", self.product_order_database_url.clone()),
            ("SHOP_AMQP_URL", self.amqp_url.clone()),
            ("SHOP_EVENTS_EXCHANGE", self.events_exchange.clone()),
            ("SHOP_CUSTOMER_URL", customer_url.to_owned()),
            ("PRODUCT_ORDER_DATABASE_MAX_CONNECTIONS", "10".to_owned()),
            ("PRODUCT_ORDER_SAGA_CONCURRENCY", "8".to_owned()),
            ("PRODUCT_ORDER_SAGA_HEARTBEAT_MS", "500".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ];
        ServiceProcess::start(Service::ProductOrder, label, &env, &self.logs).await
    }

    pub async fn web(&self, label: &str, customer_url: &str, product_order_url: &str) -> ServiceProcess {
        let env = [
            ("SHOP_AMQP_URL", self.amqp_url.clone()),
            ("SHOP_EVENTS_EXCHANGE", self.events_exchange.clone()),
            ("SHOP_CUSTOMER_URL", customer_url.to_owned()),
            ("SHOP_PRODUCT_ORDER_URL", product_order_url.to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ];
        ServiceProcess::start(Service::Web, label, &env, &self.logs).await
    }
}

/// The products on sale and the stock each started with.
pub struct Catalog {
    pub plentiful: Vec<Uuid>,
    /// Few enough that shoppers race for the last ones and some checkouts fail for it.
    pub scarce: Uuid,
    pub initial_stock: HashMap<Uuid, i64>,
}

impl Catalog {
    /// Four teas in plenty and one rare teapot, created by the operator over the API.
    pub async fn stock(customer_url: &str, product_order_url: &str) -> Self {
        let operator = ProductOrderApi::as_user(product_order_url, &operator_token(customer_url).await);
        let mut initial_stock = HashMap::new();
        let mut create = async |sku: &str, name: &str, stock: i64| {
            let product = operator.create_product(sku, name, 990, stock).await;
            let id: Uuid = product["id"].as_str().unwrap().parse().unwrap();
            initial_stock.insert(id, stock);
            id
        };
        let mut plentiful = Vec::new();
        for (sku, name) in [
            ("TEA-1", "Sencha"),
            ("TEA-2", "Assam"),
            ("TEA-3", "Oolong"),
            ("TEA-4", "Darjeeling"),
        ] {
            plentiful.push(create(sku, name, 100_000).await);
        }
        let scarce = create("POT-1", "Cast-iron teapot", 30).await;
        Self {
            plentiful,
            scarce,
            initial_stock,
        }
    }

    /// Shopper `s`'s round `r`: one to three of one tea (a different one each round), and the
    /// teapot while there is one.
    pub fn basket(&self, shopper: usize, round: usize) -> Vec<(Uuid, i64)> {
        let tea = self.plentiful[(shopper + round) % self.plentiful.len()];
        vec![(tea, 1 + (round % 3) as i64), (self.scarce, 1)]
    }
}

/// An access token of the operator account customer was started with.
pub async fn operator_token(customer_url: &str) -> String {
    let login = CustomerApi::new(customer_url)
        .login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
        .await;
    assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
    login.body["access_token"].as_str().unwrap().to_owned()
}

/// Signs up `count` shoppers, the n-th through `customer_urls[n % len]`, checking out on
/// `product_order_urls[n % len]`.
pub async fn sign_up(customer_urls: &[&str], product_order_urls: &[&str], count: usize) -> Vec<Shopper> {
    let mut shoppers = Vec::with_capacity(count);
    for n in 0..count {
        let customer = CustomerApi::new(customer_urls[n % customer_urls.len()]);
        let login = customer.signed_up(&email(&format!("shopper{n}"))).await;
        let access_token = login["access_token"].as_str().unwrap().to_owned();
        let me = customer.me(&access_token).await;
        shoppers.push(Shopper {
            label: format!("shopper{n}"),
            customer_id: me.body["id"].as_str().unwrap().parse().unwrap(),
            access_token,
            product_order_url: product_order_urls[n % product_order_urls.len()].to_owned(),
        });
    }
    shoppers
}

/// One line of the report: what a phase of the load saw and what the audit found after it.
pub struct Row {
    pub fault: &'static str,
    pub accepted: usize,
    pub retried: usize,
    pub audit: Audit,
    pub converged_in: Duration,
}

/// The table printed at the end of a test (Markdown).
#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
}

impl Report {
    /// Fails the test naming the first mismatches of every row that has some.
    pub fn assert_no_mismatch(&self) {
        let broken: Vec<String> = self
            .rows
            .iter()
            .filter(|row| !row.audit.mismatches.is_empty())
            .map(|row| {
                let first: Vec<&str> = row.audit.mismatches.iter().take(10).map(String::as_str).collect();
                format!("after {}:\n  {}", row.fault, first.join("\n  "))
            })
            .collect();
        assert!(broken.is_empty(), "the shop did not converge:\n{}", broken.join("\n"));
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| fault | checkouts accepted | requests retried | checkouts failed | orders placed | orders in customer | mismatches | time to converge |"
        )?;
        writeln!(f, "|---|---:|---:|---:|---:|---:|---:|---:|")?;
        for row in &self.rows {
            writeln!(
                f,
                "| {} | {} | {} | {} | {} | {} | {} | {:.1} s |",
                row.fault,
                row.accepted,
                row.retried,
                row.audit.failed_checkouts,
                row.audit.orders_placed,
                row.audit.orders_in_customer,
                row.audit.mismatches.len(),
                row.converged_in.as_secs_f64()
            )?;
        }
        Ok(())
    }
}
