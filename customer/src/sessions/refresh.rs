//! Refresh tokens: opaque, stored only as SHA-256 hashes, rotated on every use. A login
//! starts a family (a session); presenting a token that was already used ends its whole
//! family, since one of the two holders must be a thief. Each token lives `idle` after its
//! issue, and none past the session's absolute lifetime: refreshing never extends a session
//! beyond `max_age` after its login. Ending a session (`end`) also writes it down for
//! `announce`, so its access tokens stop working everywhere too.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{new_opaque_token, opaque_hash};

/// How long a session's tokens live.
#[derive(Debug, Clone, Copy)]
pub struct Lifetime {
    /// Each access token, after its issue (`CUSTOMER_ACCESS_TOKEN_TTL_SECS`).
    pub access: Duration,
    /// Each refresh token, after its issue (`CUSTOMER_REFRESH_TOKEN_TTL_SECS`).
    pub idle: Duration,
    /// The whole session, after its login (`CUSTOMER_SESSION_MAX_AGE_SECS`).
    pub max_age: Duration,
}

/// A refresh token just issued; `token` is shown to its holder once and never stored.
pub struct IssuedRefreshToken {
    pub token: String,
    pub expires_in: u64,
    /// Its family: the session, named by the `sid` claim of the access tokens issued with it.
    pub session: Uuid,
    /// Whether the session's login showed a second factor.
    pub second_factor: bool,
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
    /// Already used before: its family is now ended.
    Reused { customer_id: Uuid },
}

/// How a login proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    Password,
    PasswordAndSecondFactor,
}

/// Starts a session for `customer_id` (at login) with its first token.
pub async fn start(
    conn: &mut PgConnection,
    customer_id: Uuid,
    proof: Proof,
    lifetime: Lifetime,
) -> anyhow::Result<IssuedRefreshToken> {
    let second_factor = proof == Proof::PasswordAndSecondFactor;
    issue(conn, customer_id, Uuid::now_v7(), None, second_factor, lifetime).await
}

/// How the login of session `family_id` proved who it is.
pub async fn proof_of(conn: &mut PgConnection, family_id: Uuid) -> sqlx::Result<Proof> {
    let second_factor: Option<bool> =
        sqlx::query_scalar("SELECT bool_or(second_factor) FROM refresh_tokens WHERE family_id = $1")
            .bind(family_id)
            .fetch_one(conn)
            .await?;
    Ok(if second_factor == Some(true) {
        Proof::PasswordAndSecondFactor
    } else {
        Proof::Password
    })
}

/// Issues a token in `family_id`, whose session began at `started` (now when None).
async fn issue(
    conn: &mut PgConnection,
    customer_id: Uuid,
    family_id: Uuid,
    started: Option<DateTime<Utc>>,
    second_factor: bool,
    lifetime: Lifetime,
) -> anyhow::Result<IssuedRefreshToken> {
    let token = new_opaque_token()?;
    let expires_in: f64 = sqlx::query_scalar(
        "INSERT INTO refresh_tokens (id, family_id, customer_id, token_hash, session_started_at, second_factor, expires_at)
         VALUES ($1, $2, $3, $4, COALESCE($5, now()), $8,
                 LEAST(now() + make_interval(secs => $6), COALESCE($5, now()) + make_interval(secs => $7)))
         RETURNING EXTRACT(EPOCH FROM expires_at - now())::float8",
    )
    .bind(Uuid::now_v7())
    .bind(family_id)
    .bind(customer_id)
    .bind(opaque_hash(&token))
    .bind(started)
    .bind(lifetime.idle.as_secs_f64())
    .bind(lifetime.max_age.as_secs_f64())
    .bind(second_factor)
    .fetch_one(conn)
    .await?;
    Ok(IssuedRefreshToken {
        token,
        expires_in: expires_in.max(0.0) as u64,
        session: family_id,
        second_factor,
    })
}

/// A stored refresh token, as `rotate` reads it.
#[derive(sqlx::FromRow)]
struct Presented {
    family_id: Uuid,
    customer_id: Uuid,
    session_started_at: DateTime<Utc>,
    second_factor: bool,
    used: bool,
    revoked: bool,
    expired: bool,
}

/// Uses `token` once, issuing its successor in the same family.
pub async fn rotate(db: &PgPool, token: &str, lifetime: Lifetime) -> anyhow::Result<Rotation> {
    let mut tx = db.begin().await?;
    let presented: Option<Presented> = sqlx::query_as(
        "SELECT family_id, customer_id, session_started_at, second_factor,
                used_at IS NOT NULL AS used, revoked_at IS NOT NULL AS revoked,
                expires_at <= now() OR session_started_at + make_interval(secs => $2) <= now() AS expired
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(opaque_hash(token))
    .bind(lifetime.max_age.as_secs_f64())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(Presented {
        family_id,
        customer_id,
        session_started_at: started,
        second_factor,
        used,
        revoked,
        expired,
    }) = presented
    else {
        return Ok(Rotation::Invalid);
    };
    if revoked || expired {
        return Ok(Rotation::Invalid);
    }
    if used {
        end(&mut tx, Ending::Session(family_id), lifetime).await?;
        tx.commit().await?;
        return Ok(Rotation::Reused { customer_id });
    }
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1")
        .bind(opaque_hash(token))
        .execute(&mut *tx)
        .await?;
    let next = issue(&mut tx, customer_id, family_id, Some(started), second_factor, lifetime).await?;
    tx.commit().await?;
    Ok(Rotation::Rotated { customer_id, next })
}

/// Which sessions to end.
pub enum Ending<'a> {
    /// The session a refresh token belongs to (logout); an unknown token ends nothing.
    OfToken(&'a str),
    /// One session (its refresh token was used twice).
    Session(Uuid),
    /// Every session of a customer (log out everywhere, a password change).
    OfCustomer(Uuid),
}

/// Ends sessions in the caller's transaction: their refresh tokens stop working, and those
/// whose access tokens may still be alive are written down for `announce` to tell every
/// service, which then refuse those tokens. Answers how many were written down.
pub async fn end(conn: &mut PgConnection, which: Ending<'_>, lifetime: Lifetime) -> sqlx::Result<u64> {
    let sessions = match which {
        Ending::OfToken(_) => "SELECT family_id FROM refresh_tokens WHERE token_hash = $1",
        Ending::Session(_) => "SELECT $1::uuid",
        Ending::OfCustomer(_) => "SELECT family_id FROM refresh_tokens WHERE customer_id = $1",
    };
    // An access token is minted just after its refresh token is stored: a minute's margin
    // covers the gap.
    let statement = format!(
        "WITH ended AS (
             UPDATE refresh_tokens SET revoked_at = now()
             WHERE revoked_at IS NULL AND family_id IN ({sessions})
             RETURNING family_id, issued_at)
         INSERT INTO ended_sessions (family_id, tokens_expire_at)
         SELECT family_id, max(issued_at) + make_interval(secs => $2 + 60) FROM ended GROUP BY family_id
         HAVING max(issued_at) + make_interval(secs => $2 + 60) > now()
         ON CONFLICT (family_id) DO NOTHING"
    );
    // Built from the fixed texts above only.
    let query = sqlx::query(sqlx::AssertSqlSafe(statement));
    let query = match which {
        Ending::OfToken(token) => query.bind(opaque_hash(token)),
        Ending::Session(id) | Ending::OfCustomer(id) => query.bind(id),
    };
    let ended = query.bind(lifetime.access.as_secs_f64()).execute(conn).await?;
    Ok(ended.rows_affected())
}
