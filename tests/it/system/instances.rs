//! Two instances of each service at once, each on its own port, sharing the databases and the
//! broker: under a load of checkouts they share the work, and nothing is done twice.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use testkit::{EventRoutes, LogDir, ServiceProcess, fresh_database_url};
use uuid::Uuid;

use super::audit::converge;
use super::load::{Load, Shopper};
use super::{Catalog, Report, Row, Wiring, sign_up};
use crate::helpers::Stores;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_of_each_service_share_the_work_and_do_nothing_twice() {
    let infra = testkit::infra().await;
    let routes = EventRoutes::unique(&infra.amqp_url);
    let wiring = Wiring {
        customer_database_url: fresh_database_url(infra, "customer"),
        product_order_database_url: fresh_database_url(infra, "product_order"),
        amqp_url: infra.amqp_url.clone(),
        events_exchange: routes.exchange.clone(),
        customer_events_queue: routes.customer_queue.clone(),
        logs: LogDir::new("system-instances"),
    };
    let customers = [wiring.customer("customer-1").await, wiring.customer("customer-2").await];
    let product_orders = [
        wiring.product_order("product-order-1", &customers[0].url).await,
        wiring.product_order("product-order-2", &customers[1].url).await,
    ];
    let webs = [
        wiring.web("web-1", &customers[0].url, &product_orders[0].url).await,
        wiring.web("web-2", &customers[1].url, &product_orders[1].url).await,
    ];
    let catalog = Arc::new(Catalog::stock(&customers[0].url, &product_orders[0].url).await);
    let shoppers = sign_up(
        &[&customers[0].url, &customers[1].url],
        &[&product_orders[0].url, &product_orders[1].url],
        6,
    )
    .await;

    let basket = catalog.clone();
    let load = Load::start(shoppers.clone(), Arc::new(move |s, r| basket.basket(s, r)));
    load.wait_for_accepted(0, 60, "60 checkouts").await;
    let stopped = Instant::now();
    let deadline = stopped + Duration::from_secs(60);
    load.pause(deadline).await;
    let seen = load.ledger();
    load.stop();
    let stores = Stores::connect(&wiring.product_order_database_url, &wiring.customer_database_url).await;
    let audit = converge(&stores, &seen.accepted, &catalog.initial_stock, deadline).await;
    let report = Report {
        rows: vec![Row {
            fault: "none: two instances of each service",
            accepted: seen.accepted.len(),
            retried: seen.retried,
            audit,
            converged_in: stopped.elapsed(),
        }],
    };
    println!("{report}");
    report.assert_no_mismatch();

    let applied_in_all: i64 = sqlx::query_scalar("SELECT count(*) FROM applied_events")
        .fetch_one(&stores.customer)
        .await
        .unwrap();
    println!("| instance | saga step attempts | events applied |\n|---|---:|---:|");
    let mut applied_by_instances = 0;
    for (product_order, customer) in product_orders.iter().zip(&customers) {
        let attempts = saga_attempts_by(&stores, product_order).await;
        let applied = events_applied_by(customer);
        println!(
            "| {} | {attempts} | |\n| {} | | {applied} |",
            product_order.label, customer.label
        );
        assert!(attempts > 0, "{} drove no saga step", product_order.label);
        assert!(applied > 0, "{} applied no event", customer.label);
        applied_by_instances += applied;
    }
    assert_eq!(
        applied_by_instances, applied_in_all,
        "each event applied by one customer instance, once"
    );

    for (n, shopper) in shoppers.iter().enumerate() {
        // Whichever instance answers, the shopper sees each of their orders once.
        let other_customer = &customers[(n + 1) % customers.len()];
        assert_eq!(
            orders_listed(other_customer, shopper).await,
            orders_placed_for(&stores, shopper.customer_id).await,
            "{}'s orders on {}",
            shopper.label,
            other_customer.label
        );
    }
    for web in &webs {
        let page = reqwest::get(format!("{}/products", web.url)).await.unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{}", web.label);
        assert!(
            page.text().await.unwrap().contains("Sencha"),
            "{} lists the catalog",
            web.label
        );
    }
}

/// Saga step attempts recorded by the workers of `product_order` (named after its address).
async fn saga_attempts_by(stores: &Stores, product_order: &ServiceProcess) -> i64 {
    let address = product_order.url.trim_start_matches("http://");
    sqlx::query_scalar("SELECT count(*) FROM saga.attempts WHERE starts_with(worker, $1)")
        .bind(format!("product-order@{address}-"))
        .fetch_one(&stores.product_order)
        .await
        .unwrap()
}

/// Events `customer` applied, from its log (one debug line per event handled).
fn events_applied_by(customer: &ServiceProcess) -> i64 {
    customer
        .log_text()
        .lines()
        .filter(|line| line.contains(r#""message":"order event""#) && line.contains(r#""applied":"Applied""#))
        .count() as i64
}

/// The ids of the shopper's orders as `customer` lists them (100 is more than they place).
async fn orders_listed(customer: &ServiceProcess, shopper: &Shopper) -> Vec<Uuid> {
    let response = reqwest::Client::new()
        .get(format!("{}/api/orders?limit=100", customer.url))
        .bearer_auth(&shopper.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["next_cursor"].is_null(), "fewer than 100 orders each");
    let mut ids: Vec<Uuid> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|order| order["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "no order listed twice"
    );
    ids.sort();
    ids
}

async fn orders_placed_for(stores: &Stores, customer_id: Uuid) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM orders WHERE customer_id = $1")
        .bind(customer_id)
        .fetch_all(&stores.product_order)
        .await
        .unwrap();
    ids.sort();
    ids
}
