//! Playing an episode: its lanes at once against the rig, each action's outcome noted, with
//! what the auditor needs to know of the history (checkouts accepted, stock changes made,
//! cart lines put) and any answer that broke the HTTP contract on the spot.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use contracts::OrderStatus;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::actions::{Action, Episode, Via, price_in};
use super::auditor::short;
use super::rig::{Cast, Rig, Shopper};
use crate::helpers::{Answer, ProductOrderApi, valid_details};

/// A stock change an operator made (answered 200), tagged with its `stock_reason` so the
/// auditor finds its record.
#[derive(Debug, Clone)]
pub struct StockChange {
    pub product: usize,
    pub tag: String,
    pub change: Change,
}

#[derive(Debug, Clone, Copy)]
pub enum Change {
    Set(i64),
    Delta(i64),
}

/// What the history did, as the auditor needs it.
#[derive(Debug, Default)]
pub struct Log {
    /// Checkouts answered 202, first answer first.
    pub accepted: Vec<Uuid>,
    /// Cart puts answered 200, per (shopper, product).
    pub puts: HashMap<(usize, usize), usize>,
    pub stock_changes: Vec<StockChange>,
    /// Answers that broke the HTTP contract when they came.
    pub violations: Vec<String>,
    pub requests: usize,
    /// Each action's outcome, by (lane, step).
    pub outcomes: HashMap<(usize, usize), String>,
}

/// A request's fate.
enum Reply {
    Answered(Answer),
    NoAnswer(String),
}

struct Player<'a> {
    rig: &'a Rig,
    cast: &'a Cast,
    log: Mutex<Log>,
}

/// Plays every lane of `episode` at once with `cast`; answers the log once all are done.
pub async fn play(rig: &Rig, cast: &Cast, episode: &Episode) -> Log {
    let player = Player {
        rig,
        cast,
        log: Mutex::default(),
    };
    let lanes = episode.lanes.iter().enumerate().map(|(lane, steps)| {
        let player = &player;
        async move {
            for (index, step) in steps.steps.iter().enumerate() {
                tokio::time::sleep(Duration::from_millis(step.pause_ms)).await;
                let outcome = player.act(&step.action).await;
                player.note(|log| log.outcomes.insert((lane, index), outcome));
            }
        }
    });
    futures::future::join_all(lanes).await;
    player.log.into_inner().expect("log lock")
}

/// Every checkout goes through here (when `POST /api/checkout` takes the total the shopper
/// reviewed, it is added to this body).
fn checkout_request(shopper: &Shopper, api: &ProductOrderApi, key: u32, cart: &Value) -> RequestBuilder {
    let mut details = valid_details();
    // The shopper's own address, so bulk retries can pick this shopper's sagas.
    details["contact"]["email"] = json!(shopper.email);
    // What the cart showed them (an empty cart shows nothing to pay).
    details["reviewed"] =
        json!({"total": cart["total"].as_i64().unwrap_or(0), "currency": cart["currency"].as_str().unwrap_or("EUR")});
    api.request(Method::POST, "/api/checkout")
        .header("idempotency-key", format!("k{key}"))
        .json(&details)
}

/// The forward path of an order's statuses.
const FORWARD: [OrderStatus; 4] = [
    OrderStatus::Placed,
    OrderStatus::Confirmed,
    OrderStatus::Shipped,
    OrderStatus::Delivered,
];

/// What a cart showed, in a history.
fn seen(cart: &Value) -> String {
    match cart["currency"].as_str() {
        Some(currency) => format!("{} {currency}", cart["total"]),
        None => "an empty cart".to_owned(),
    }
}

/// How an answer reads in a history: its status and error code, or what is left to say.
fn described(reply: &Reply) -> String {
    match reply {
        Reply::Answered(answer) => match answer.body["error"]["code"].as_str() {
            Some(code) => format!("{} {code}", answer.status.as_u16()),
            None => answer.status.as_u16().to_string(),
        },
        Reply::NoAnswer(error) => format!("no answer ({error})"),
    }
}

impl Player<'_> {
    fn note<T>(&self, change: impl FnOnce(&mut Log) -> T) -> T {
        change(&mut self.log.lock().expect("log lock"))
    }

    /// Sends `request` and notes a broken contract: a 5xx other than 503 (a dependency away),
    /// a refusal the test's well-formed requests must never get, or no answer from an
    /// instance nobody kills (`reliable`).
    async fn send(&self, what: &str, request: RequestBuilder, reliable: bool) -> Reply {
        let reply = match request.send().await {
            Ok(response) => Reply::Answered(Answer::from(response).await),
            Err(e) => Reply::NoAnswer(e.without_url().to_string()),
        };
        let broken = match &reply {
            Reply::Answered(answer) => {
                let status = answer.status;
                (status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE)
                    || [400, 401, 403, 404, 405, 413, 415].contains(&status.as_u16())
            }
            Reply::NoAnswer(_) => reliable,
        };
        self.note(|log| {
            log.requests += 1;
            if broken {
                let body = match &reply {
                    Reply::Answered(answer) => answer.body.to_string(),
                    Reply::NoAnswer(_) => String::new(),
                };
                log.violations
                    .push(format!("{what} answered {} {body}", described(&reply)));
            }
        });
        reply
    }

    async fn act(&self, action: &Action) -> String {
        let operator = &self.rig.operator;
        let product = |index: &usize| self.cast.products[*index].id;
        match action {
            Action::PutInCart {
                shopper,
                product: p,
                quantity,
            } => {
                let api = &self.cast.shoppers[*shopper].api;
                let request = api
                    .request(Method::PUT, &format!("/api/cart/items/{}", product(p)))
                    .json(&json!({"quantity": quantity}));
                let reply = self.send("PUT /api/cart/items", request, true).await;
                if matches!(&reply, Reply::Answered(a) if a.status == StatusCode::OK) {
                    self.note(|log| *log.puts.entry((*shopper, *p)).or_default() += 1);
                }
                described(&reply)
            }
            Action::RemoveFromCart { shopper, product: p } => {
                let api = &self.cast.shoppers[*shopper].api;
                let request = api.request(Method::DELETE, &format!("/api/cart/items/{}", product(p)));
                described(&self.send("DELETE /api/cart/items", request, true).await)
            }
            Action::CheckOut { shopper, key, via } => {
                let (api, reliable) = self.checkout_api(*shopper, *via);
                let cart = self.cart_shown(*shopper).await;
                let request = checkout_request(&self.cast.shoppers[*shopper], &api, *key, &cart);
                let reply = self.send("POST /api/checkout", request, reliable).await;
                format!("saw {}; {}", seen(&cart), self.checkout_answered(&reply))
            }
            Action::DoubleSubmit { shopper, key, via } => {
                let (first, second) = self.checkouts_at_once(*shopper, *via, [*key, *key]).await;
                // Both answered and one accepted: the other names the same checkout. A request
                // that got no answer (its replica killed) or a 503 (a dependency away) says
                // nothing about the key, and `send` judged it already.
                let judged = [&first, &second].map(|reply| match reply {
                    Reply::Answered(answer) => answer.status != StatusCode::SERVICE_UNAVAILABLE,
                    Reply::NoAnswer(_) => false,
                });
                let ids = [&first, &second].map(accepted_id);
                if judged.iter().all(|j| *j) && ids.iter().any(Option::is_some) && ids[0] != ids[1] {
                    self.note(|log| {
                        log.violations.push(format!(
                            "the same Idempotency-Key k{key} answered {} and {}",
                            described(&first),
                            described(&second)
                        ))
                    });
                }
                format!(
                    "{}; {}",
                    self.checkout_answered(&first),
                    self.checkout_answered(&second)
                )
            }
            Action::TwoTabs { shopper, keys, via } => {
                let (first, second) = self.checkouts_at_once(*shopper, *via, *keys).await;
                format!(
                    "{}; {}",
                    self.checkout_answered(&first),
                    self.checkout_answered(&second)
                )
            }
            Action::AbandonCheckOut {
                shopper,
                key,
                via,
                after_ms,
            } => {
                let (api, reliable) = self.checkout_api(*shopper, *via);
                let cart = self.cart_shown(*shopper).await;
                let request = checkout_request(&self.cast.shoppers[*shopper], &api, *key, &cart);
                let sent = self.send("POST /api/checkout", request, reliable);
                match tokio::time::timeout(Duration::from_millis(*after_ms), sent).await {
                    Ok(reply) => format!("answered before the drop: {}", self.checkout_answered(&reply)),
                    Err(_) => "dropped unanswered".to_owned(),
                }
            }
            Action::CancelOrder { shopper, nth } => {
                let api = &self.cast.shoppers[*shopper].api;
                let listed = api.get("/api/checkouts").await.body;
                let orders: Vec<&str> = listed["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["order_id"].as_str())
                    .collect();
                let Some(order) = (!orders.is_empty()).then(|| orders[nth % orders.len()]) else {
                    return "no order to cancel".to_owned();
                };
                let request = api.request(Method::POST, &format!("/api/orders/{order}/cancel"));
                described(&self.send("POST /api/orders/{id}/cancel", request, true).await)
            }
            Action::SetStock { product: p, stock } => self.change_stock(*p, Change::Set(*stock)).await,
            Action::AdjustStock { product: p, delta } => self.change_stock(*p, Change::Delta(*delta)).await,
            Action::SetPrice { product: p, tens } => {
                let current = operator.get(&format!("/api/products/{}", product(p))).await.body;
                let currency = current["currency"].as_str().unwrap_or("EUR");
                self.patch_product(*p, json!({"price": price_in(*tens, currency)}))
                    .await
            }
            Action::SetCurrency { product: p, currency } => {
                let current = operator.get(&format!("/api/products/{}", product(p))).await.body;
                let tens = current["price"].as_i64().unwrap_or(1000) / 10;
                self.patch_product(*p, json!({"price": price_in(tens, currency), "currency": currency}))
                    .await
            }
            Action::SetActive { product: p, active } => self.patch_product(*p, json!({"active": active})).await,
            Action::RetrySaga { nth } => self.saga_action(*nth, "retry").await,
            Action::CancelSaga { nth } => self.saga_action(*nth, "cancel").await,
            Action::RetryPublish { nth } => self.saga_action(*nth, "retry-publish").await,
            Action::BulkRetry {
                shopper,
                state,
                dry_run,
            } => {
                let body = json!({
                    "state": state, "q": self.cast.shoppers[*shopper].email, "dry_run": dry_run,
                    "reason": "interleaving: bulk retry", "per_second": 50
                });
                let request = operator.request(Method::POST, "/api/ops/sagas/bulk-retry").json(&body);
                match self.send("POST /api/ops/sagas/bulk-retry", request, true).await {
                    Reply::Answered(answer) if answer.status == StatusCode::OK => {
                        format!("200, {} matching", answer.body["matching"])
                    }
                    other => described(&other),
                }
            }
            Action::MoveOrder { nth, to } => self.move_order(*nth, *to).await,
            Action::CutBroker => {
                self.rig.cut_broker();
                "cut".to_owned()
            }
            Action::RestoreBroker => {
                self.rig.restore_broker().await;
                "restored".to_owned()
            }
            Action::KillReplica => {
                self.rig.kill_replica().await;
                "killed; its successor starts once the broker is reachable".to_owned()
            }
            Action::FailStep { step, phase } => {
                self.rig.fail_step(step, *phase);
                "failing".to_owned()
            }
            Action::ClearStep { step, phase } => {
                self.rig.clear_step(step, *phase);
                "cleared".to_owned()
            }
        }
    }

    /// The shopper's client for a checkout `via` where asked, and whether that instance is
    /// one nobody kills. While the killable replica is down, the one that stays takes it.
    /// Two checkouts of what the shopper's cart shows, sent at once with these keys.
    async fn checkouts_at_once(&self, shopper: usize, via: Via, keys: [u32; 2]) -> (Reply, Reply) {
        let (api, reliable) = self.checkout_api(shopper, via);
        let buyer = &self.cast.shoppers[shopper];
        let cart = self.cart_shown(shopper).await;
        let send = |key| {
            self.send(
                "POST /api/checkout",
                checkout_request(buyer, &api, key, &cart),
                reliable,
            )
        };
        tokio::join!(send(keys[0]), send(keys[1]))
    }

    fn checkout_api(&self, shopper: usize, via: Via) -> (ProductOrderApi, bool) {
        let api = self.cast.shoppers[shopper].api.clone();
        match (via, self.rig.replica_url()) {
            (Via::Api, _) => (api, true),
            (Via::Replica, Some(url)) => (ProductOrderApi { base: url, ..api }, false),
            (Via::Replica, None) => (
                ProductOrderApi {
                    base: self.rig.steady_url(),
                    ..api
                },
                true,
            ),
        }
    }

    /// The cart as the shopper's checkout page shows it.
    /// The shopper's cart as they look at it before checking out.
    async fn cart_shown(&self, shopper: usize) -> Value {
        self.cast.shoppers[shopper].api.get("/api/cart").await.body
    }

    /// Notes an accepted checkout; says how the request went.
    fn checkout_answered(&self, reply: &Reply) -> String {
        match accepted_id(reply) {
            Some(id) => {
                let id: Uuid = id.parse().expect("a checkout id");
                self.note(|log| {
                    if !log.accepted.contains(&id) {
                        log.accepted.push(id);
                    }
                });
                format!("202 checkout {}", short(&id))
            }
            None => described(reply),
        }
    }

    async fn change_stock(&self, product: usize, change: Change) -> String {
        let tag = format!("interleaving {}", Uuid::new_v4());
        let body = match change {
            Change::Set(stock) => json!({"stock": stock, "stock_reason": tag}),
            Change::Delta(delta) => json!({"stock_delta": delta, "stock_reason": tag}),
        };
        let outcome = self.patch_product(product, body).await;
        if outcome.starts_with("200") {
            self.note(|log| log.stock_changes.push(StockChange { product, tag, change }));
        }
        outcome
    }

    async fn patch_product(&self, product: usize, body: Value) -> String {
        let path = format!("/api/products/{}", self.cast.products[product].id);
        let request = self.rig.operator.request(Method::PATCH, &path).json(&body);
        match self.send("PATCH /api/products/{id}", request, true).await {
            Reply::Answered(answer) if answer.status == StatusCode::OK => {
                let p = &answer.body;
                format!(
                    "200: {} in stock, {} {}",
                    p["stock"],
                    p["price"],
                    p["currency"].as_str().unwrap_or("?")
                )
            }
            other => described(&other),
        }
    }

    /// The episode's `nth` accepted checkout as the action runs (counting round).
    fn nth_checkout(&self, nth: usize) -> Option<Uuid> {
        self.note(|log| (!log.accepted.is_empty()).then(|| log.accepted[nth % log.accepted.len()]))
    }

    async fn saga_action(&self, nth: usize, action: &str) -> String {
        let Some(id) = self.nth_checkout(nth) else {
            return "no checkout yet".to_owned();
        };
        let request = self
            .rig
            .operator
            .request(Method::POST, &format!("/api/ops/sagas/{id}/{action}"))
            .json(&json!({"reason": format!("interleaving: {action}")}));
        let reply = self
            .send(&format!("POST /api/ops/sagas/{{id}}/{action}"), request, true)
            .await;
        let state = match &reply {
            Reply::Answered(answer) if answer.status == StatusCode::OK => format!(" ({})", answer.body["state"]),
            _ => String::new(),
        };
        format!("{} {}{state}", short(&id), described(&reply))
    }

    /// Moves the order along each allowed edge towards `to`, one PATCH per edge.
    async fn move_order(&self, nth: usize, to: OrderStatus) -> String {
        let Some(checkout) = self.nth_checkout(nth) else {
            return "no checkout yet".to_owned();
        };
        let operator = &self.rig.operator;
        let saga = operator.get(&format!("/api/ops/sagas/{checkout}")).await.body;
        let Some(order) = saga["order_id"].as_str() else {
            return format!("{} has no order yet", short(&checkout));
        };
        let path = format!("/api/ops/orders/{order}/status");
        let mut status: OrderStatus = operator.get(&format!("/api/ops/orders/{order}")).await.body["status"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(OrderStatus::Placed);
        let rank = |s: OrderStatus| FORWARD.iter().position(|f| *f == s);
        let mut moves = Vec::new();
        loop {
            let next = match (rank(status), rank(to)) {
                (Some(now), Some(goal)) if now < goal => FORWARD[now + 1],
                // A cancellation, or a move back or to where it stands: sent as asked.
                _ => to,
            };
            let request = operator
                .request(Method::PATCH, &path)
                .json(&json!({"status": next.as_str(), "reason": "interleaving"}));
            let reply = self.send("PATCH /api/ops/orders/{id}/status", request, true).await;
            moves.push(format!("{} {}", next.as_str(), described(&reply)));
            if next == to || !matches!(&reply, Reply::Answered(a) if a.status == StatusCode::OK) {
                break;
            }
            status = next;
        }
        format!("{}: {}", short(&checkout), moves.join(", "))
    }
}

fn accepted_id(reply: &Reply) -> Option<&str> {
    match reply {
        Reply::Answered(answer) if answer.status == StatusCode::ACCEPTED => answer.body["checkout_id"].as_str(),
        _ => None,
    }
}
