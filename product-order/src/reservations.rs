//! Stock reservations: what a checkout takes from stock, row by row, as `held` while its saga
//! runs, `committed` once its order is placed, and `released` when it is given back (the saga
//! undone, the order cancelled, or an operator's repair). Every statement on
//! `stock_reservations` that moves stock is here, with the stock it moves.

use contracts::events::OrderLine;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

/// The states of a reservation that hold stock, as stored (`released` holds none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationState {
    /// Taken from stock for a checkout whose saga runs.
    Held,
    /// Its order is placed: the stock ships with it.
    Committed,
}

impl ReservationState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Committed => "committed",
        }
    }
}

/// Takes every line's quantity from stock for `checkout_id`, all or none, never below zero.
/// `Err` names each line that is short (out of stock, fewer left, no longer sold), nothing
/// taken. Rows are locked in product order by every checkout, so two never deadlock. A
/// repeat (an earlier attempt of the same checkout holds the stock) takes nothing more.
pub async fn reserve(
    tx: &mut PgConnection,
    checkout_id: Uuid,
    lines: &[OrderLine],
) -> sqlx::Result<Result<(), Vec<String>>> {
    let mut lines: Vec<&OrderLine> = lines.iter().collect();
    lines.sort_by_key(|l| l.product_id);
    let mut taken = Vec::new();
    let mut shortages = Vec::new();
    for line in &lines {
        let took = sqlx::query(
            "UPDATE products SET stock = stock - $2, updated_at = now() \
             WHERE id = $1 AND active AND stock >= $2 RETURNING stock",
        )
        .bind(line.product_id)
        .bind(line.quantity)
        .fetch_optional(&mut *tx)
        .await?;
        if took.is_some() {
            taken.push(*line);
            continue;
        }
        let row = sqlx::query("SELECT stock, active FROM products WHERE id = $1")
            .bind(line.product_id)
            .fetch_optional(&mut *tx)
            .await?;
        shortages.push(match row {
            Some(row) if row.get::<bool, _>("active") => match row.get::<i32, _>("stock") {
                0 => format!("{} is out of stock.", line.name),
                left => format!("Only {left} of {} left (you asked for {}).", line.name, line.quantity),
            },
            _ => format!("{} is no longer for sale.", line.name),
        });
    }
    if !shortages.is_empty() {
        // A checkout whose stock an earlier attempt holds is not short of it.
        if holds(tx, checkout_id).await? {
            give_back(tx, &taken).await?;
            return Ok(Ok(()));
        }
        // The caller's transaction is rolled back: nothing stays taken.
        return Ok(Err(shortages));
    }
    // A line held already by an earlier attempt of this checkout keeps its reservation, and
    // what this attempt took for it goes back; a released one is held again.
    let held: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO stock_reservations (checkout_id, product_id, quantity, state) \
         SELECT $1, * , 'held' FROM UNNEST($2::uuid[], $3::int[]) \
         ON CONFLICT (checkout_id, product_id) DO UPDATE \
         SET quantity = EXCLUDED.quantity, state = 'held', updated_at = now() \
         WHERE stock_reservations.state = 'released' \
         RETURNING product_id",
    )
    .bind(checkout_id)
    .bind(lines.iter().map(|l| l.product_id).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.quantity).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    if held.len() < lines.len() {
        taken.retain(|line| !held.contains(&line.product_id));
        give_back(tx, &taken).await?;
    }
    Ok(Ok(()))
}

/// Puts back stock an attempt took (its rows are locked by it already).
async fn give_back(tx: &mut PgConnection, lines: &[&OrderLine]) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE products p SET stock = p.stock + l.quantity, updated_at = now() \
         FROM UNNEST($1::uuid[], $2::int[]) AS l(id, quantity) WHERE p.id = l.id",
    )
    .bind(lines.iter().map(|l| l.product_id).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.quantity).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Whether the checkout holds (or has committed) stock.
pub async fn holds(tx: &mut PgConnection, checkout_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM stock_reservations WHERE checkout_id = $1 AND state <> 'released')",
    )
    .bind(checkout_id)
    .fetch_one(&mut *tx)
    .await
}

/// Whether the checkout still holds stock its order has not committed.
pub async fn holding(tx: &mut PgConnection, checkout_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM stock_reservations WHERE checkout_id = $1 AND state = 'held')")
        .bind(checkout_id)
        .fetch_one(&mut *tx)
        .await
}

/// The checkout's held stock ships with its order, placed in this transaction.
pub async fn commit(tx: &mut PgConnection, checkout_id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE stock_reservations SET state = 'committed', updated_at = now() WHERE checkout_id = $1 AND state = 'held'",
    )
    .bind(checkout_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Gives back the stock a checkout holds in the given states. Safe to repeat.
pub async fn release(tx: &mut PgConnection, checkout_id: Uuid, states: &[ReservationState]) -> sqlx::Result<u64> {
    let states: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
    let released = sqlx::query(
        "WITH released AS ( \
             UPDATE stock_reservations SET state = 'released', updated_at = now() \
             WHERE checkout_id = $1 AND state = ANY($2) RETURNING product_id, quantity) \
         UPDATE products p SET stock = p.stock + r.quantity, updated_at = now() \
         FROM released r WHERE p.id = r.product_id",
    )
    .bind(checkout_id)
    .bind(&states)
    .execute(tx)
    .await?;
    Ok(released.rows_affected())
}
