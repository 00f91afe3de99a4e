//! SQL for the order read model: applying events (each once, never going back to an older
//! status; the caller owns the transaction) and reading a customer's orders.

use chrono::{DateTime, Utc};
use contracts::events::{OrderPlaced, OrderStatusChanged};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// Seen before: nothing changed.
    Duplicate,
    /// Older than what is stored: recorded in the history, the status kept.
    Stale,
}

/// Why an event could not be applied yet.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("order {0} is not known yet (its order.placed has not arrived)")]
    OrderNotYetKnown(Uuid),
    #[error("order {order} has change {stored} applied; change {} must come before this change {event}", stored + 1)]
    EarlierChangeMissing { order: Uuid, stored: i64, event: i64 },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Marks the event applied (with when it happened, for the event lag); false when it already was.
async fn first_time(
    tx: &mut PgConnection,
    event_id: Uuid,
    kind: &str,
    occurred_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO applied_events (event_id, kind, occurred_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(event_id)
    .bind(kind)
    .bind(occurred_at)
    .execute(tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

pub async fn apply_placed(tx: &mut PgConnection, event: &OrderPlaced) -> Result<Applied, ApplyError> {
    if !first_time(tx, event.event_id, contracts::events::ORDER_PLACED, event.occurred_at).await? {
        return Ok(Applied::Duplicate);
    }
    // A status change may have been applied first only if placed had been seen: the order
    // row is new here, or (placed replayed under a new id) left as it is.
    let inserted = sqlx::query(
        "INSERT INTO orders (id, customer_id, status, version, total, currency, lines, contact, delivery, placed_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT (id) DO NOTHING",
    )
    .bind(event.order_id)
    .bind(event.customer_id)
    .bind(event.status.as_str())
    .bind(event.version)
    .bind(event.total)
    .bind(&event.currency)
    .bind(Json(&event.lines))
    .bind(Json(&event.contact))
    .bind(Json(&event.delivery))
    .bind(event.occurred_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO order_status_history (order_id, version, status, at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(event.order_id)
    .bind(event.version)
    .bind(event.status.as_str())
    .bind(event.occurred_at)
    .execute(&mut *tx)
    .await?;
    Ok(if inserted.rows_affected() == 1 {
        Applied::Applied
    } else {
        Applied::Duplicate
    })
}

pub async fn apply_status_changed(tx: &mut PgConnection, event: &OrderStatusChanged) -> Result<Applied, ApplyError> {
    let Some(stored) = sqlx::query_scalar::<_, i64>("SELECT version FROM orders WHERE id = $1 FOR UPDATE")
        .bind(event.order_id)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Err(ApplyError::OrderNotYetKnown(event.order_id));
    };
    // An order's changes apply in version order: one that overtook an earlier change (sent
    // apart, or handed to another worker) waits for it, as a change waits for its order.
    if event.version > stored + 1 {
        return Err(ApplyError::EarlierChangeMissing {
            order: event.order_id,
            stored,
            event: event.version,
        });
    }
    if !first_time(
        tx,
        event.event_id,
        contracts::events::ORDER_STATUS_CHANGED,
        event.occurred_at,
    )
    .await?
    {
        return Ok(Applied::Duplicate);
    }
    sqlx::query(
        "INSERT INTO order_status_history (order_id, version, status, reason, at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT DO NOTHING",
    )
    .bind(event.order_id)
    .bind(event.version)
    .bind(event.status.as_str())
    .bind(&event.reason)
    .bind(event.occurred_at)
    .execute(&mut *tx)
    .await?;
    let outcome = if event.version > stored {
        sqlx::query("UPDATE orders SET status = $2, version = $3, updated_at = $4 WHERE id = $1")
            .bind(event.order_id)
            .bind(event.status.as_str())
            .bind(event.version)
            .bind(event.occurred_at)
            .execute(&mut *tx)
            .await?;
        Applied::Applied
    } else {
        Applied::Stale
    };
    Ok(outcome)
}

/// An order in the customer's list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderSummary {
    pub id: Uuid,
    pub status: String,
    pub total: i64,
    pub currency: String,
    pub item_count: i64,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A page of the customer's orders, newest first, after the order `before` if given.
pub async fn list(
    db: &PgPool,
    customer_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<OrderSummary>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, status, total, currency, placed_at, updated_at, \
                (SELECT coalesce(sum((l->>'quantity')::bigint), 0)::bigint FROM jsonb_array_elements(lines) l) AS item_count \
         FROM orders WHERE customer_id = $1 \
           AND ($2::uuid IS NULL OR (placed_at, id) < (SELECT placed_at, id FROM orders WHERE id = $2 AND customer_id = $1)) \
         ORDER BY placed_at DESC, id DESC LIMIT $3",
    )
    .bind(customer_id)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| OrderSummary {
            id: r.get("id"),
            status: r.get("status"),
            total: r.get("total"),
            currency: r.get::<String, _>("currency"),
            item_count: r.get("item_count"),
            placed_at: r.get("placed_at"),
            updated_at: r.get("updated_at"),
        })
        .collect())
}

/// One status the order went through.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusAt {
    pub status: String,
    pub at: DateTime<Utc>,
    pub reason: Option<String>,
}

/// One order, whole.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderDetail {
    pub id: Uuid,
    pub status: String,
    pub total: i64,
    pub currency: String,
    pub lines: Value,
    pub contact: Value,
    pub delivery: Value,
    pub placed_at: DateTime<Utc>,
    pub status_history: Vec<StatusAt>,
}

/// The customer's order; `None` for an unknown order or another customer's.
pub async fn get(db: &PgPool, customer_id: Uuid, order_id: Uuid) -> Result<Option<OrderDetail>, sqlx::Error> {
    let Some(row) = sqlx::query(
        "SELECT id, status, total, currency, lines, contact, delivery, placed_at FROM orders \
         WHERE id = $1 AND customer_id = $2",
    )
    .bind(order_id)
    .bind(customer_id)
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    let status_history =
        sqlx::query("SELECT status, at, reason FROM order_status_history WHERE order_id = $1 ORDER BY version")
            .bind(order_id)
            .fetch_all(db)
            .await?
            .iter()
            .map(|h| StatusAt {
                status: h.get("status"),
                at: h.get("at"),
                reason: h.get("reason"),
            })
            .collect();
    Ok(Some(OrderDetail {
        id: row.get("id"),
        status: row.get("status"),
        total: row.get("total"),
        currency: row.get::<String, _>("currency"),
        lines: row.get("lines"),
        contact: row.get("contact"),
        delivery: row.get("delivery"),
        placed_at: row.get("placed_at"),
        status_history,
    }))
}
