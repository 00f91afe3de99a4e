//! Refresh tokens: opaque, stored only as SHA-256 hashes, rotated on every use. A login
//! starts a family (a session); presenting a token that was already used revokes its whole
//! family, since one of the two holders must be a thief. Each token lives `idle` after its
//! issue, and none past the session's absolute lifetime: refreshing never extends a session
//! beyond `max_age` after its login.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// How long a session's refresh tokens live.
#[derive(Debug, Clone, Copy)]
pub struct Lifetime {
    /// Each token, after its issue (`CUSTOMER_REFRESH_TOKEN_TTL_SECS`).
    pub idle: Duration,
    /// The whole session, after its login (`CUSTOMER_SESSION_MAX_AGE_SECS`).
    pub max_age: Duration,
}

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

/// Starts a session for `customer_id` (at login) with its first token.
pub async fn start(
    conn: &mut PgConnection,
    customer_id: Uuid,
    lifetime: Lifetime,
) -> anyhow::Result<IssuedRefreshToken> {
    issue(conn, customer_id, Uuid::now_v7(), None, lifetime).await
}

/// Issues a token in `family_id`, whose session began at `started` (now when None).
async fn issue(
    conn: &mut PgConnection,
    customer_id: Uuid,
    family_id: Uuid,
    started: Option<DateTime<Utc>>,
    lifetime: Lifetime,
) -> anyhow::Result<IssuedRefreshToken> {
    let token = new_token()?;
    let expires_in: f64 = sqlx::query_scalar(
        "INSERT INTO refresh_tokens (id, family_id, customer_id, token_hash, session_started_at, expires_at)
         VALUES ($1, $2, $3, $4, COALESCE($5, now()),
                 LEAST(now() + make_interval(secs => $6), COALESCE($5, now()) + make_interval(secs => $7)))
         RETURNING EXTRACT(EPOCH FROM expires_at - now())::float8",
    )
    .bind(Uuid::now_v7())
    .bind(family_id)
    .bind(customer_id)
    .bind(hash(&token))
    .bind(started)
    .bind(lifetime.idle.as_secs_f64())
    .bind(lifetime.max_age.as_secs_f64())
    .fetch_one(conn)
    .await?;
    Ok(IssuedRefreshToken {
        token,
        expires_in: expires_in.max(0.0) as u64,
    })
}

/// Uses `token` once, issuing its successor in the same family.
pub async fn rotate(db: &PgPool, token: &str, lifetime: Lifetime) -> anyhow::Result<Rotation> {
    let mut tx = db.begin().await?;
    let row: Option<(Uuid, Uuid, DateTime<Utc>, bool, bool, bool)> = sqlx::query_as(
        "SELECT family_id, customer_id, session_started_at, used_at IS NOT NULL, revoked_at IS NOT NULL,
                expires_at <= now() OR session_started_at + make_interval(secs => $2) <= now()
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(hash(token))
    .bind(lifetime.max_age.as_secs_f64())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((family_id, customer_id, started, used, revoked, expired)) = row else {
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
    let next = issue(&mut tx, customer_id, family_id, Some(started), lifetime).await?;
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
