//! The events benchmark: how long an order event takes from product-order committing it to
//! customer committing its effect, with status changes coming at a steady rate. An operator
//! moves orders placed beforehand through the real checkout (confirmed, shipped, delivered: one
//! `order.status_changed` each) on a fixed schedule at rising rates; each event's lag is read
//! from both databases afterwards. The baseline, in the same run, is a plain lapin publisher and
//! consumer at the goal's rate.

mod baseline;
mod phase;
mod pool;
mod summary;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::Options;
use crate::checkout::observe::Mark;
use crate::checkout::shoppers::{self, Shop};
use crate::checkout::{Catalog, tap};
use crate::report::Section;
use phase::{Operator, Phase};

/// The rates tried, in events per second, lowest first.
const RATES: [f64; 6] = [250.0, 400.0, 500.0, 1000.0, 1500.0, 2000.0];
/// The goal: 99% of events applied within `MAX_P99` at `GOAL_RATE` events per second.
const GOAL_RATE: f64 = 500.0;
const MAX_P99: Duration = Duration::from_millis(50);
/// The moves each order makes, one event each.
const MOVES: [&str; 3] = ["confirmed", "shipped", "delivered"];
/// At most this many orders are placed before measuring (about 160 checkouts/s here).
const MAX_ORDERS: usize = 8_000;
const OPERATOR_PASSWORD: &str = "bench operator password";

pub async fn run(options: &Options) -> anyhow::Result<Section> {
    eprintln!("events: starting the shop in-process, with an operator...");
    let operator = format!("bench-ops-{}@example.com", &Uuid::new_v4().simple().to_string()[..8]);
    let secret = secrecy::SecretString::from(OPERATOR_PASSWORD.to_owned());
    let shop = testkit::TestShop::start_with(|s| s.operator = Some((operator.clone(), secret))).await;
    let result = bench(options, &shop, &operator).await;
    let urls = [
        shop.customer_database_url.clone(),
        shop.product_order_database_url.clone(),
    ];
    shop.stop().await;
    if options.keep_db {
        eprintln!("events: kept the databases {} and {}", urls[0], urls[1]);
    } else {
        for url in urls {
            if let Err(e) = crate::catalog::drop_database(&url).await {
                eprintln!("events: could not drop the database at {url}: {e:#}");
            }
        }
    }
    result
}

async fn connect(url: &str, connections: u32) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))
}

/// Logs the operator in through customer's API; its access token.
async fn operator_token(client: &reqwest::Client, customer_url: &str, email: &str) -> anyhow::Result<String> {
    let login: Value = client
        .post(format!("{customer_url}/api/auth/login"))
        .json(&json!({"email": email, "password": OPERATOR_PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(login["access_token"].as_str().context("no access token")?.to_owned())
}

/// Orders needed for every rate's events (and the warm-up's), at most `MAX_ORDERS`.
fn orders_needed(options: &Options) -> usize {
    let events: f64 =
        RATES.iter().map(|r| r * options.duration.as_secs_f64()).sum::<f64>() + RATES[0] * options.warmup.as_secs_f64();
    ((events / MOVES.len() as f64).ceil() as usize).min(MAX_ORDERS)
}

async fn bench(options: &Options, test_shop: &testkit::TestShop, operator: &str) -> anyhow::Result<Section> {
    let concurrency = options.concurrency;
    let po = connect(&test_shop.product_order_database_url, concurrency as u32).await?;
    let customer = connect(&test_shop.customer_database_url, 5).await?;
    let postgres: String = sqlx::query_scalar("SHOW server_version").fetch_one(&po).await?;
    pool::note_commits(&customer).await?;
    let catalog = Catalog::load(&po).await?;
    let tap = tap::Tap::open(&test_shop.amqp_url, &test_shop.events_exchange).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(phase::MAX_IN_FLIGHT)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let shop = Arc::new(Shop {
        client: client.clone(),
        db: po.clone(),
        customer_url: test_shop.customer_url.clone(),
        product_order_url: test_shop.product_order_url.clone(),
        catalog,
        tap: tap.clone(),
    });
    let wanted = orders_needed(options);
    eprintln!("events: placing {wanted} orders through the checkout ({concurrency} shoppers)...");
    let started = Instant::now();
    let shoppers = shoppers::sign_up(&shop, concurrency).await?;
    let placed = pool::place(&shop, shoppers, wanted).await?;
    let ready = pool::wait_until_applied(&po, &customer).await?;
    let pool_facts = pool::Facts {
        orders: ready.lock().expect("ready poisoned").len(),
        failed: placed,
        took: started.elapsed(),
    };
    tap.close().await;

    let token = operator_token(&client, &test_shop.customer_url, operator).await?;
    let operator = Arc::new(Operator {
        client,
        url: test_shop.product_order_url.clone(),
        token,
    });
    if !options.warmup.is_zero() {
        eprintln!(
            "events: warm-up at {}/s for {} s...",
            RATES[0],
            options.warmup.as_secs()
        );
        let drive = phase::drive(&operator, &ready, &po, RATES[0], options.warmup).await?;
        phase::collect(&po, &customer, &drive).await?;
    }
    let mut phases = Vec::new();
    for rate in RATES {
        if ready.lock().expect("ready poisoned").is_empty() {
            break;
        }
        eprintln!("events: {rate}/s for {} s (open loop)...", options.duration.as_secs());
        let mark = Mark::now(&po).await;
        let drive = phase::drive(&operator, &ready, &po, rate, options.duration).await?;
        let load = mark.load_since(&po, drive.issued, "event").await;
        let lags = phase::collect(&po, &customer, &drive).await?;
        let phase = Phase { drive, lags, load };
        eprintln!("events: {}", phase.brief());
        phases.push(phase);
        // Past the goal's rate and two rates in a row not kept up with, higher ones only grow
        // the backlog.
        let missed_twice = phases.len() >= 2 && phases[phases.len() - 2..].iter().all(|p| p.kept_up().is_err());
        if rate >= GOAL_RATE && missed_twice {
            break;
        }
    }
    eprintln!("events: baseline, a plain lapin publisher and consumer at {GOAL_RATE}/s...");
    let baseline = baseline::run(&test_shop.amqp_url, &customer, GOAL_RATE, options.duration).await;
    let facts = summary::RunFacts {
        postgres,
        shoppers: concurrency,
        pool: pool_facts,
        phase_length: options.duration,
        po_connections: test_shop.product_order_settings().database_max_connections,
        customer_connections: test_shop.customer_settings().database_max_connections,
    };
    Ok(summary::section(&facts, &phases, baseline))
}
