//! The outbox: events are written in the same transaction as the change they announce, then
//! published to `shop.events` with publisher confirms and marked published. Nothing is
//! announced that did not happen, and nothing that happened goes unannounced.
//!
//! The checkout saga publishes its own `order.placed` (its last step); the relay publishes the
//! rest (status changes) as soon as it is woken, and sweeps up anything left behind. Events of
//! one order reach the broker in the order they were written (`relay_batch`).

use std::sync::Arc;
use std::time::Duration;

use api::sagas::{EventDelivery, OutboxEvent};
use chrono::{DateTime, Utc};
use platform::broker::{self, Publisher};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// An event to write.
pub struct NewEvent<'a, T: Serialize> {
    pub id: Uuid,
    pub routing_key: &'a str,
    pub aggregate_id: Uuid,
    pub body: &'a T,
    /// How long the relay leaves it to its writer before publishing it itself.
    pub relay_after: Duration,
}

/// Writes `event` in the caller's transaction.
pub async fn write<T: Serialize>(tx: &mut PgConnection, event: NewEvent<'_, T>) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_value(event.body).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO outbox (id, routing_key, payload, aggregate_id, relay_after) \
         VALUES ($1, $2, $3, $4, clock_timestamp() + make_interval(secs => $5))",
    )
    .bind(event.id)
    .bind(event.routing_key)
    .bind(payload)
    .bind(event.aggregate_id)
    .bind(event.relay_after.as_secs_f64())
    .execute(tx)
    .await?;
    Ok(())
}

/// Why an event of the outbox did not go out.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Send(#[from] broker::PublishError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// An event of the outbox as read by the transaction that publishes it, its row locked
/// (`SELECT ... FOR UPDATE`) until that transaction ends.
#[derive(sqlx::FromRow)]
pub struct Stored {
    pub id: Uuid,
    pub routing_key: String,
    pub payload: Value,
    pub published: bool,
}

/// Publishes the stored event unless it was published already, and marks it, inside the
/// caller's transaction, which locked the row. A send that fails is recorded on the row by
/// itself once the caller's transaction has rolled back.
pub async fn publish_stored(
    tx: &mut PgConnection,
    db: &PgPool,
    publisher: &Publisher,
    event: Stored,
) -> Result<(), PublishError> {
    if event.published {
        return Ok(());
    }
    send_stored(tx, db, publisher, event.id, event.routing_key, event.payload).await
}

/// Sends the stored event `id` again, published or not, with the same id (consumers apply it
/// once), and marks it, inside the caller's transaction. None when there is no such event.
pub async fn republish(
    tx: &mut PgConnection,
    db: &PgPool,
    publisher: &Publisher,
    id: Uuid,
) -> Result<Option<()>, PublishError> {
    let Some(row) = sqlx::query("SELECT routing_key, payload FROM outbox WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(None);
    };
    send_stored(tx, db, publisher, id, row.get("routing_key"), row.get("payload"))
        .await
        .map(Some)
}

async fn send_stored(
    tx: &mut PgConnection,
    db: &PgPool,
    publisher: &Publisher,
    id: Uuid,
    routing_key: String,
    payload: Value,
) -> Result<(), PublishError> {
    let sent_at = Utc::now();
    match publisher.publish(id, &routing_key, &payload).await {
        Ok(routed) => {
            sqlx::query(
                "UPDATE outbox SET published_at = now(), sent_at = $2, routed = $3, attempts = attempts + 1, \
                        last_error = NULL WHERE id = $1",
            )
            .bind(id)
            .bind(sent_at)
            .bind(routed)
            .execute(&mut *tx)
            .await?;
            Ok(())
        }
        Err(e) => {
            // The caller's transaction holds the row and will roll back: record the failed
            // send from another connection, which waits for that.
            let (db, error, sent) = (db.clone(), e.to_string(), e.sent().then_some(sent_at));
            tokio::spawn(async move {
                let recorded = sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $2, sent_at = coalesce($3, sent_at) \
                     WHERE id = $1 AND published_at IS NULL",
                )
                .bind(id)
                .bind(error)
                .bind(sent)
                .execute(&db)
                .await;
                if let Err(e) = recorded {
                    tracing::warn!(%id, error = %e, "could not record a failed publish on the outbox row");
                }
            });
            Err(e.into())
        }
    }
}

/// The events about `aggregate_id` (an order), oldest first.
pub async fn events_of(db: impl sqlx::PgExecutor<'_>, aggregate_id: Uuid) -> Result<Vec<OutboxEvent>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, routing_key, created_at, sent_at, published_at, routed, attempts, last_error \
         FROM outbox WHERE aggregate_id = $1 ORDER BY created_at, id",
    )
    .bind(aggregate_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let sent_at: Option<DateTime<Utc>> = row.get("sent_at");
            let confirmed_at: Option<DateTime<Utc>> = row.get("published_at");
            let state = match (sent_at, confirmed_at) {
                (_, Some(_)) => EventDelivery::Confirmed,
                (Some(_), None) => EventDelivery::Published,
                (None, None) => EventDelivery::Written,
            };
            OutboxEvent {
                event_id: row.get("id"),
                routing_key: row.get("routing_key"),
                state,
                written_at: row.get("created_at"),
                sent_at,
                confirmed_at,
                routed: row.get("routed"),
                attempts: row.get("attempts"),
                last_error: row.get("last_error"),
            }
        })
        .collect())
}

/// Wakes the relay after a transaction that wrote events has committed.
#[derive(Clone, Default)]
pub struct RelayWaker(Arc<Notify>);

impl RelayWaker {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Runs the relay until `shutdown`: publishes due events oldest first, woken by `waker` or
/// every second; several instances share the rows with `SKIP LOCKED`.
pub fn spawn_relay(
    db: PgPool,
    publisher: Publisher,
    waker: RelayWaker,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) {
    tasks.spawn(async move {
        loop {
            match relay_batch(&db, &publisher).await {
                // A full batch: there may be more.
                Ok(published) if published >= RELAY_BATCH => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "outbox relay: publishing failed; retrying"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = waker.0.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
}

const RELAY_BATCH: usize = 200;

/// An event the relay took, to publish in its order's sequence.
struct Taken {
    id: Uuid,
    aggregate_id: Uuid,
    routing_key: String,
    payload: Value,
}

/// Publishes a batch of due events and marks those the broker confirmed; the others keep their
/// error and go out next time.
///
/// Events of one order go out in the order they were written, each only once every earlier
/// one is confirmed: a status change never overtakes its `order.placed` (which the checkout
/// saga publishes itself, and the relay only after a while), so consumers never see an order
/// change before the order. An order is due when any of its unpublished events is: the relay
/// then takes its earlier events too, whatever their own `relay_after`. An order with an
/// unpublished event the relay could not lock (the saga or another relay is publishing it)
/// waits, from that event on, for the next batch. Events of different orders go out at once
/// (their confirms awaited together), round after round for orders with several.
async fn relay_batch(db: &PgPool, publisher: &Publisher) -> Result<usize, PublishError> {
    let mut tx = db.begin().await?;
    let rows = sqlx::query(
        "WITH due AS ( \
             SELECT DISTINCT aggregate_id FROM outbox \
             WHERE published_at IS NULL AND relay_after <= now() LIMIT $1) \
         SELECT o.id, o.aggregate_id, o.routing_key, o.payload, o.created_at FROM outbox o JOIN due USING (aggregate_id) \
         WHERE o.published_at IS NULL \
         ORDER BY o.aggregate_id, o.created_at, o.id FOR UPDATE OF o SKIP LOCKED",
    )
    .bind(RELAY_BATCH as i64)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = rows.iter().map(|row| row.get("id")).collect();
    let aggregates: Vec<Uuid> = rows.iter().map(|row| row.get("aggregate_id")).collect();
    // The first unpublished event of each order that this batch does not hold: nothing of
    // that order written after it goes out before it.
    let held_elsewhere: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT aggregate_id, min(created_at) FROM outbox \
         WHERE aggregate_id = ANY($1) AND published_at IS NULL AND id <> ALL($2) GROUP BY aggregate_id",
    )
    .bind(&aggregates)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut sequences: Vec<Vec<Taken>> = Vec::new();
    for row in &rows {
        let aggregate_id: Uuid = row.get("aggregate_id");
        let created_at: DateTime<Utc> = row.get("created_at");
        let blocked = held_elsewhere
            .iter()
            .any(|(held, first)| *held == aggregate_id && *first <= created_at);
        if blocked {
            continue;
        }
        let taken = Taken {
            id: row.get("id"),
            aggregate_id,
            routing_key: row.get("routing_key"),
            payload: row.get("payload"),
        };
        match sequences.last_mut() {
            Some(sequence) if sequence[0].aggregate_id == aggregate_id => sequence.push(taken),
            _ => sequences.push(vec![taken]),
        }
    }

    let sent_at = Utc::now();
    let (mut published, mut routed) = (Vec::new(), Vec::new());
    let mut failure = None;
    // Round k sends the k-th event of every order whose earlier events were all confirmed.
    let mut pending: Vec<std::vec::IntoIter<Taken>> = sequences.into_iter().map(Vec::into_iter).collect();
    loop {
        let round: Vec<(usize, Taken)> = pending
            .iter_mut()
            .enumerate()
            .filter_map(|(order, events)| events.next().map(|event| (order, event)))
            .collect();
        if round.is_empty() {
            break;
        }
        let outcomes = futures::future::join_all(
            round
                .iter()
                .map(|(_, event)| publisher.publish(event.id, &event.routing_key, &event.payload)),
        )
        .await;
        for ((order, event), outcome) in round.into_iter().zip(outcomes) {
            match outcome {
                Ok(was_routed) => {
                    published.push(event.id);
                    routed.push(was_routed);
                }
                Err(e) => {
                    sqlx::query(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = $2, sent_at = coalesce($3, sent_at) \
                         WHERE id = $1",
                    )
                    .bind(event.id)
                    .bind(e.to_string())
                    .bind(e.sent().then_some(sent_at))
                    .execute(&mut *tx)
                    .await?;
                    // The order's later events wait for this one.
                    pending[order] = Vec::new().into_iter();
                    failure.get_or_insert(e.into());
                }
            }
        }
    }
    sqlx::query(
        "UPDATE outbox o SET published_at = now(), sent_at = $3, routed = r.routed, attempts = attempts + 1, \
                last_error = NULL \
         FROM UNNEST($1::uuid[], $2::bool[]) AS r(id, routed) WHERE o.id = r.id",
    )
    .bind(&published)
    .bind(&routed)
    .bind(sent_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    match failure {
        Some(e) => Err(e),
        None => Ok(published.len()),
    }
}
