//! SQL for second factors, recovery codes and the challenges between a login's password and
//! its code.

use std::time::Duration;

use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::totp::Secret;

/// An account's second factor as stored.
pub struct Factor {
    pub secret: Secret,
    pub confirmed: bool,
    pub last_used_step: u64,
}

pub async fn factor(db: impl PgExecutor<'_>, customer_id: Uuid) -> sqlx::Result<Option<Factor>> {
    let row: Option<(Vec<u8>, bool, i64)> = sqlx::query_as(
        "SELECT secret, confirmed_at IS NOT NULL, last_used_step FROM second_factors WHERE customer_id = $1",
    )
    .bind(customer_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(secret, confirmed, step)| Factor {
        secret: Secret::from_bytes(secret),
        confirmed,
        last_used_step: u64::try_from(step).unwrap_or(0),
    }))
}

/// The account's factor, a pending one with `fresh` when it had none: asking twice gives the
/// same secret, so a page reloaded after its QR code was scanned still matches the app.
pub async fn pending_or_existing(db: impl PgExecutor<'_>, customer_id: Uuid, fresh: &Secret) -> sqlx::Result<Factor> {
    let (secret, confirmed, step): (Vec<u8>, bool, i64) = sqlx::query_as(
        "INSERT INTO second_factors (customer_id, secret) VALUES ($1, $2)
         ON CONFLICT (customer_id) DO UPDATE SET customer_id = EXCLUDED.customer_id
         RETURNING secret, confirmed_at IS NOT NULL, last_used_step",
    )
    .bind(customer_id)
    .bind(fresh.as_bytes())
    .fetch_one(db)
    .await?;
    Ok(Factor {
        secret: Secret::from_bytes(secret),
        confirmed,
        last_used_step: u64::try_from(step).unwrap_or(0),
    })
}

/// Records `step` as used (confirming a pending factor); false when a code of that step or a
/// later one was used meanwhile, by a request racing this one.
pub async fn use_step(db: impl PgExecutor<'_>, customer_id: Uuid, step: u64) -> sqlx::Result<bool> {
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    let updated = sqlx::query(
        "UPDATE second_factors SET last_used_step = $2, confirmed_at = COALESCE(confirmed_at, now())
         WHERE customer_id = $1 AND last_used_step < $2",
    )
    .bind(customer_id)
    .bind(step)
    .execute(db)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Enrols `secret` as confirmed (the operator from settings); true when it was not already.
pub async fn set_confirmed(db: impl PgExecutor<'_>, customer_id: Uuid, secret: &Secret) -> sqlx::Result<bool> {
    let changed = sqlx::query(
        "INSERT INTO second_factors (customer_id, secret, confirmed_at) VALUES ($1, $2, now())
         ON CONFLICT (customer_id) DO UPDATE SET secret = EXCLUDED.secret, confirmed_at = now(), last_used_step = 0
         WHERE second_factors.secret <> EXCLUDED.secret OR second_factors.confirmed_at IS NULL",
    )
    .bind(customer_id)
    .bind(secret.as_bytes())
    .execute(db)
    .await?;
    Ok(changed.rows_affected() == 1)
}

/// Replaces the account's recovery codes.
pub async fn replace_recovery_codes(
    conn: &mut PgConnection,
    customer_id: Uuid,
    hashes: &[Vec<u8>],
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE customer_id = $1")
        .bind(customer_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO recovery_codes (customer_id, code_hash) SELECT $1, unnest($2::bytea[])")
        .bind(customer_id)
        .bind(hashes)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Uses a recovery code; false when it is not one of the account's unused codes.
pub async fn use_recovery_code(db: impl PgExecutor<'_>, customer_id: Uuid, hash: &[u8]) -> sqlx::Result<bool> {
    let used = sqlx::query(
        "UPDATE recovery_codes SET used_at = now() WHERE customer_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(customer_id)
    .bind(hash)
    .execute(db)
    .await?;
    Ok(used.rows_affected() == 1)
}

pub async fn recovery_codes_left(db: impl PgExecutor<'_>, customer_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM recovery_codes WHERE customer_id = $1 AND used_at IS NULL")
        .bind(customer_id)
        .fetch_one(db)
        .await
}

/// Stores a challenge (by its hash) for `customer_id`, living `ttl`; expired ones go.
pub async fn new_challenge(
    conn: &mut PgConnection,
    token_hash: &[u8],
    customer_id: Uuid,
    ttl: Duration,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM second_factor_challenges WHERE expires_at <= now()")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO second_factor_challenges (token_hash, customer_id, expires_at)
         VALUES ($1, $2, now() + make_interval(secs => $3))",
    )
    .bind(token_hash)
    .bind(customer_id)
    .bind(ttl.as_secs_f64())
    .execute(conn)
    .await
    .map(|_| ())
}

/// The account of a live challenge that has seen fewer than `max_failures` wrong codes.
pub async fn challenge(db: impl PgExecutor<'_>, token_hash: &[u8], max_failures: i32) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "SELECT customer_id FROM second_factor_challenges
         WHERE token_hash = $1 AND expires_at > now() AND failures < $2",
    )
    .bind(token_hash)
    .bind(max_failures)
    .fetch_optional(db)
    .await
}

pub async fn challenge_failed(db: impl PgExecutor<'_>, token_hash: &[u8]) -> sqlx::Result<()> {
    sqlx::query("UPDATE second_factor_challenges SET failures = failures + 1 WHERE token_hash = $1")
        .bind(token_hash)
        .execute(db)
        .await
        .map(|_| ())
}

/// Ends a challenge once it has served; false when another request used it first.
pub async fn end_challenge(db: impl PgExecutor<'_>, token_hash: &[u8]) -> sqlx::Result<bool> {
    let ended = sqlx::query("DELETE FROM second_factor_challenges WHERE token_hash = $1")
        .bind(token_hash)
        .execute(db)
        .await?;
    Ok(ended.rows_affected() == 1)
}
