//! Driving an instance: its start, the claim of its lease, the fence of each attempt, and the
//! one statement that records each move and the attempts that led to it.

use std::time::Duration;

use saga_core::{AttemptOutcome, Position};
use serde_json::Value;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::position_of;
use crate::error::Error;

/// A new instance's row.
pub(crate) struct NewInstanceRow<'a> {
    pub id: Uuid,
    pub saga: &'static str,
    pub input: &'a Value,
    pub owner: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub request_hash: Option<&'a str>,
    pub search_keys: Vec<String>,
    /// The worker the instance is handed to at its start, leased to it from the start.
    pub lease_owner: Option<&'a str>,
    pub lease: Duration,
}

/// Writes a new instance, running at its first step; false when its owner used its
/// idempotency key before (nothing is written then).
pub(crate) async fn insert_instance(tx: &mut PgConnection, row: &NewInstanceRow<'_>) -> Result<bool, Error> {
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO saga.instances \
           (id, saga, state, step, phase, attempts, input, owner, idempotency_key, request_hash, search_keys, \
            lease_owner, lease_until) \
         VALUES ($1, $2, 'running', 0, 'forward', 1, $3, $4, $5, $6, $7, \
                 $8, CASE WHEN $8 IS NOT NULL THEN now() + make_interval(secs => $9) END) \
         ON CONFLICT (saga, owner, idempotency_key) DO NOTHING \
         RETURNING id",
    )
    .bind(row.id)
    .bind(row.saga)
    .bind(row.input)
    .bind(row.owner)
    .bind(row.idempotency_key)
    .bind(row.request_hash)
    .bind(&row.search_keys)
    .bind(row.lease_owner)
    .bind(row.lease.as_secs_f64())
    .fetch_optional(&mut *tx)
    .await?;
    Ok(inserted.is_some())
}

/// The instance `owner` started under `key`, with the fingerprint recorded with it.
pub(crate) async fn find_by_key(
    tx: &mut PgConnection,
    saga: &str,
    owner: &str,
    key: Option<&str>,
) -> Result<Option<(Uuid, Option<String>)>, Error> {
    let row = sqlx::query(
        "SELECT id, request_hash FROM saga.instances WHERE saga = $1 AND owner = $2 AND idempotency_key = $3",
    )
    .bind(saga)
    .bind(owner)
    .bind(key)
    .fetch_optional(tx)
    .await?;
    Ok(row.map(|r| (r.get("id"), r.get("request_hash"))))
}

/// Marks where a chain run at an instance's start can be undone.
pub(crate) async fn savepoint_at_start(tx: &mut PgConnection) -> Result<(), Error> {
    sqlx::raw_sql("SAVEPOINT saga_start").execute(&mut *tx).await?;
    Ok(())
}

/// Undoes what a chain run at an instance's start wrote.
pub(crate) async fn roll_back_to_start(tx: &mut PgConnection) -> Result<(), Error> {
    sqlx::raw_sql("ROLLBACK TO SAVEPOINT saga_start")
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// An instance a claim took.
pub(crate) struct Claimed {
    pub saga: String,
    pub position: Position,
    pub input: Value,
    /// The attempt of the step about to run that a stopped worker left open.
    pub abandoned_attempt: Option<i64>,
}

/// Takes the lease on a runnable instance whose lease is free, expired, or held by another
/// worker whose heartbeat stopped for `orphaned_after`, for `lease`.
///
/// A live lease is never claimed again, not even by the worker holding it: two jobs of one
/// worker (a sweep's and a re-queued one) would otherwise both drive the instance under one
/// name, and the fence, which knows workers by name, could not tell them apart. The holder
/// goes on with the claim it has instead (`run::Next::Continue`).
///
/// Attempts still marked running belong to a worker that stopped before recording an
/// outcome, or that still runs but let its lease lapse (stalled past the step's timeout and
/// margin; its fence will fail): their outcome is unknown until the step's own check has said
/// whether they took effect. The claim marks them, says which of the two it was, and names the
/// one of the step about to run.
pub(crate) async fn claim(
    tx: &mut PgConnection,
    id: Uuid,
    worker: &str,
    lease: Duration,
    orphaned_after: Duration,
) -> Result<Option<Claimed>, Error> {
    let row = sqlx::query(
        "WITH claimed AS ( \
             UPDATE saga.instances SET lease_owner = $2, lease_until = now() + make_interval(secs => $3), \
                    updated_at = now() \
             WHERE id = $1 AND state IN ('running', 'compensating') \
               AND run_after <= now() + interval '1 second' \
               AND (lease_owner IS NULL OR lease_until < now() \
                    OR (lease_owner <> $2 \
                        AND NOT EXISTS (SELECT 1 FROM apalis.workers w \
                                        WHERE w.id = lease_owner AND w.last_seen > now() - make_interval(secs => $4)))) \
             RETURNING saga, state, step, phase, attempts, failure, public_failure, input), \
         abandoned AS ( \
             UPDATE saga.attempts SET outcome = 'abandoned', ended_at = now(), \
                    error = 'outcome unknown: worker ' || worker || \
                            CASE WHEN EXISTS (SELECT 1 FROM apalis.workers w WHERE w.id = worker \
                                              AND w.last_seen > now() - make_interval(secs => $4)) \
                                 THEN ' let its lease lapse' ELSE ' stopped' END || \
                            ' before recording an outcome' \
             WHERE instance_id = $1 AND outcome = 'running' AND EXISTS (SELECT 1 FROM claimed) \
             RETURNING id, step, phase, attempt) \
         SELECT c.*, (SELECT a.id FROM abandoned a \
                      WHERE a.step = c.step AND a.phase = c.phase AND a.attempt = c.attempts \
                      LIMIT 1) AS abandoned_attempt \
         FROM claimed c",
    )
    .bind(id)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .bind(orphaned_after.as_secs_f64())
    .fetch_optional(&mut *tx)
    .await?;
    row.map(|row| {
        Ok(Claimed {
            position: position_of(&row)?,
            saga: row.get("saga"),
            input: row.get("input"),
            abandoned_attempt: row.get("abandoned_attempt"),
        })
    })
    .transpose()
}

/// When to look at an instance again that is runnable but leased (seconds since the epoch):
/// when its lease lapses, or, held by another worker, once that worker would count as dead
/// if its heartbeat stopped now (`after` from now), whichever comes first. None when it is
/// finished, not due, or free.
pub(crate) async fn claimable_at(
    tx: &mut PgConnection,
    id: Uuid,
    worker: &str,
    after: Duration,
) -> Result<Option<f64>, Error> {
    let look_again_at = sqlx::query_scalar(
        "SELECT extract(epoch FROM CASE WHEN lease_owner = $2 THEN lease_until \
                                        ELSE least(lease_until, now() + make_interval(secs => $3)) END)::float8 \
         FROM saga.instances \
         WHERE id = $1 AND state IN ('running', 'compensating') \
           AND run_after <= now() + interval '1 second' AND lease_owner IS NOT NULL",
    )
    .bind(id)
    .bind(worker)
    .bind(after.as_secs_f64())
    .fetch_optional(&mut *tx)
    .await?;
    Ok(look_again_at)
}

/// Records the attempt at `position` as running under `worker`; answers its id.
pub(crate) async fn open_attempt(
    tx: &mut PgConnection,
    id: Uuid,
    position: &Position,
    step_name: &str,
    worker: &str,
) -> Result<i64, Error> {
    let attempt_id = sqlx::query_scalar(
        "INSERT INTO saga.attempts (instance_id, step, step_name, phase, attempt, worker, outcome) \
         VALUES ($1, $2, $3, $4, $5, $6, 'running') RETURNING id",
    )
    .bind(id)
    .bind(position.step as i32)
    .bind(step_name)
    .bind(position.phase.as_str())
    .bind(position.attempts as i32)
    .bind(worker)
    .fetch_one(&mut *tx)
    .await?;
    Ok(attempt_id)
}

/// Records the verdict on an abandoned attempt: its outcome, and how it was learnt.
pub(crate) async fn decide_attempt(
    tx: &mut PgConnection,
    attempt_id: i64,
    outcome: AttemptOutcome,
    note: &str,
) -> Result<(), Error> {
    sqlx::query("UPDATE saga.attempts SET outcome = $3, error = error || '; ' || $2 WHERE id = $1")
        .bind(attempt_id)
        .bind(note)
        .bind(outcome.as_str())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Locks the instance row and says whether it still stands at `position` under `worker`'s
/// lease.
pub(crate) async fn fence(tx: &mut PgConnection, id: Uuid, worker: &str, position: &Position) -> Result<bool, Error> {
    let holds: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM saga.instances \
         WHERE id = $1 AND lease_owner = $2 AND step = $3 AND phase = $4 AND attempts = $5 \
           AND state IN ('running', 'compensating') \
         FOR UPDATE",
    )
    .bind(id)
    .bind(worker)
    .bind(position.step as i32)
    .bind(position.phase.as_str())
    .bind(position.attempts as i32)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(holds.is_some())
}

/// What one move of an instance writes: the attempt that led to it closed, the attempts of
/// the chain that led to it, the instance's new position, and (when the mover runs the next
/// step itself) that step's attempt opened as running under a renewed lease.
pub(crate) struct MoveRecord<'a> {
    pub instance: Uuid,
    pub to: &'a Position,
    /// Until the next attempt is due.
    pub due_in: Duration,
    /// The saga is over: its end is stamped.
    pub ends: bool,
    /// Who moves it, as recorded on the attempts written.
    pub worker: &'a str,
    pub closed: Option<ClosedAttempt>,
    pub chained: &'a [ChainedRecord],
    /// The attempt the mover runs next; None lets the lease go, for any worker to claim.
    pub next: Option<NextAttempt>,
}

/// The outcome of the attempt a move closes.
#[derive(Debug)]
pub(crate) struct ClosedAttempt {
    pub id: i64,
    pub outcome: AttemptOutcome,
    pub error: Option<String>,
    /// How long ago it ended, when that was before its record is written (in a chain).
    pub ended_ago: Duration,
}

/// A step that succeeded in a chain, written with the move that ends the chain.
#[derive(Debug)]
pub(crate) struct ChainedRecord {
    pub position: Position,
    pub step_name: &'static str,
    pub started_ago: Duration,
    pub ended_ago: Duration,
}

/// The attempt a worker opens as it moves an instance to a step it runs itself.
#[derive(Debug)]
pub(crate) struct NextAttempt {
    pub step_name: &'static str,
    pub lease: Duration,
}

/// What a move's statement answers.
pub(crate) struct Moved {
    /// When the next attempt is due, in seconds since the epoch.
    pub due: f64,
    /// The attempt opened as running, for `MoveRecord::next`.
    pub next_attempt: Option<i64>,
}

/// Writes `record` in one statement. The chain's attempts are inserted before the next one,
/// counted first, so they keep the lower ids.
pub(crate) async fn write_move(tx: &mut PgConnection, record: &MoveRecord<'_>) -> Result<Moved, Error> {
    let (closed, chained) = (record.closed.as_ref(), record.chained);
    let column = |f: fn(&ChainedRecord) -> f64| chained.iter().map(f).collect::<Vec<_>>();
    let (due, next_attempt): (Option<f64>, Option<i64>) = sqlx::query_as(
        "WITH closed AS ( \
             UPDATE saga.attempts SET outcome = $11, error = $12, \
                    ended_at = clock_timestamp() - make_interval(secs => $16) \
             WHERE id = $13), \
         moved AS ( \
             UPDATE saga.instances SET state = $2, step = $3, phase = $4, attempts = $5, failure = $6, \
                    public_failure = $23, \
                    run_after = now() + make_interval(secs => $7), updated_at = now(), \
                    lease_owner = CASE WHEN $8 THEN lease_owner END, \
                    lease_until = CASE WHEN $8 THEN now() + make_interval(secs => $9) END, \
                    ended_at = CASE WHEN $10 THEN now() END \
             WHERE id = $1 \
             RETURNING run_after), \
         chained AS ( \
             INSERT INTO saga.attempts \
               (instance_id, step, step_name, phase, attempt, worker, outcome, started_at, ended_at) \
             SELECT $1, step, step_name, phase, attempt, $15, 'succeeded', \
                    clock_timestamp() - make_interval(secs => started_ago), \
                    clock_timestamp() - make_interval(secs => ended_ago) \
             FROM unnest($17::int[], $18::text[], $19::text[], $20::int[], $21::float8[], $22::float8[]) \
                  AS t(step, step_name, phase, attempt, started_ago, ended_ago) \
             RETURNING id), \
         started AS ( \
             INSERT INTO saga.attempts (instance_id, step, step_name, phase, attempt, worker, outcome) \
             SELECT $1, $3, $14, $4, $5, $15, 'running' FROM moved \
             WHERE $8 AND (SELECT count(*) FROM chained) >= 0 \
             RETURNING id) \
         SELECT (SELECT extract(epoch FROM run_after)::float8 FROM moved), (SELECT id FROM started)",
    )
    .bind(record.instance)
    .bind(record.to.state.as_str())
    .bind(record.to.step as i32)
    .bind(record.to.phase.as_str())
    .bind(record.to.attempts as i32)
    .bind(&record.to.failure)
    .bind(record.due_in.as_secs_f64())
    .bind(record.next.is_some())
    .bind(record.next.as_ref().map(|next| next.lease.as_secs_f64()))
    .bind(record.ends)
    .bind(closed.map(|c| c.outcome.as_str()))
    .bind(closed.and_then(|c| c.error.as_deref()))
    .bind(closed.map(|c| c.id))
    .bind(record.next.as_ref().map(|next| next.step_name))
    .bind(record.worker)
    .bind(closed.map_or(0.0, |c| c.ended_ago.as_secs_f64()))
    .bind(chained.iter().map(|c| c.position.step as i32).collect::<Vec<_>>())
    .bind(chained.iter().map(|c| c.step_name).collect::<Vec<_>>())
    .bind(chained.iter().map(|c| c.position.phase.as_str()).collect::<Vec<_>>())
    .bind(chained.iter().map(|c| c.position.attempts as i32).collect::<Vec<_>>())
    .bind(column(|c| c.started_ago.as_secs_f64()))
    .bind(column(|c| c.ended_ago.as_secs_f64()))
    .bind(&record.to.public_failure)
    .fetch_one(&mut *tx)
    .await?;
    Ok(Moved {
        due: due.ok_or(Error::NotFound)?,
        next_attempt,
    })
}
