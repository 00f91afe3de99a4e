//! Refresh tokens: opaque, stored only as SHA-256 hashes, rotated on every use. A login
//! starts a family; presenting a token that was already used revokes its whole family,
//! since one of the two holders must be a thief.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A refresh token just issued; `token` is shown to its holder once and never stored.
pub struct IssuedRefreshToken {
    pub token: String,
    pub expires_in: u64,
}

/// The result of presenting a refresh token.
pub enum Rotation {
    /// Valid: it is now used, and `next` replaces it.
    Rotated {
        customer_id: Uuid,
        next: IssuedRefreshToken,
    },
    /// Unknown, expired or revoked.
    Invalid,
    /// Already used before: its family is now revoked.
    Reused { customer_id: Uuid },
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Issues a token in `family_id` (a new family at login).
pub async fn issue(
    conn: &mut PgConnection,
    customer_id: Uuid,
    family_id: Uuid,
    ttl: Duration,
) -> anyhow::Result<IssuedRefreshToken> {
    let token = new_token()?;
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, customer_id, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
    )
    .bind(Uuid::now_v7())
    .bind(family_id)
    .bind(customer_id)
    .bind(hash(&token))
    .bind(ttl.as_secs_f64())
    .execute(conn)
    .await?;
    Ok(IssuedRefreshToken {
        token,
        expires_in: ttl.as_secs(),
    })
}

/// Uses `token` once, issuing its successor in the same family.
pub async fn rotate(db: &PgPool, token: &str, ttl: Duration) -> anyhow::Result<Rotation> {
    let mut tx = db.begin().await?;
    let row: Option<(Uuid, Uuid, bool, bool, bool)> = sqlx::query_as(
        "SELECT family_id, customer_id, used_at IS NOT NULL, revoked_at IS NOT NULL, expires_at <= now()
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(hash(token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((family_id, customer_id, used, revoked, expired)) = row else {
        return Ok(Rotation::Invalid);
    };
    if revoked || expired {
        return Ok(Rotation::Invalid);
    }
    if used {
        revoke_family(&mut tx, family_id).await?;
        tx.commit().await?;
        return Ok(Rotation::Reused { customer_id });
    }
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1")
        .bind(hash(token))
        .execute(&mut *tx)
        .await?;
    let next = issue(&mut tx, customer_id, family_id, ttl).await?;
    tx.commit().await?;
    Ok(Rotation::Rotated { customer_id, next })
}

async fn revoke_family(conn: &mut PgConnection, family_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL")
        .bind(family_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Ends the session `token` belongs to (logout); unknown tokens are ignored.
pub async fn revoke(db: &PgPool, token: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now()
         WHERE revoked_at IS NULL
           AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)",
    )
    .bind(hash(token))
    .execute(db)
    .await
    .map(|_| ())
}

/// Ends every session of a customer (after a password reset).
pub async fn revoke_all(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE customer_id = $1 AND revoked_at IS NULL")
        .bind(customer_id)
        .execute(conn)
        .await
        .map(|_| ())
}
