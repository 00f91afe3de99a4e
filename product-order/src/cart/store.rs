//! SQL for carts.

use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// A cart line with the product's current state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CartLine {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    pub price: i64,
    pub currency: String,
    pub stock: i32,
    pub active: bool,
    pub image_url: Option<String>,
    pub quantity: i32,
    /// The checkout that took this line as it is, if one did.
    pub checkout_id: Option<Uuid>,
}

pub async fn lines(db: impl PgExecutor<'_>, owner: &str) -> sqlx::Result<Vec<CartLine>> {
    sqlx::query_as(
        "SELECT c.product_id, p.sku, p.name, p.price, p.currency, p.stock, p.active, p.image_url, c.quantity,
                c.checkout_id
         FROM cart_items c JOIN products p ON p.id = c.product_id
         WHERE c.owner = $1 ORDER BY c.added_at, c.product_id",
    )
    .bind(owner)
    .fetch_all(db)
    .await
}

/// Sets a line's quantity; a line a checkout had taken is the shopper's again (it changed
/// after the checkout's snapshot, so placing that order leaves it in the cart).
pub async fn set_quantity(conn: &mut PgConnection, owner: &str, product_id: Uuid, quantity: i32) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO cart_items (owner, product_id, quantity) VALUES ($1, $2, $3)
         ON CONFLICT (owner, product_id) DO UPDATE
         SET quantity = EXCLUDED.quantity, updated_at = now(), checkout_id = NULL",
    )
    .bind(owner)
    .bind(product_id)
    .bind(quantity)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn remove(db: impl PgExecutor<'_>, owner: &str, product_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM cart_items WHERE owner = $1 AND product_id = $2")
        .bind(owner)
        .bind(product_id)
        .execute(db)
        .await
        .map(|_| ())
}

/// Marks every line of the cart as taken, as it is, by `checkout_id` (in the transaction that
/// took its snapshot, the cart locked).
pub async fn take_for_checkout(conn: &mut PgConnection, owner: &str, checkout_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE cart_items SET checkout_id = $2 WHERE owner = $1")
        .bind(owner)
        .bind(checkout_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Removes the lines `checkout_id` took and nobody changed since.
pub async fn remove_taken(conn: &mut PgConnection, owner: &str, checkout_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM cart_items WHERE owner = $1 AND checkout_id = $2")
        .bind(owner)
        .bind(checkout_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Serializes changes to one cart (two tabs adding at once) until the transaction ends.
pub async fn lock(conn: &mut PgConnection, owner: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(owner)
        .execute(conn)
        .await
        .map(|_| ())
}
