//! The auditor: reads both services' databases (as tests/it/system/audit.rs does), for one
//! episode's products and shoppers only, and checks every guarantee against them and against
//! what the history did.
//!
//! What it can see of the order in which customer applied an order's events: nothing
//! directly. `applied_events` holds event ids (no order, no version) with `applied_at`, the
//! start of the applying transaction, not its commit, so two events applied concurrently can
//! show either order. What it checks instead is the outcome that applying in version order
//! must leave: the status and version customer holds are those of the highest version, and
//! `order_status_history` has every version once with product-order's status, in allowed
//! moves. An event applied out of order whose effect the version guard absorbed (kept in the
//! history only) is invisible to it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use contracts::OrderStatus;
use contracts::reconciliation::{self, OrderDigest, Reconciliation};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::actions::currency_of;
use super::play::{Change, Log};
use super::rig::{Cast, INJECTED, Rig};
use crate::helpers::{CustomerApi, Stores};

/// The guarantees checked, as they read in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    Answers,
    CheckoutsEnd,
    AttemptsClosed,
    SagaAgreesWithOrder,
    OneOrderPerCheckout,
    Stock,
    HeldNeedsLiveSaga,
    CustomerCopy,
    VersionOrder,
    EventsOnce,
    OneCurrency,
    TotalIsSum,
    CartOrderedOnce,
    Reconciled,
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Answers => "every answer keeps the HTTP contract",
            Self::CheckoutsEnd => "every accepted checkout ends (stuck only for an injected cause)",
            Self::AttemptsClosed => "no saga attempt left marked running where no worker runs it",
            Self::SagaAgreesWithOrder => "a saga's end agrees with its order",
            Self::OneOrderPerCheckout => "one order per completed checkout, none before placing",
            Self::Stock => "stock = initial + operator changes - standing orders, never negative",
            Self::HeldNeedsLiveSaga => "no reservation held without a live saga",
            Self::CustomerCopy => "customer's copy of each order is product-order's",
            Self::VersionOrder => "an order's events applied in version order",
            Self::EventsOnce => "every event published once and applied once",
            Self::OneCurrency => "one currency per order",
            Self::TotalIsSum => "each order's total is the sum of its lines",
            Self::CartOrderedOnce => "a cart line is ordered once",
            Self::Reconciled => "the shop's own reconciliation finds nothing",
        })
    }
}

/// What an audit found: how many things each invariant was checked on, and each broken one.
#[derive(Debug, Default)]
pub struct Audit {
    pub checked: BTreeMap<Invariant, usize>,
    pub broken: Vec<(Invariant, String)>,
}

impl Audit {
    fn check(&mut self, invariant: Invariant, holds: bool, broken: impl FnOnce() -> String) {
        *self.checked.entry(invariant).or_default() += 1;
        if !holds {
            self.broken.push((invariant, broken()));
        }
    }

    pub fn invariants_broken(&self) -> HashSet<Invariant> {
        self.broken.iter().map(|(i, _)| *i).collect()
    }
}

/// Audits until every invariant holds, the shop stops moving with some still broken, or
/// `deadline` passes; answers the last audit.
pub async fn converge(stores: &Stores, cast: &Cast, log: &Log, deadline: Duration) -> Audit {
    let started = Instant::now();
    // The shop counts as settled once three audits in a row found it still (no saga at work,
    // no event on its way); one could fall between the two databases' reads.
    let mut still = 0;
    loop {
        let snapshot = Snapshot::read(stores, cast)
            .await
            .expect("the audit reads both databases");
        let audit = audit(&snapshot, cast, log);
        still = if snapshot.is_still() { still + 1 } else { 0 };
        if audit.broken.is_empty() || still >= 3 || started.elapsed() > deadline {
            return audit;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asks the shop's own reconciliation, as an operator would through the APIs, once the
/// auditor is done: product-order's check of its invariants (over the whole shop, so over
/// earlier episodes too), then customer's copies of the orders changed `since` compared with
/// product-order's, as web's health page compares them. Whatever it finds breaks `Reconciled`:
/// after convergence a healthy shop shows nothing there.
pub async fn reconcile(audit: &mut Audit, rig: &Rig, since: DateTime<Utc>) {
    let own = rig.operator.get("/api/ops/reconciliation").await;
    assert_eq!(own.status, StatusCode::OK, "{:?}", own.body);
    let own: Reconciliation = serde_json::from_value(own.body).expect("a reconciliation");
    audit.check(Invariant::Reconciled, own.mismatches.is_empty(), || {
        format!("product-order's check found {}", described(&own.mismatches))
    });

    let since = since.format("%Y-%m-%dT%H:%M:%S%.6fZ");
    let orders = rig
        .operator
        .get(&format!("/api/ops/orders/digest?updated_since={since}&limit=500"))
        .await;
    assert_eq!(orders.status, StatusCode::OK, "{:?}", orders.body);
    let orders: OrderDigest = serde_json::from_value(orders.body).expect("product-order's digest");
    if orders.items.is_empty() {
        return;
    }
    let ids: Vec<String> = orders.items.iter().map(|o| o.order_id.to_string()).collect();
    let copies = CustomerApi::new(&rig.ops.shop.customer_url)
        .get_as(
            &format!("/api/ops/orders/digest?ids={}", ids.join(",")),
            &rig.ops.operator_token,
        )
        .await;
    assert_eq!(copies.status, StatusCode::OK, "{:?}", copies.body);
    let copies: OrderDigest = serde_json::from_value(copies.body).expect("customer's digest");
    let across = reconciliation::compare(&orders.items, &copies.items);
    for order in &orders.items {
        let found: Vec<_> = across
            .iter()
            .filter(|m| m.order_id == Some(order.order_id))
            .cloned()
            .collect();
        audit.check(Invariant::Reconciled, found.is_empty(), || {
            format!(
                "comparing order {} across the services found {}",
                short(&order.order_id),
                described(&found)
            )
        });
    }
}

fn described(mismatches: &[reconciliation::Mismatch]) -> String {
    let each: Vec<String> = mismatches
        .iter()
        .map(|m| format!("{} ({})", m.kind.label(), m.cause))
        .collect();
    each.join("; ")
}

struct Instance {
    id: Uuid,
    state: String,
    /// The error of its latest failed attempt.
    last_error: Option<String>,
    /// A forward place_order attempt succeeded.
    placed: bool,
    /// An operator retried it (a failed saga starts over from a cart the shopper may have
    /// ordered since).
    retried: bool,
}

/// An order as one service holds it: lines as (product, unit price, quantity), history as
/// (version, status).
struct Order {
    checkout_id: Option<Uuid>,
    customer_id: Uuid,
    status: String,
    version: i64,
    total: i64,
    currency: String,
    lines: Vec<(Uuid, i64, i64)>,
    history: Vec<(i64, String)>,
}

struct Reservation {
    checkout_id: Uuid,
    product_id: Uuid,
    quantity: i64,
    state: String,
}

struct Event {
    id: Uuid,
    order_id: Uuid,
    published: bool,
}

/// Both databases as far as the episode reaches.
struct Snapshot {
    instances: Vec<Instance>,
    /// Attempts left marked running where no worker can be running them.
    stray_attempts: Vec<String>,
    orders: HashMap<Uuid, Order>,
    reservations: Vec<Reservation>,
    stock: HashMap<Uuid, i64>,
    /// (product, from, to, reason) of each recorded stock change.
    stock_changes: Vec<(Uuid, i64, i64, String)>,
    events: Vec<Event>,
    customer_orders: HashMap<Uuid, Order>,
    applied: HashSet<Uuid>,
    dead: HashSet<Uuid>,
}

type OrderRow = (Uuid, Option<Uuid>, Uuid, String, i64, i64, String);
/// Customer's copy of an order: id, customer, status, version, total, currency, lines.
type CopyRow = (Uuid, Uuid, String, i64, i64, String, Json<Value>);

impl Snapshot {
    async fn read(stores: &Stores, cast: &Cast) -> Result<Self, sqlx::Error> {
        let po = &stores.product_order;
        let owners: Vec<String> = cast.shoppers.iter().map(|s| s.id.to_string()).collect();
        let shoppers: Vec<Uuid> = cast.shoppers.iter().map(|s| s.id).collect();
        let products: Vec<Uuid> = cast.products.iter().map(|p| p.id).collect();
        let instances: Vec<Instance> = sqlx::query_as::<_, (Uuid, String, Option<String>, bool, bool)>(
            "SELECT i.id, i.state, \
                (SELECT a.error FROM saga.attempts a WHERE a.instance_id = i.id AND a.outcome = 'failed' \
                 ORDER BY a.id DESC LIMIT 1), \
                EXISTS (SELECT 1 FROM saga.attempts a WHERE a.instance_id = i.id AND a.step_name = 'place_order' \
                        AND a.phase = 'forward' AND a.outcome = 'succeeded'), \
                EXISTS (SELECT 1 FROM saga.operator_actions o WHERE o.instance_id = i.id AND o.action = 'retry') \
             FROM saga.instances i WHERE i.owner = ANY($1)",
        )
        .bind(&owners)
        .fetch_all(po)
        .await?
        .into_iter()
        .map(|(id, state, last_error, placed, retried)| Instance {
            id,
            state,
            last_error,
            placed,
            retried,
        })
        .collect();
        let rows: Vec<OrderRow> = sqlx::query_as(
            "SELECT id, checkout_id, customer_id, status, version, total, currency::text FROM orders \
             WHERE customer_id = ANY($1)",
        )
        .bind(&shoppers)
        .fetch_all(po)
        .await?;
        let mut orders = orders_of(rows);
        let ids: Vec<Uuid> = orders.keys().copied().collect();
        let lines: Vec<(Uuid, Uuid, i64, i64)> = sqlx::query_as(
            "SELECT order_id, product_id, unit_price, quantity::bigint FROM order_lines WHERE order_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(po)
        .await?;
        for (order, product, price, quantity) in lines {
            orders
                .get_mut(&order)
                .expect("a line's order")
                .lines
                .push((product, price, quantity));
        }
        let history: Vec<(Uuid, i64, String)> = sqlx::query_as(
            "SELECT order_id, version, status FROM order_status_changes WHERE order_id = ANY($1) ORDER BY version",
        )
        .bind(&ids)
        .fetch_all(po)
        .await?;
        add_history(&mut orders, history);
        let reservations = sqlx::query_as::<_, (Uuid, Uuid, i64, String)>(
            "SELECT checkout_id, product_id, quantity::bigint, state FROM stock_reservations WHERE product_id = ANY($1)",
        )
        .bind(&products)
        .fetch_all(po)
        .await?
        .into_iter()
        .map(|(checkout_id, product_id, quantity, state)| Reservation {
            checkout_id,
            product_id,
            quantity,
            state,
        })
        .collect();
        let stock = sqlx::query_as::<_, (Uuid, i64)>("SELECT id, stock::bigint FROM products WHERE id = ANY($1)")
            .bind(&products)
            .fetch_all(po)
            .await?
            .into_iter()
            .collect();
        let stock_changes = sqlx::query_as(
            "SELECT product_id, stock_from::bigint, stock_to::bigint, reason FROM stock_changes WHERE product_id = ANY($1)",
        )
        .bind(&products)
        .fetch_all(po)
        .await?;
        let events: Vec<Event> = sqlx::query_as::<_, (Uuid, Uuid, bool)>(
            "SELECT id, aggregate_id, published_at IS NOT NULL FROM outbox WHERE aggregate_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(po)
        .await?
        .into_iter()
        .map(|(id, order_id, published)| Event {
            id,
            order_id,
            published,
        })
        .collect();

        let customer = &stores.customer;
        let rows: Vec<CopyRow> = sqlx::query_as(
            "SELECT id, customer_id, status, version, total, currency::text, lines FROM orders \
             WHERE id = ANY($1) OR customer_id = ANY($2)",
        )
        .bind(&ids)
        .bind(&shoppers)
        .fetch_all(customer)
        .await?;
        let mut customer_orders: HashMap<Uuid, Order> = rows
            .into_iter()
            .map(|(id, customer_id, status, version, total, currency, Json(lines))| {
                let lines = lines
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|l| {
                        let product = l["product_id"]
                            .as_str()
                            .and_then(|p| p.parse().ok())
                            .unwrap_or_default();
                        (
                            product,
                            l["unit_price"].as_i64().unwrap_or(-1),
                            l["quantity"].as_i64().unwrap_or(-1),
                        )
                    })
                    .collect();
                let order = Order {
                    checkout_id: None,
                    customer_id,
                    status,
                    version,
                    total,
                    currency,
                    lines,
                    history: Vec::new(),
                };
                (id, order)
            })
            .collect();
        let kept: Vec<Uuid> = customer_orders.keys().copied().collect();
        let history: Vec<(Uuid, i64, String)> = sqlx::query_as(
            "SELECT order_id, version, status FROM order_status_history WHERE order_id = ANY($1) ORDER BY version",
        )
        .bind(&kept)
        .fetch_all(customer)
        .await?;
        add_history(&mut customer_orders, history);
        let event_ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let applied = sqlx::query_scalar::<_, Uuid>("SELECT event_id FROM applied_events WHERE event_id = ANY($1)")
            .bind(&event_ids)
            .fetch_all(customer)
            .await?
            .into_iter()
            .collect();
        let message_ids: Vec<String> = event_ids.iter().map(Uuid::to_string).collect();
        let dead = sqlx::query_scalar::<_, String>(
            "SELECT message_id FROM event_failures WHERE dead_lettered AND message_id = ANY($1)",
        )
        .bind(&message_ids)
        .fetch_all(customer)
        .await?
        .into_iter()
        .filter_map(|id| id.parse().ok())
        .collect();
        let instance_ids: Vec<Uuid> = instances.iter().map(|i| i.id).collect();
        let stray_attempts = crate::helpers::stray_attempts(po, Some(&instance_ids)).await?;
        Ok(Self {
            instances,
            stray_attempts,
            orders,
            reservations,
            stock,
            stock_changes,
            events,
            customer_orders,
            applied,
            dead,
        })
    }

    /// Nothing will move by itself any more: no saga at work, every event published and
    /// applied or dead-lettered.
    fn is_still(&self) -> bool {
        self.instances
            .iter()
            .all(|i| !matches!(i.state.as_str(), "running" | "compensating"))
            && self
                .events
                .iter()
                .all(|e| e.published && (self.applied.contains(&e.id) || self.dead.contains(&e.id)))
    }
}

fn orders_of(rows: Vec<OrderRow>) -> HashMap<Uuid, Order> {
    rows.into_iter()
        .map(|(id, checkout_id, customer_id, status, version, total, currency)| {
            let order = Order {
                checkout_id,
                customer_id,
                status,
                version,
                total,
                currency,
                lines: Vec::new(),
                history: Vec::new(),
            };
            (id, order)
        })
        .collect()
}

fn add_history(orders: &mut HashMap<Uuid, Order>, history: Vec<(Uuid, i64, String)>) {
    for (order, version, status) in history {
        if let Some(order) = orders.get_mut(&order) {
            order.history.push((version, status));
        }
    }
}

fn audit(snapshot: &Snapshot, cast: &Cast, log: &Log) -> Audit {
    let mut audit = Audit::default();
    *audit.checked.entry(Invariant::Answers).or_default() += log.requests;
    for violation in &log.violations {
        audit.broken.push((Invariant::Answers, violation.clone()));
    }
    checkouts(&mut audit, snapshot, log);
    stock(&mut audit, snapshot, cast, log);
    orders(&mut audit, snapshot, cast, log);
    customer_copies(&mut audit, snapshot);
    audit
}

/// An id as a history shows it: its last eight digits (the first ones of a v7 id are the
/// time, alike for a whole run).
pub fn short(id: &Uuid) -> String {
    let text = id.simple().to_string();
    text[text.len() - 8..].to_owned()
}

fn is_live(state: &str) -> bool {
    matches!(state, "running" | "compensating" | "stuck")
}

/// Every accepted checkout ended and agrees with its order.
fn checkouts(audit: &mut Audit, snapshot: &Snapshot, log: &Log) {
    let order_of: HashMap<Uuid, &Order> = snapshot
        .orders
        .values()
        .filter_map(|o| o.checkout_id.map(|c| (c, o)))
        .collect();
    let known: HashSet<Uuid> = snapshot.instances.iter().map(|i| i.id).collect();
    for id in &log.accepted {
        audit.check(Invariant::CheckoutsEnd, known.contains(id), || {
            format!("checkout {} was accepted and is lost", short(id))
        });
    }
    for instance in &snapshot.instances {
        let id = short(&instance.id);
        let error = instance.last_error.as_deref().unwrap_or("no error recorded");
        let ended = match instance.state.as_str() {
            "completed" | "failed" => true,
            "stuck" => error.contains(INJECTED),
            _ => false,
        };
        audit.check(Invariant::CheckoutsEnd, ended, || {
            format!("checkout {id} is {} (last error: {error})", instance.state)
        });
        let order = order_of.get(&instance.id);
        match instance.state.as_str() {
            "completed" => audit.check(Invariant::SagaAgreesWithOrder, order.is_some(), || {
                format!("checkout {id} completed without an order")
            }),
            "failed" => audit.check(
                Invariant::SagaAgreesWithOrder,
                order.is_none_or(|o| o.status == "cancelled"),
                || {
                    format!(
                        "checkout {id} failed but its order is {}",
                        order.map_or("", |o| o.status.as_str())
                    )
                },
            ),
            _ => {}
        }
        if !instance.placed {
            audit.check(Invariant::OneOrderPerCheckout, order.is_none(), || {
                format!("checkout {id} never placed its order, yet has one")
            });
        }
    }
    *audit.checked.entry(Invariant::AttemptsClosed).or_default() += snapshot.instances.len();
    for stray in &snapshot.stray_attempts {
        audit.broken.push((Invariant::AttemptsClosed, stray.clone()));
    }
    for (order_id, order) in &snapshot.orders {
        audit.check(
            Invariant::OneOrderPerCheckout,
            order.checkout_id.is_some_and(|c| known.contains(&c)),
            || format!("order {} comes from no checkout of its shopper", short(order_id)),
        );
    }
    let states: HashMap<Uuid, &str> = snapshot.instances.iter().map(|i| (i.id, i.state.as_str())).collect();
    for reservation in &snapshot.reservations {
        let checkout = short(&reservation.checkout_id);
        let state = states.get(&reservation.checkout_id).copied().unwrap_or("unknown");
        match reservation.state.as_str() {
            "held" => audit.check(Invariant::HeldNeedsLiveSaga, is_live(state), || {
                format!(
                    "checkout {checkout} ({state}) still holds {} of a product",
                    reservation.quantity
                )
            }),
            "committed" => {
                let order = order_of.get(&reservation.checkout_id);
                audit.check(
                    Invariant::HeldNeedsLiveSaga,
                    order.is_some_and(|o| o.status != "cancelled"),
                    || format!("checkout {checkout} ({state}) has stock committed to no standing order"),
                );
            }
            _ => {}
        }
    }
}

/// Each product's stock against its initial stock, the operators' changes (checked against
/// their records) and what standing orders and live sagas hold.
fn stock(audit: &mut Audit, snapshot: &Snapshot, cast: &Cast, log: &Log) {
    let tags: HashMap<&str, (usize, Change)> = log
        .stock_changes
        .iter()
        .map(|c| (c.tag.as_str(), (c.product, c.change)))
        .collect();
    let recorded: HashMap<&str, (i64, i64)> = snapshot
        .stock_changes
        .iter()
        .map(|(_, from, to, reason)| (reason.as_str(), (*from, *to)))
        .collect();
    let initial: HashMap<Uuid, i64> = cast.products.iter().map(|p| (p.id, p.initial_stock)).collect();
    for (product, _, to, reason) in &snapshot.stock_changes {
        let made = match reason.as_str() {
            // The record of the product's creation.
            "initial stock" => initial.get(product) == Some(to),
            tag => tags.contains_key(tag),
        };
        audit.check(Invariant::Stock, made, || {
            format!(
                "a stock change of {} to {to} no operator made: {reason}",
                short(product)
            )
        });
    }
    let mut changed: HashMap<usize, i64> = HashMap::new();
    for change in &log.stock_changes {
        let record = recorded.get(change.tag.as_str()).copied();
        let (holds, by) = match (change.change, record) {
            (Change::Set(stock), Some((from, to))) => (to == stock, to - from),
            // Set to what it was: nothing recorded, nothing changed.
            (Change::Set(_), None) => (true, 0),
            (Change::Delta(delta), Some((from, to))) => (to - from == delta, to - from),
            (Change::Delta(_), None) => (false, 0),
        };
        audit.check(Invariant::Stock, holds, || {
            format!("the stock change {:?} is recorded as {record:?}", change.change)
        });
        *changed.entry(change.product).or_default() += by;
    }
    let states: HashMap<Uuid, &str> = snapshot.instances.iter().map(|i| (i.id, i.state.as_str())).collect();
    for (index, product) in cast.products.iter().enumerate() {
        let name = super::actions::product_name(index);
        let stock = snapshot.stock.get(&product.id).copied().unwrap_or_default();
        let available = product.initial_stock + changed.get(&index).copied().unwrap_or_default();
        let reserved: i64 = snapshot
            .reservations
            .iter()
            .filter(|r| r.product_id == product.id && r.state != "released")
            .map(|r| r.quantity)
            .sum();
        let ordered: i64 = snapshot
            .orders
            .values()
            .filter(|o| o.status != "cancelled")
            .flat_map(|o| &o.lines)
            .filter(|(p, _, _)| *p == product.id)
            .map(|(_, _, quantity)| quantity)
            .sum();
        let held_live: i64 = snapshot
            .reservations
            .iter()
            .filter(|r| r.product_id == product.id && r.state == "held")
            .filter(|r| states.get(&r.checkout_id).is_some_and(|s| is_live(s)))
            .map(|r| r.quantity)
            .sum();
        audit.check(Invariant::Stock, stock >= 0, || format!("{name} has {stock} in stock"));
        audit.check(Invariant::Stock, stock == available - reserved, || {
            format!("{name}: {stock} in stock, but {available} initially with operator changes, {reserved} reserved")
        });
        audit.check(Invariant::Stock, stock == available - ordered - held_live, || {
            format!(
                "{name}: {stock} in stock, but {available} initially with operator changes, \
                 {ordered} in standing orders and {held_live} held by live sagas"
            )
        });
    }
}

/// Each order's currency and total, and no cart line ordered more often than it was put
/// (counting the orders of checkouts no operator retried).
fn orders(audit: &mut Audit, snapshot: &Snapshot, cast: &Cast, log: &Log) {
    let retried: HashSet<Uuid> = snapshot.instances.iter().filter(|i| i.retried).map(|i| i.id).collect();
    for (id, order) in snapshot.orders.iter().chain(&snapshot.customer_orders) {
        let id = short(id);
        for (product, price, _) in &order.lines {
            audit.check(
                Invariant::OneCurrency,
                currency_of(*price) == Some(order.currency.as_str()),
                || {
                    format!(
                        "order {id} is in {} but its line of {} costs {price} ({})",
                        order.currency,
                        short(product),
                        currency_of(*price).unwrap_or("?")
                    )
                },
            );
        }
        let sum: i64 = order.lines.iter().map(|(_, price, quantity)| price * quantity).sum();
        audit.check(Invariant::TotalIsSum, order.total == sum, || {
            format!("order {id} totals {} but its lines sum to {sum}", order.total)
        });
    }
    for (s, shopper) in cast.shoppers.iter().enumerate() {
        for (p, product) in cast.products.iter().enumerate() {
            let ordered = snapshot
                .orders
                .values()
                .filter(|o| o.checkout_id.is_some_and(|c| !retried.contains(&c)))
                .filter(|o| o.customer_id == shopper.id && o.lines.iter().any(|(id, _, _)| *id == product.id))
                .count();
            let put = log.puts.get(&(s, p)).copied().unwrap_or_default();
            audit.check(Invariant::CartOrderedOnce, ordered <= put, || {
                format!(
                    "shopper {} put {} in the cart {put} time(s) and it was ordered {ordered} time(s)",
                    s + 1,
                    super::actions::product_name(p)
                )
            });
        }
    }
}

/// Customer's copy of each order, its history, and the events behind them.
fn customer_copies(audit: &mut Audit, snapshot: &Snapshot) {
    for (id, order) in &snapshot.orders {
        let name = short(id);
        let Some(copy) = snapshot.customer_orders.get(id) else {
            audit.check(Invariant::CustomerCopy, false, || {
                format!("order {name} is missing in customer")
            });
            continue;
        };
        let mut lines = order.lines.clone();
        let mut copied = copy.lines.clone();
        lines.sort();
        copied.sort();
        let same = (
            copy.customer_id,
            &copy.status,
            copy.version,
            copy.total,
            &copy.currency,
            &copied,
        ) == (
            order.customer_id,
            &order.status,
            order.version,
            order.total,
            &order.currency,
            &lines,
        );
        audit.check(Invariant::CustomerCopy, same, || {
            format!(
                "order {name} is {} v{} ({} {}) in customer but {} v{} ({} {}) in product-order",
                copy.status,
                copy.version,
                copy.total,
                copy.currency,
                order.status,
                order.version,
                order.total,
                order.currency
            )
        });
        audit.check(Invariant::CustomerCopy, copy.history == order.history, || {
            format!(
                "order {name}'s history is {:?} in customer but {:?} in product-order",
                copy.history, order.history
            )
        });
        for (service, held) in [("product-order", order), ("customer", copy)] {
            audit.check(Invariant::VersionOrder, in_version_order(held), || {
                format!(
                    "order {name} in {service}: {} v{} after {:?}",
                    held.status, held.version, held.history
                )
            });
        }
    }
    for id in snapshot.customer_orders.keys() {
        audit.check(Invariant::CustomerCopy, snapshot.orders.contains_key(id), || {
            format!("order {} is in customer only", short(id))
        });
    }
    for event in &snapshot.events {
        let (id, order) = (short(&event.id), short(&event.order_id));
        audit.check(Invariant::EventsOnce, event.published, || {
            format!("event {id} of order {order} is not published")
        });
        audit.check(Invariant::EventsOnce, snapshot.applied.contains(&event.id), || {
            format!("event {id} of order {order} is not applied in customer")
        });
        audit.check(Invariant::EventsOnce, !snapshot.dead.contains(&event.id), || {
            format!("event {id} of order {order} went to the dead letters")
        });
    }
}

/// Versions 1..=n once each, each an allowed move from the one before, the last one the
/// order's status and version.
fn in_version_order(order: &Order) -> bool {
    let statuses: Option<Vec<OrderStatus>> = order.history.iter().map(|(_, s)| s.parse().ok()).collect();
    let Some(statuses) = statuses else { return false };
    let numbered = order.history.iter().zip(1..).all(|((version, _), n)| *version == n);
    let moves = statuses.windows(2).all(|w| w[0].can_move_to(w[1]));
    let last = order.history.last();
    let placed_first = statuses.first() == Some(&OrderStatus::Placed);
    numbered && placed_first && moves && last.is_some_and(|(v, s)| (*v, s) == (order.version, &order.status))
}
