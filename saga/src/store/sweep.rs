//! Instances nobody drives any more, one sweep at a time across processes, and how long the
//! oldest due job has waited.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::Error;

/// Whether this transaction is the one sweep running now (the others skip theirs).
pub(crate) async fn sweep_lock(tx: &mut PgConnection) -> Result<bool, Error> {
    let sweeping = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended('saga.rescue', 0))")
        .fetch_one(tx)
        .await?;
    Ok(sweeping)
}

/// Instances running or compensating, due, and leased by a worker whose lease has lapsed or
/// whose heartbeats stopped for `orphaned_after`, with no job of `queue` under their key
/// (instance, holder and the lease's end) yet.
pub(crate) async fn orphans(
    tx: &mut PgConnection,
    orphaned_after: Duration,
    queue: &str,
) -> Result<Vec<(Uuid, String)>, Error> {
    let orphans = sqlx::query_as(
        "SELECT i.id, key FROM saga.instances i, \
              LATERAL (SELECT i.id::text || ' ' || i.lease_owner || ' ' || \
                              extract(epoch FROM i.lease_until)::text AS key) k \
         WHERE i.state IN ('running', 'compensating') AND i.lease_owner IS NOT NULL \
           AND i.run_after <= now() \
           AND (i.lease_until < now() \
                OR NOT EXISTS (SELECT 1 FROM apalis.workers w \
                               WHERE w.id = i.lease_owner AND w.last_seen > now() - make_interval(secs => $1))) \
           AND NOT EXISTS (SELECT 1 FROM apalis.jobs j WHERE j.job_type = $2 AND j.idempotency_key = k.key)",
    )
    .bind(orphaned_after.as_secs_f64())
    .bind(queue)
    .fetch_all(tx)
    .await?;
    Ok(orphans)
}

/// How long the oldest due job of `queue` has been waiting, zero when none waits.
pub(crate) async fn oldest_due_age(pool: &PgPool, queue: &str) -> Result<Duration, Error> {
    let seconds: f64 = sqlx::query_scalar(
        "SELECT coalesce(extract(epoch FROM now() - min(run_at))::float8, 0) \
         FROM apalis.jobs WHERE job_type = $1 AND status = 'Pending' AND run_at <= now()",
    )
    .bind(queue)
    .fetch_one(pool)
    .await?;
    Ok(Duration::from_secs_f64(seconds.max(0.0)))
}
