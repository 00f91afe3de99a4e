//! Rate limiting of failed logins, per account and per client address, kept in the
//! database so every instance of customer counts the same attempts.

use std::net::IpAddr;

use sqlx::PgPool;

use crate::accounts::domain::Email;
use crate::config::LoginLimits;

/// The subjects a login attempt counts against, with their limits. Emails longer than any
/// account's (they match none) share one subject: PostgreSQL cannot index subjects that long.
pub fn subjects(email: &str, address: IpAddr, limits: &LoginLimits) -> [(String, i64); 2] {
    let account = if email.len() <= Email::MAX_LEN {
        format!("account:{email}")
    } else {
        "account:(longer than any email)".to_owned()
    };
    [
        (account, limits.per_account),
        (format!("address:{address}"), limits.per_address),
    ]
}

/// Seconds until a new attempt is allowed, when some subject is over its limit.
pub async fn retry_after(db: &PgPool, subjects: &[(String, i64)], limits: &LoginLimits) -> sqlx::Result<Option<u64>> {
    let mut wait: Option<f64> = None;
    for (subject, limit) in subjects {
        // The limit-th most recent failure in the window: once it ages out, one more try is allowed.
        let seconds: Option<f64> = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM (at + make_interval(secs => $3) - now()))::float8
             FROM login_failures
             WHERE subject = $1 AND at > now() - make_interval(secs => $3)
             ORDER BY at DESC OFFSET $2 - 1 LIMIT 1",
        )
        .bind(subject)
        .bind(*limit)
        .bind(limits.window.as_secs_f64())
        .fetch_optional(db)
        .await?;
        if let Some(seconds) = seconds {
            wait = Some(wait.map_or(seconds, |w| w.max(seconds)));
        }
    }
    Ok(wait.map(|s| s.ceil().max(1.0) as u64))
}

/// Counts a failed attempt against every subject, dropping failures older than the window.
pub async fn record_failure(db: &PgPool, subjects: &[(String, i64)], limits: &LoginLimits) -> sqlx::Result<()> {
    let names: Vec<&str> = subjects.iter().map(|(s, _)| s.as_str()).collect();
    sqlx::query("INSERT INTO login_failures (subject) SELECT unnest($1::text[])")
        .bind(&names)
        .execute(db)
        .await?;
    sqlx::query("DELETE FROM login_failures WHERE subject = ANY($1) AND at <= now() - make_interval(secs => $2)")
        .bind(&names)
        .bind(limits.window.as_secs_f64())
        .execute(db)
        .await?;
    Ok(())
}

/// Forgets an account's failures after a successful login.
pub async fn clear_account(db: &PgPool, subjects: &[(String, i64)]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM login_failures WHERE subject = $1")
        .bind(&subjects[0].0)
        .execute(db)
        .await
        .map(|_| ())
}
