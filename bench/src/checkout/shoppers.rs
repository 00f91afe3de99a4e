//! Shoppers driving checkouts over HTTP: each sets its cart (not measured), asks for a checkout
//! and waits for its `order.placed` (measured); as fast as they can, or on a fixed schedule.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use contracts::events::OrderLine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::tap::Tap;
use super::{Catalog, Rng};
use crate::load::Stats;

/// How long a shopper waits for its `order.placed` before counting a timeout.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Sign-ups at once: each costs two argon2 hashes.
const SIGN_UP_BATCH: usize = 4;

/// What every shopper needs.
pub struct Shop {
    pub client: reqwest::Client,
    /// Product-order's database, where carts are set as the baseline sets them.
    pub db: sqlx::PgPool,
    pub customer_url: String,
    pub product_order_url: String,
    pub catalog: Catalog,
    pub tap: Arc<Tap>,
}

/// A signed-in shopper with at most one checkout in flight.
pub struct Shopper {
    pub id: Uuid,
    token: String,
    rng: Rng,
}

/// How one checkout went.
pub enum Outcome {
    /// The time from just before the checkout was asked for to its order being placed (for
    /// the saga: `order.placed` arriving), with the saga's checkout if there was one.
    Placed {
        latency: Duration,
        saga: Option<Trace>,
    },
    Failed(String),
    TimedOut(String),
}

/// A checkout through the saga, to find it in the saga's records.
pub struct Trace {
    pub checkout_id: Uuid,
    /// When the POST was sent, by the clock PostgreSQL uses too.
    pub sent: DateTime<Utc>,
    /// The time to its 202 answer.
    pub answered: Duration,
    /// The time to its `order.placed`.
    pub latency: Duration,
}

/// What a phase saw.
#[derive(Default)]
pub struct Tally {
    pub latencies: Vec<Duration>,
    /// The placed orders' checkouts, when they went through the saga.
    pub traces: Vec<Trace>,
    pub failed: usize,
    pub timed_out: usize,
    pub first_error: Option<String>,
}

impl Tally {
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Placed { latency, saga } => {
                self.latencies.push(latency);
                self.traces.extend(saga);
            }
            Outcome::Failed(e) => {
                self.failed += 1;
                self.first_error.get_or_insert(e);
            }
            Outcome::TimedOut(e) => {
                self.timed_out += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }

    pub fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.traces.extend(other.traces);
        self.failed += other.failed;
        self.timed_out += other.timed_out;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// The percentiles of the time to the 202 answer.
    pub fn answered(&self) -> Stats {
        let answered = self.traces.iter().map(|t| t.answered).collect();
        Stats::from_latencies(answered, 0, None, Duration::from_secs(1))
    }

    pub fn stats(self, elapsed: Duration) -> Stats {
        Stats::from_latencies(self.latencies, self.failed + self.timed_out, self.first_error, elapsed)
    }
}

/// Signs up `count` shoppers, a few at a time.
pub async fn sign_up(shop: &Arc<Shop>, count: usize) -> anyhow::Result<Vec<Shopper>> {
    let run = &Uuid::new_v4().simple().to_string()[..8];
    let mut shoppers = Vec::with_capacity(count);
    while shoppers.len() < count {
        let mut batch = JoinSet::new();
        for i in shoppers.len()..count.min(shoppers.len() + SIGN_UP_BATCH) {
            let (shop, email) = (shop.clone(), format!("bench-{run}-{i}@example.com"));
            batch.spawn(async move { Shopper::sign_up(&shop, &email).await });
        }
        while let Some(signed_up) = batch.join_next().await {
            shoppers.push(signed_up??);
        }
    }
    Ok(shoppers)
}

impl Shopper {
    async fn sign_up(shop: &Shop, email: &str) -> anyhow::Result<Self> {
        const PASSWORD: &str = "bench password 1234";
        let customer = &shop.customer_url;
        let registered = shop
            .client
            .post(format!("{customer}/api/auth/register"))
            .json(&json!({"email": email, "password": PASSWORD, "name": "Bench Shopper"}))
            .send()
            .await?;
        if registered.status() != StatusCode::CREATED {
            bail!("register: HTTP {}: {}", registered.status(), registered.text().await?);
        }
        let login: Value = shop
            .client
            .post(format!("{customer}/api/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = login["access_token"].as_str().context("no access token")?.to_owned();
        let me: Value = shop
            .client
            .get(format!("{customer}/api/me"))
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let id = me["id"].as_str().context("no id in /api/me")?.parse()?;
        Ok(Self {
            id,
            token,
            rng: Rng::new(),
        })
    }

    /// Empties the cart, as a loop's first fill expects it (a failure shows in its checkout).
    pub(super) async fn empty_cart(&self, shop: &Shop) {
        let _ = sqlx::query("DELETE FROM cart_items WHERE owner = $1")
            .bind(format!("customer:{}", self.id))
            .execute(&shop.db)
            .await;
    }

    /// Sets the cart to one line of a hot product and one of a spread product, straight in
    /// product-order's database as the baseline does: the cart is not what is measured, and
    /// its HTTP calls would take the machine's CPU from the checkouts.
    pub(super) async fn fill_cart(&mut self, shop: &Shop) -> Result<Vec<OrderLine>, String> {
        let lines = shop.catalog.pick(&mut self.rng);
        let owner = format!("customer:{}", self.id);
        super::fill_cart(&shop.db, &owner, &lines)
            .await
            .map_err(|e| format!("cart: {e}"))?;
        Ok(lines)
    }

    /// Asks for a checkout of the cart holding `lines` and waits for its order.
    pub(super) async fn check_out(&mut self, shop: &Shop, lines: &[OrderLine]) -> Outcome {
        let arrival = shop.tap.expect(self.id, lines);
        let (sent, sent_at) = (Instant::now(), Utc::now());
        let answer = shop
            .client
            .post(format!("{}/api/checkout", shop.product_order_url))
            .bearer_auth(&self.token)
            .header("idempotency-key", Uuid::new_v4().to_string())
            .json(&checkout_body(lines))
            .send()
            .await;
        let checkout_id = match accepted(answer).await {
            Ok(id) => id,
            Err(e) => {
                shop.tap.forget(self.id);
                return Outcome::Failed(e);
            }
        };
        let answered = sent.elapsed();
        match tokio::time::timeout(EVENT_TIMEOUT.saturating_sub(sent.elapsed()), arrival).await {
            Ok(Ok(arrived)) => {
                let latency = arrived.saturating_duration_since(sent);
                let trace = checkout_id.parse().ok().map(|checkout_id| Trace {
                    checkout_id,
                    sent: sent_at,
                    answered,
                    latency,
                });
                Outcome::Placed { latency, saga: trace }
            }
            _ => {
                shop.tap.forget(self.id);
                // One checkout in flight per shopper: wait for this one to end before the next.
                let ended = self.ended(shop, &checkout_id).await;
                Outcome::TimedOut(format!(
                    "no order.placed within {} s; checkout {checkout_id} ended {ended}",
                    EVENT_TIMEOUT.as_secs()
                ))
            }
        }
    }

    /// The state a checkout ends in (completed, failed, stuck), after polling up to a minute.
    async fn ended(&self, shop: &Shop, checkout_id: &str) -> String {
        let url = format!("{}/api/checkouts/{checkout_id}", shop.product_order_url);
        let started = Instant::now();
        let mut state = "unknown".to_owned();
        while started.elapsed() < Duration::from_secs(60) {
            let body = match shop.client.get(&url).bearer_auth(&self.token).send().await {
                Ok(response) => response.json::<Value>().await.unwrap_or_default(),
                Err(_) => Value::Null,
            };
            state = body["state"].as_str().unwrap_or("unknown").to_owned();
            if matches!(state.as_str(), "completed" | "failed" | "stuck") {
                let failure = body["failure"].as_str().map(|f| format!(": {f}")).unwrap_or_default();
                return format!("{state}{failure}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        format!("still {state} after a minute")
    }

    /// One checkout: the cart (not measured), then the checkout (measured).
    pub(crate) async fn once(&mut self, shop: &Shop) -> Outcome {
        match self.fill_cart(shop).await {
            Ok(lines) => self.check_out(shop, &lines).await,
            Err(e) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Outcome::Failed(e)
            }
        }
    }
}

/// The checkout id of a 202; anything else is an error.
async fn accepted(answer: reqwest::Result<reqwest::Response>) -> Result<String, String> {
    let response = answer.map_err(|e| format!("POST /api/checkout: {e}"))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if status != StatusCode::ACCEPTED {
        return Err(format!("POST /api/checkout: HTTP {status}: {body}"));
    }
    let body: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    body["checkout_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "POST /api/checkout: no checkout_id".to_owned())
}

/// Contact and delivery details that pass validation.
/// A checkout of the cart holding `lines`, reviewed at the prices the catalog was loaded with
/// (the benchmark changes none).
fn checkout_body(lines: &[OrderLine]) -> Value {
    let total: i64 = lines.iter().map(|l| l.unit_price * i64::from(l.quantity)).sum();
    json!({
        "contact": {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0958"},
        "delivery": {"line1": "12 St James's Square", "line2": "", "city": "London", "postal_code": "SW1Y 4LB", "country": "GB"},
        "reviewed": {"total": total, "currency": super::CURRENCY}
    })
}
