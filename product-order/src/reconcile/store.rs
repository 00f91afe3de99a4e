//! SQL for reconciliation: what the checks read, the digest, and the repairs' records.

use chrono::{DateTime, Utc};
use contracts::OrderStatus;
use contracts::reconciliation::{DigestItem, Repair, RepairRecord};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor, Row};
use uuid::Uuid;

fn status_of(text: String) -> Result<OrderStatus, sqlx::Error> {
    text.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))
}

/// The checkouts holding stock (reservations `held`).
pub async fn holding_checkouts(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT DISTINCT checkout_id FROM stock_reservations WHERE state = 'held'")
        .fetch_all(db)
        .await
}

/// What a checkout holds, and its order if that stands.
#[derive(Debug, Clone)]
pub struct Holding {
    pub checkout_id: Uuid,
    pub units: i64,
    pub products: i64,
    pub standing_order: Option<(Uuid, OrderStatus)>,
}

/// What the checkouts among `checkout_ids` hold now.
pub async fn holdings(db: impl PgExecutor<'_>, checkout_ids: &[Uuid]) -> sqlx::Result<Vec<Holding>> {
    let rows = sqlx::query(
        "SELECT r.checkout_id, sum(r.quantity)::bigint AS units, count(*) AS products, o.id AS order_id, o.status \
         FROM stock_reservations r \
         LEFT JOIN orders o ON o.checkout_id = r.checkout_id AND o.status <> 'cancelled' \
         WHERE r.checkout_id = ANY($1) AND r.state = 'held' \
         GROUP BY r.checkout_id, o.id, o.status ORDER BY r.checkout_id",
    )
    .bind(checkout_ids)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|row| {
            let standing_order = match row.get::<Option<Uuid>, _>("order_id") {
                Some(id) => Some((id, status_of(row.get("status"))?)),
                None => None,
            };
            Ok(Holding {
                checkout_id: row.get("checkout_id"),
                units: row.get("units"),
                products: row.get("products"),
                standing_order,
            })
        })
        .collect()
}

/// A checkout's held reservations, locked for the caller's transaction: (product, quantity).
pub async fn lock_held(tx: &mut PgConnection, checkout_id: Uuid) -> sqlx::Result<Vec<(Uuid, i32)>> {
    sqlx::query_as(
        "SELECT product_id, quantity FROM stock_reservations WHERE checkout_id = $1 AND state = 'held' \
         ORDER BY product_id FOR UPDATE",
    )
    .bind(checkout_id)
    .fetch_all(tx)
    .await
}

/// A product whose stock is not what its record gives.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Drift {
    pub product_id: Uuid,
    pub name: String,
    pub stock: i64,
    /// The sum of its stock changes, the initial stock (a change from 0) included.
    pub changed: i64,
    /// What its held and committed reservations hold.
    pub reserved: i64,
}

/// Products whose stock is not their stock changes less their held and committed
/// reservations: one statement, so one snapshot of all three tables.
pub async fn stock_drift(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Drift>> {
    sqlx::query_as(
        "WITH changed AS ( \
             SELECT product_id, sum(stock_to - stock_from)::bigint AS changed FROM stock_changes GROUP BY product_id), \
         reserved AS ( \
             SELECT product_id, sum(quantity)::bigint AS reserved FROM stock_reservations \
             WHERE state IN ('held', 'committed') GROUP BY product_id) \
         SELECT p.id AS product_id, p.name, p.stock::bigint AS stock, \
                coalesce(c.changed, 0) AS changed, coalesce(r.reserved, 0) AS reserved \
         FROM products p \
         LEFT JOIN changed c ON c.product_id = p.id \
         LEFT JOIN reserved r ON r.product_id = p.id \
         WHERE p.stock <> coalesce(c.changed, 0) - coalesce(r.reserved, 0) \
         ORDER BY p.name, p.id",
    )
    .fetch_all(db)
    .await
}

/// An event waiting in the outbox.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Waiting {
    pub id: Uuid,
    pub routing_key: String,
    pub aggregate_id: Uuid,
    pub age_seconds: f64,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// Events unpublished for longer than `seconds`, oldest first, at most `limit`.
pub async fn unpublished_for(db: impl PgExecutor<'_>, seconds: f64, limit: i64) -> sqlx::Result<Vec<Waiting>> {
    sqlx::query_as(
        "SELECT id, routing_key, aggregate_id, extract(epoch FROM now() - created_at)::float8 AS age_seconds, \
                attempts, last_error \
         FROM outbox WHERE published_at IS NULL AND created_at < now() - make_interval(secs => $1) \
         ORDER BY created_at LIMIT $2",
    )
    .bind(seconds)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Orders changed since `since` and not within the last `settled_seconds`, newest change first.
pub async fn digest(
    db: impl PgExecutor<'_>,
    since: DateTime<Utc>,
    settled_seconds: u32,
    limit: i64,
) -> sqlx::Result<Vec<DigestItem>> {
    let rows = sqlx::query(
        "SELECT id, status, version, updated_at FROM orders \
         WHERE updated_at >= $1 AND updated_at < now() - make_interval(secs => $2) \
         ORDER BY updated_at DESC, id DESC LIMIT $3",
    )
    .bind(since)
    .bind(f64::from(settled_seconds))
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(DigestItem {
                order_id: row.get("id"),
                status: status_of(row.get("status"))?,
                version: row.get("version"),
                updated_at: row.get("updated_at"),
            })
        })
        .collect()
}

/// An order locked for the caller's transaction (its status changes wait): its checkout and
/// version.
pub async fn lock_order(tx: &mut PgConnection, order_id: Uuid) -> sqlx::Result<Option<(Uuid, i64)>> {
    sqlx::query_as("SELECT checkout_id, version FROM orders WHERE id = $1 FOR UPDATE")
        .bind(order_id)
        .fetch_optional(tx)
        .await
}

/// One of an order's events, and whether the broker had confirmed it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct OrderEvent {
    pub event_id: Uuid,
    pub routing_key: String,
    pub version: i64,
    pub confirmed: bool,
}

/// An order's events in version order (the order each consumer applies them in).
pub async fn events_of_order(tx: &mut PgConnection, order_id: Uuid) -> sqlx::Result<Vec<OrderEvent>> {
    sqlx::query_as(
        "SELECT id AS event_id, routing_key, (payload->>'version')::bigint AS version, \
                published_at IS NOT NULL AS confirmed \
         FROM outbox WHERE aggregate_id = $1 ORDER BY 3, created_at, id",
    )
    .bind(order_id)
    .fetch_all(tx)
    .await
}

/// A repair to record.
pub struct NewRecord<'a> {
    pub repair: Repair,
    pub operator: &'a str,
    pub reason: &'a str,
    pub order_id: Option<Uuid>,
    pub checkout_id: Option<Uuid>,
    pub details: Value,
}

const RECORD_COLUMNS: &str = "action, operator, reason, order_id, checkout_id, details, at";

fn record_of(row: &sqlx::postgres::PgRow) -> sqlx::Result<RepairRecord> {
    Ok(RepairRecord {
        repair: row
            .get::<String, _>("action")
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        operator: row.get("operator"),
        reason: row.get("reason"),
        order_id: row.get("order_id"),
        checkout_id: row.get("checkout_id"),
        details: row.get("details"),
        at: row.get("at"),
    })
}

/// Records a repair in the caller's transaction, so it is recorded if and only if it commits.
pub async fn record(tx: &mut PgConnection, new: NewRecord<'_>) -> sqlx::Result<RepairRecord> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO reconciliation_actions (action, operator, reason, order_id, checkout_id, details) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {RECORD_COLUMNS}"
    )))
    .bind(new.repair.as_str())
    .bind(new.operator)
    .bind(new.reason)
    .bind(new.order_id)
    .bind(new.checkout_id)
    .bind(new.details)
    .fetch_one(tx)
    .await?;
    record_of(&row)
}

/// The latest repairs, newest first.
pub async fn latest_records(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<RepairRecord>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS} FROM reconciliation_actions ORDER BY at DESC, id DESC LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter().map(record_of).collect()
}
