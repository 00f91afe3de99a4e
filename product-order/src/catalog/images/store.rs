//! SQL for uploaded product images.

use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// An image as served.
#[derive(Debug, sqlx::FromRow)]
pub struct StoredImage {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Makes `sha256` the product's image, stored unless the product had it already, and deletes
/// the product's other images. An uploaded image replaces an image address.
pub async fn attach(
    conn: &mut PgConnection,
    product_id: Uuid,
    sha256: &str,
    content_type: &str,
    bytes: &[u8],
    operator: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO product_images (product_id, sha256, content_type, bytes, uploaded_by)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (product_id, sha256) DO NOTHING",
    )
    .bind(product_id)
    .bind(sha256)
    .bind(content_type)
    .bind(bytes)
    .bind(operator)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE products SET image_sha256 = $2, image_url = NULL, updated_at = now() WHERE id = $1")
        .bind(product_id)
        .bind(sha256)
        .execute(&mut *conn)
        .await?;
    delete_others(conn, product_id, Some(sha256)).await
}

/// Takes the uploaded image off the product and deletes it.
pub async fn detach(conn: &mut PgConnection, product_id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE products SET image_sha256 = NULL, updated_at = now() WHERE id = $1 AND image_sha256 IS NOT NULL",
    )
    .bind(product_id)
    .execute(&mut *conn)
    .await?;
    delete_others(conn, product_id, None).await
}

/// Deletes the product's images but `keep`.
async fn delete_others(conn: &mut PgConnection, product_id: Uuid, keep: Option<&str>) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM product_images WHERE product_id = $1 AND sha256 IS DISTINCT FROM $2")
        .bind(product_id)
        .bind(keep)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn find(db: impl PgExecutor<'_>, product_id: Uuid, sha256: &str) -> sqlx::Result<Option<StoredImage>> {
    sqlx::query_as("SELECT content_type, bytes FROM product_images WHERE product_id = $1 AND sha256 = $2")
        .bind(product_id)
        .bind(sha256)
        .fetch_optional(db)
        .await
}
