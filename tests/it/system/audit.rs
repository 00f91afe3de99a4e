//! What must hold once the shop has settled, read from both services' databases: every
//! accepted checkout ended (a failure with a reason), one order per completed checkout and none
//! for another, each order in customer once with the status and history product-order holds,
//! every event published and applied, stock equal to the initial stock minus what was ordered,
//! nothing left reserved, no saga attempt left marked running where no worker runs it.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::Stores;

/// The shop's state as the audit found it.
pub struct Audit {
    pub orders_placed: usize,
    pub orders_in_customer: usize,
    pub failed_checkouts: usize,
    /// Accepted checkouts that ended (completed or failed).
    pub ended_checkouts: usize,
    /// Accepted checkouts product-order has no record of.
    pub lost_checkouts: usize,
    /// Events product-order published (confirmed by the broker).
    pub events_published: i64,
    /// Events customer applied (each once: a duplicate delivery is recorded once).
    pub events_applied: i64,
    /// Events customer gave up on and dead-lettered.
    pub dead_lettered: i64,
    /// Each broken rule, one line per checkout, order or product it concerns.
    pub mismatches: Vec<String>,
}

/// Audits until nothing is amiss or `deadline` passes; returns the last audit.
pub async fn converge(
    stores: &Stores,
    accepted: &[Uuid],
    initial_stock: &HashMap<Uuid, i64>,
    deadline: Instant,
) -> Audit {
    loop {
        let audit = match audit(stores, accepted, initial_stock).await {
            Ok(audit) => audit,
            Err(e) => Audit {
                orders_placed: 0,
                orders_in_customer: 0,
                failed_checkouts: 0,
                ended_checkouts: 0,
                lost_checkouts: 0,
                events_published: 0,
                events_applied: 0,
                dead_lettered: 0,
                mismatches: vec![format!("the audit could not read the databases: {e}")],
            },
        };
        if audit.mismatches.is_empty() || Instant::now() > deadline {
            return audit;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Checkout {
    state: String,
    failure: Option<String>,
}

struct Order {
    checkout_id: Uuid,
    customer_id: Uuid,
    status: String,
}

async fn audit(stores: &Stores, accepted: &[Uuid], initial_stock: &HashMap<Uuid, i64>) -> Result<Audit, sqlx::Error> {
    let po = &stores.product_order;
    let checkouts: HashMap<Uuid, Checkout> =
        sqlx::query_as::<_, (Uuid, String, Option<String>)>("SELECT id, state, failure FROM saga.instances")
            .fetch_all(po)
            .await?
            .into_iter()
            .map(|(id, state, failure)| (id, Checkout { state, failure }))
            .collect();
    let orders: HashMap<Uuid, Order> =
        sqlx::query_as::<_, (Uuid, Uuid, Uuid, String)>("SELECT id, checkout_id, customer_id, status FROM orders")
            .fetch_all(po)
            .await?
            .into_iter()
            .map(|(id, checkout_id, customer_id, status)| {
                (
                    id,
                    Order {
                        checkout_id,
                        customer_id,
                        status,
                    },
                )
            })
            .collect();
    let mut mismatches = checkout_mismatches(accepted, &checkouts, &orders);
    mismatches.extend(crate::helpers::stray_attempts(po, None).await?);
    mismatches.extend(stock_mismatches(po, initial_stock).await?);
    let (customer, events) = customer_mismatches(stores, &orders).await?;
    mismatches.extend(customer);
    mismatches.extend(history_mismatches(stores).await?);
    let told: HashSet<&Uuid> = accepted.iter().collect();
    let state_of = |id: &&Uuid| checkouts.get(*id).map(|c| c.state.as_str());
    Ok(Audit {
        ended_checkouts: told
            .iter()
            .filter(|id| matches!(state_of(id), Some("completed" | "failed")))
            .count(),
        lost_checkouts: told.iter().filter(|id| state_of(id).is_none()).count(),
        events_published: events.written - events.unpublished,
        events_applied: events.applied,
        dead_lettered: events.dead,
        orders_placed: orders.values().filter(|o| o.status != "cancelled").count(),
        orders_in_customer: sqlx::query_scalar::<_, i64>("SELECT count(*) FROM orders")
            .fetch_one(&stores.customer)
            .await? as usize,
        failed_checkouts: checkouts.values().filter(|c| c.state == "failed").count(),
        mismatches,
    })
}

/// Every accepted checkout ended, a completed one with its order, a failed one with a reason
/// and no order standing; no order without a checkout a shopper was told about.
fn checkout_mismatches(
    accepted: &[Uuid],
    checkouts: &HashMap<Uuid, Checkout>,
    orders: &HashMap<Uuid, Order>,
) -> Vec<String> {
    let mut mismatches = Vec::new();
    let order_of: HashMap<Uuid, &Order> = orders.values().map(|o| (o.checkout_id, o)).collect();
    let told: HashSet<&Uuid> = accepted.iter().collect();
    if told.len() != accepted.len() {
        mismatches.push(format!("{} checkouts were accepted twice", accepted.len() - told.len()));
    }
    for id in &told {
        let Some(checkout) = checkouts.get(id) else {
            mismatches.push(format!("checkout {id} was accepted and lost"));
            continue;
        };
        let order = order_of.get(id);
        match (checkout.state.as_str(), order) {
            ("completed", Some(order)) if order.status != "cancelled" => {}
            ("completed", _) => mismatches.push(format!("checkout {id} completed without an order standing")),
            ("failed", order) => {
                if checkout.failure.as_deref().is_none_or(str::is_empty) {
                    mismatches.push(format!("checkout {id} failed without a reason"));
                }
                if order.is_some_and(|o| o.status != "cancelled") {
                    mismatches.push(format!("checkout {id} failed but its order stands"));
                }
            }
            (state, _) => mismatches.push(format!("checkout {id} is still {state}")),
        }
    }
    for (id, order) in orders {
        if !told.contains(&order.checkout_id) {
            mismatches.push(format!("order {id} comes from a checkout no shopper was told about"));
        }
    }
    mismatches
}

/// Each product's stock is its initial stock minus the quantities of the orders standing, and
/// no reservation is held any more.
async fn stock_mismatches(po: &PgPool, initial_stock: &HashMap<Uuid, i64>) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(Uuid, i64, i64)> = sqlx::query_as(
        "SELECT p.id, p.stock::bigint, coalesce((SELECT sum(l.quantity) FROM order_lines l \
             JOIN orders o ON o.id = l.order_id WHERE l.product_id = p.id AND o.status <> 'cancelled'), 0)::bigint \
         FROM products p",
    )
    .fetch_all(po)
    .await?;
    let mut mismatches: Vec<String> = rows
        .into_iter()
        .filter_map(|(id, stock, ordered)| {
            let initial = initial_stock.get(&id).copied().unwrap_or_default();
            (stock != initial - ordered)
                .then(|| format!("product {id}: stock {stock}, but {initial} initially and {ordered} ordered"))
        })
        .collect();
    let held: Vec<Uuid> = sqlx::query_scalar("SELECT checkout_id FROM stock_reservations WHERE state = 'held'")
        .fetch_all(po)
        .await?;
    mismatches.extend(held.iter().map(|id| format!("checkout {id} still holds a reservation")));
    Ok(mismatches)
}

/// Each order's status history in customer is product-order's: the same statuses at the same
/// versions, none missing, none twice.
async fn history_mismatches(stores: &Stores) -> Result<Vec<String>, sqlx::Error> {
    async fn histories(pool: &PgPool, table: &str) -> Result<HashMap<Uuid, Vec<(i64, String)>>, sqlx::Error> {
        let sql = format!("SELECT order_id, version, status FROM {table} ORDER BY order_id, version");
        let mut histories: HashMap<Uuid, Vec<(i64, String)>> = HashMap::new();
        for (order, version, status) in sqlx::query_as::<_, (Uuid, i64, String)>(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await?
        {
            histories.entry(order).or_default().push((version, status));
        }
        Ok(histories)
    }
    let kept = histories(&stores.product_order, "order_status_changes").await?;
    let copied = histories(&stores.customer, "order_status_history").await?;
    Ok(kept
        .iter()
        .filter(|(order, history)| copied.get(*order) != Some(*history))
        .map(|(order, history)| {
            format!(
                "order {order}'s history is {:?} in customer but {history:?} in product-order",
                copied.get(order).cloned().unwrap_or_default()
            )
        })
        .collect())
}

/// The events as both sides count them.
struct EventCounts {
    written: i64,
    unpublished: i64,
    applied: i64,
    dead: i64,
}

/// Every order is in customer once, for the same shopper and with the same status; every
/// event is published and applied once; none went to the dead letters.
async fn customer_mismatches(
    stores: &Stores,
    orders: &HashMap<Uuid, Order>,
) -> Result<(Vec<String>, EventCounts), sqlx::Error> {
    let kept: HashMap<Uuid, (Uuid, String)> =
        sqlx::query_as::<_, (Uuid, Uuid, String)>("SELECT id, customer_id, status FROM orders")
            .fetch_all(&stores.customer)
            .await?
            .into_iter()
            .map(|(id, customer_id, status)| (id, (customer_id, status)))
            .collect();
    let mut mismatches = Vec::new();
    for (id, order) in orders {
        match kept.get(id) {
            None => mismatches.push(format!("order {id} is missing in customer")),
            Some((customer_id, status)) if (customer_id, status) != (&order.customer_id, &order.status) => {
                mismatches.push(format!(
                    "order {id} is {status} for {customer_id} in customer but {} for {} in product-order",
                    order.status, order.customer_id
                ));
            }
            Some(_) => {}
        }
    }
    mismatches.extend(
        kept.keys()
            .filter(|id| !orders.contains_key(id))
            .map(|id| format!("order {id} is in customer only")),
    );
    let (events, unpublished): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE published_at IS NULL) FROM outbox")
            .fetch_one(&stores.product_order)
            .await?;
    let (applied, dead): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM applied_events), \
                (SELECT count(*) FROM event_failures WHERE dead_lettered)",
    )
    .fetch_one(&stores.customer)
    .await?;
    if unpublished > 0 {
        mismatches.push(format!("{unpublished} of {events} events not published yet"));
    }
    if applied != events {
        mismatches.push(format!(
            "customer applied {applied} events of the {events} product-order wrote"
        ));
    }
    if dead > 0 {
        mismatches.push(format!("{dead} events went to the dead letters"));
    }
    let counts = EventCounts {
        written: events,
        unpublished,
        applied,
        dead,
    };
    Ok((mismatches, counts))
}
