//! SQL for orders: placing one from a checkout, moving it through its statuses. Every change
//! writes its event to the outbox in the same transaction.

use std::time::Duration;

use chrono::Utc;
use contracts::OrderStatus;
use contracts::events::{self, Contact, Delivery, OrderLine, OrderPlaced, OrderStatusChanged};
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, Row};
use uuid::Uuid;

use crate::outbox::{self, NewEvent};
use crate::reservations::{self, ReservationState};

/// How long the relay leaves an `order.placed` to the checkout saga's publish step.
const SAGA_PUBLISHES_WITHIN: Duration = Duration::from_secs(30);

/// What an order is placed from.
pub struct NewOrder<'a> {
    pub checkout_id: Uuid,
    pub customer_id: Uuid,
    pub lines: &'a [OrderLine],
    pub currency: &'a str,
    pub contact: &'a Contact,
    pub delivery: &'a Delivery,
}

/// The order of a checkout, its status and its `order.placed` event.
pub struct Placed {
    pub order_id: Uuid,
    pub event_id: Uuid,
    pub status: OrderStatus,
    /// The broker confirmed `order.placed` (and the confirm was recorded).
    pub published: bool,
}

/// Places the checkout's order with the prices of its snapshot, removes the cart lines the
/// checkout took (and nobody changed since) and writes `order.placed`. Placing twice gives back the first order, whatever became
/// of it since (the caller tells a cancelled one apart).
pub async fn place(tx: &mut PgConnection, order: NewOrder<'_>) -> Result<Placed, sqlx::Error> {
    let order_id = Uuid::now_v7();
    let total: i64 = order.lines.iter().map(|l| l.unit_price * i64::from(l.quantity)).sum();
    let placed_at = Utc::now();
    let inserted = sqlx::query(
        "INSERT INTO orders (id, checkout_id, customer_id, status, version, total, currency, contact, delivery, placed_at) \
         VALUES ($1, $2, $3, 'placed', 1, $4, $5, $6, $7, $8) \
         ON CONFLICT (checkout_id) DO NOTHING",
    )
    .bind(order_id)
    .bind(order.checkout_id)
    .bind(order.customer_id)
    .bind(total)
    .bind(order.currency)
    .bind(Json(order.contact))
    .bind(Json(order.delivery))
    .bind(placed_at)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return placed_for(tx, order.checkout_id).await?.ok_or(sqlx::Error::RowNotFound);
    }
    sqlx::query(
        "INSERT INTO order_lines (order_id, product_id, sku, name, unit_price, quantity) \
         SELECT $1, * FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::bigint[], $6::int[])",
    )
    .bind(order_id)
    .bind(order.lines.iter().map(|l| l.product_id).collect::<Vec<_>>())
    .bind(order.lines.iter().map(|l| l.sku.clone()).collect::<Vec<_>>())
    .bind(order.lines.iter().map(|l| l.name.clone()).collect::<Vec<_>>())
    .bind(order.lines.iter().map(|l| l.unit_price).collect::<Vec<_>>())
    .bind(order.lines.iter().map(|l| l.quantity).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO order_status_changes (order_id, version, status, at) VALUES ($1, 1, 'placed', $2)")
        .bind(order_id)
        .bind(placed_at)
        .execute(&mut *tx)
        .await?;
    reservations::commit(tx, order.checkout_id).await?;
    crate::cart::store::remove_taken(tx, &format!("customer:{}", order.customer_id), order.checkout_id).await?;
    let event_id = Uuid::now_v7();
    outbox::write(
        tx,
        NewEvent {
            id: event_id,
            routing_key: events::ORDER_PLACED,
            aggregate_id: order_id,
            relay_after: SAGA_PUBLISHES_WITHIN,
            body: &OrderPlaced {
                event_id,
                occurred_at: placed_at,
                order_id,
                customer_id: order.customer_id,
                lines: order.lines.to_vec(),
                total,
                currency: order.currency.to_owned(),
                contact: order.contact.clone(),
                delivery: order.delivery.clone(),
                status: OrderStatus::Placed,
                version: 1,
            },
        },
    )
    .await?;
    Ok(Placed {
        order_id,
        event_id,
        status: OrderStatus::Placed,
        published: false,
    })
}

/// The `order.placed` event of the order a checkout placed, if any, its outbox row locked
/// for the caller's transaction to publish it.
pub async fn placed_event_for(tx: &mut PgConnection, checkout_id: Uuid) -> Result<Option<outbox::Stored>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.id, e.routing_key, e.payload, e.published_at IS NOT NULL AS published FROM orders o \
         JOIN outbox e ON e.aggregate_id = o.id AND e.routing_key = $2 \
         WHERE o.checkout_id = $1 \
         FOR UPDATE OF e",
    )
    .bind(checkout_id)
    .bind(events::ORDER_PLACED)
    .fetch_optional(&mut *tx)
    .await
}

/// The order a checkout placed, if any, with its `order.placed` event: the one lookup of a
/// checkout's order.
pub async fn placed_for(db: impl PgExecutor<'_>, checkout_id: Uuid) -> Result<Option<Placed>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT o.id, o.status, e.id AS event_id, e.published_at IS NOT NULL AS published FROM orders o \
         JOIN outbox e ON e.aggregate_id = o.id AND e.routing_key = $2 \
         WHERE o.checkout_id = $1",
    )
    .bind(checkout_id)
    .bind(events::ORDER_PLACED)
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        Ok(Placed {
            order_id: r.get("id"),
            event_id: r.get("event_id"),
            status: status_of(&r)?,
            published: r.get("published"),
        })
    })
    .transpose()
}

/// Why a status change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StatusChangeError {
    #[error("order not found")]
    NotFound,
    #[error("an order cannot move from {from} to {to}")]
    NotAllowed { from: OrderStatus, to: OrderStatus },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Who moves an order, and why.
pub struct StatusChange<'a> {
    pub order_id: Uuid,
    /// Only this customer's order (a shopper acting), or any (an operator or the saga).
    pub customer: Option<Uuid>,
    pub to: OrderStatus,
    pub by: Option<Uuid>,
    pub reason: Option<&'a str>,
}

/// Moves an order along an allowed edge, writes `order.status_changed`, and on cancellation
/// gives its stock back. Returns the new version.
pub async fn change_status(tx: &mut PgConnection, change: StatusChange<'_>) -> Result<i64, StatusChangeError> {
    let row = sqlx::query(
        "SELECT customer_id, checkout_id, status, version FROM orders \
         WHERE id = $1 AND ($2::uuid IS NULL OR customer_id = $2) FOR UPDATE",
    )
    .bind(change.order_id)
    .bind(change.customer)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StatusChangeError::NotFound)?;
    let from = status_of(&row)?;
    if !from.can_move_to(change.to) {
        return Err(StatusChangeError::NotAllowed { from, to: change.to });
    }
    let customer_id: Uuid = row.get("customer_id");
    let checkout_id: Uuid = row.get("checkout_id");
    let version = row.get::<i64, _>("version") + 1;
    let at = Utc::now();
    sqlx::query("UPDATE orders SET status = $2, version = $3, updated_at = $4 WHERE id = $1")
        .bind(change.order_id)
        .bind(change.to.as_str())
        .bind(version)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO order_status_changes (order_id, version, status, previous_status, changed_by, reason, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(change.order_id)
    .bind(version)
    .bind(change.to.as_str())
    .bind(from.as_str())
    .bind(change.by)
    .bind(change.reason)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    if change.to == OrderStatus::Cancelled {
        reservations::release(tx, checkout_id, &[ReservationState::Held, ReservationState::Committed]).await?;
    }
    let event_id = Uuid::now_v7();
    outbox::write(
        tx,
        NewEvent {
            id: event_id,
            routing_key: events::ORDER_STATUS_CHANGED,
            aggregate_id: change.order_id,
            relay_after: Duration::ZERO,
            body: &OrderStatusChanged {
                event_id,
                occurred_at: at,
                order_id: change.order_id,
                customer_id,
                status: change.to,
                previous_status: from,
                version,
                reason: change.reason.map(str::to_owned),
            },
        },
    )
    .await?;
    Ok(version)
}

fn status_of(row: &sqlx::postgres::PgRow) -> Result<OrderStatus, sqlx::Error> {
    row.get::<String, _>("status")
        .parse()
        .map_err(|e: String| sqlx::Error::Decode(e.into()))
}

/// The checkout that placed an order.
pub async fn checkout_of(db: impl PgExecutor<'_>, order_id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT checkout_id FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_optional(db)
        .await
}

/// The orders of these checkouts (those that placed one): (checkout, order, status).
pub async fn orders_of(
    db: impl PgExecutor<'_>,
    checkout_ids: &[Uuid],
) -> Result<Vec<(Uuid, Uuid, OrderStatus)>, sqlx::Error> {
    let rows = sqlx::query("SELECT checkout_id, id, status FROM orders WHERE checkout_id = ANY($1)")
        .bind(checkout_ids)
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|row| Ok((row.get("checkout_id"), row.get("id"), status_of(row)?)))
        .collect()
}

/// An order as operators list it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = Order)]
pub struct OrderRow {
    pub id: Uuid,
    pub checkout_id: Uuid,
    pub customer_id: Uuid,
    #[schema(value_type = contracts::OrderStatus)]
    pub status: String,
    pub version: i64,
    pub total: i64,
    pub currency: String,
    #[schema(value_type = contracts::events::Contact)]
    pub contact: serde_json::Value,
    #[schema(value_type = contracts::events::Delivery)]
    pub delivery: serde_json::Value,
    pub placed_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

/// Orders newest first, of one status or all, after the order `before` if given.
pub async fn list(
    db: &sqlx::PgPool,
    status: Option<OrderStatus>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<OrderRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE ($1::text IS NULL OR status = $1) \
           AND ($2::uuid IS NULL OR (placed_at, id) < (SELECT placed_at, id FROM orders WHERE id = $2)) \
         ORDER BY placed_at DESC, id DESC LIMIT $3"
    )))
    .bind(status.map(OrderStatus::as_str))
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}

const ORDER_COLUMNS: &str = "id, checkout_id, customer_id, status, version, total, currency::text AS currency, \
     contact, delivery, placed_at, updated_at";

/// One order, as operators see it in lists.
pub async fn list_one(db: &sqlx::PgPool, order_id: Uuid) -> Result<Option<OrderRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"
    )))
    .bind(order_id)
    .fetch_optional(db)
    .await
}

/// One order's lines.
pub async fn lines(db: &sqlx::PgPool, order_id: Uuid) -> Result<Vec<OrderLine>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT product_id, sku, name, unit_price, quantity FROM order_lines WHERE order_id = $1 ORDER BY name",
    )
    .bind(order_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| OrderLine {
            product_id: r.get("product_id"),
            sku: r.get("sku"),
            name: r.get("name"),
            unit_price: r.get("unit_price"),
            quantity: r.get("quantity"),
        })
        .collect())
}

/// Every status change of an order, oldest first.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = StatusChange)]
pub struct StatusChangeRow {
    pub version: i64,
    #[schema(value_type = contracts::OrderStatus)]
    pub status: String,
    #[schema(value_type = Option<contracts::OrderStatus>)]
    pub previous_status: Option<String>,
    pub changed_by: Option<Uuid>,
    pub reason: Option<String>,
    pub at: chrono::DateTime<Utc>,
}

pub async fn history(db: &sqlx::PgPool, order_id: Uuid) -> Result<Vec<StatusChangeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT version, status, previous_status, changed_by, reason, at FROM order_status_changes \
         WHERE order_id = $1 ORDER BY version",
    )
    .bind(order_id)
    .fetch_all(db)
    .await
}
