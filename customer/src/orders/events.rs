//! Order events from `shop.events` into the read model.
//!
//! A lapin consumer reads customer's own durable quorum queue (bounded prefetch) and feeds each
//! delivery to apalis workers, which apply it with in-memory retries and backoff. A delivery is
//! acknowledged only after the transaction that applied it has committed. We do not use
//! apalis's AMQP backend: it decodes message bodies before any handler sees them, so a message
//! that is not valid JSON would stall its worker instead of reaching the dead-letter queue.
//!
//! - An event applied before (its id is recorded with its effect) is acknowledged, not applied.
//! - A status change for an order not seen yet, or one that overtook an earlier change of its
//!   order, waits (an order's events apply in version order): retried with backoff in memory,
//!   then handed back to the broker; after the queue's delivery limit it is dead-lettered.
//!   product-order never sends an order's event before the earlier ones were confirmed, so
//!   the wait is a race of workers, not a late event.
//! - A message that cannot be read is dead-lettered at once. Every failure is recorded in
//!   `event_failures` with its error; `dead_letters::intake` moves what the broker
//!   dead-lettered into the `dead_letters` table, where operators replay or discard it.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apalis::layers::retry::RetryPolicy;
use apalis::prelude::*;
use contracts::events::{self, OrderPlaced, OrderStatusChanged};
use futures::{FutureExt, SinkExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};
use platform::broker::Broker;
use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::retry::backoff::{ExponentialBackoffMaker, MakeBackoff};
use tower::util::rng::HasherRng;

use super::store::{self, Applied, ApplyError};

/// Where customer's events come from.
#[derive(Debug, Clone)]
pub struct EventSettings {
    /// Apply events in this instance (`false`: serve the API only; another instance applies).
    pub workers: bool,
    /// Customer's queue; its dead letters go to `<queue>.dead`.
    pub queue: String,
    /// Delete the queues after they have had no consumer this long (tests, temporary instances).
    pub expires: Option<Duration>,
}

/// Deliveries held at once, and applied at once.
const PREFETCH: u16 = 32;
/// Attempts in memory before a delivery goes back to the broker.
const ATTEMPTS_IN_MEMORY: usize = 4;
/// Deliveries by the broker before a message is dead-lettered.
const DELIVERY_LIMIT: i64 = 5;

/// One message, as received.
#[derive(Clone)]
struct Delivery {
    kind: String,
    message_id: String,
    body: Vec<u8>,
    tag: u64,
    /// Earlier deliveries of this message (quorum queues count them).
    delivered_before: i64,
    channel: Channel,
}

#[derive(Clone)]
struct Context {
    db: PgPool,
}

/// Runs the consumer and the workers until `shutdown`.
pub fn spawn(db: PgPool, broker: Broker, settings: EventSettings, shutdown: CancellationToken, tasks: &TaskTracker) {
    let (sender, receiver) = mpsc::channel::<Task<Delivery>>(usize::from(PREFETCH));
    let queue = settings.queue.clone();
    let feed = move |channel: Channel, delivery: lapin::message::Delivery| {
        let sender = sender.clone();
        async move {
            // The event's type travels as the message type; the routing key says the same
            // when the message came through `shop.events`.
            let kind = delivery
                .properties
                .kind()
                .as_ref()
                .map_or_else(|| delivery.routing_key.to_string(), |k| k.to_string());
            let task = TaskBuilder::new(Delivery {
                kind,
                message_id: message_id(&delivery.properties),
                delivered_before: delivery_count(&delivery.properties),
                body: delivery.data,
                tag: delivery.delivery_tag,
                channel,
            })
            .build();
            sender.send(task).await.is_ok()
        }
    };
    tasks.spawn(consume_queue(broker, settings, queue, PREFETCH, shutdown.clone(), feed));

    // The workers take deliveries from an in-memory queue that only the consumer fills.
    let deliveries = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|task| (task, receiver))
    })
    .boxed();
    let unused_sink = futures::sink::drain().sink_map_err(|never: Infallible| -> MemoryStorageError { match never {} });
    let backend = MemoryStorage::new_with(
        MemorySink::new(Arc::new(futures::lock::Mutex::new(Box::new(unused_sink)))),
        deliveries,
    );
    let backoff = ExponentialBackoffMaker::new(
        Duration::from_millis(100),
        Duration::from_secs(2),
        0.5,
        HasherRng::default(),
    )
    .expect("valid backoff bounds")
    .make_backoff();
    let worker = WorkerBuilder::new("customer-order-events")
        .backend(backend)
        .retry(RetryPolicy::retries(ATTEMPTS_IN_MEMORY).with_backoff(backoff))
        .concurrency(usize::from(PREFETCH))
        .data(Context { db })
        .build(handle);
    tasks.spawn(async move {
        let result = worker
            .run_until(shutdown.cancelled_owned().map(Ok::<(), std::io::Error>))
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "order event workers stopped");
        }
    });
}

/// Consumes `queue` (after declaring customer's queues), handing each delivery with its
/// channel to `handle` (which settles it, and answers false to stop), again after every
/// reconnection, until `shutdown`.
pub(crate) async fn consume_queue<H, F>(
    broker: Broker,
    settings: EventSettings,
    queue: String,
    prefetch: u16,
    shutdown: CancellationToken,
    handle: H,
) where
    H: FnMut(Channel, lapin::message::Delivery) -> F,
    F: Future<Output = bool>,
{
    let subscribe = |broker: Broker| {
        let (settings, queue) = (settings.clone(), queue.clone());
        async move { subscribe(&broker, &settings, &queue, prefetch).await }
    };
    platform::broker::consume(broker, &queue, subscribe, shutdown, handle).await;
}

/// Customer's dead-letter queue for `settings`.
pub fn dead_queue(settings: &EventSettings) -> String {
    format!("{}.dead", settings.queue)
}

async fn subscribe(
    broker: &Broker,
    settings: &EventSettings,
    queue: &str,
    prefetch: u16,
) -> Result<(Channel, lapin::Consumer), lapin::Error> {
    let channel = broker.channel().await?;
    declare(&channel, broker, settings).await?;
    channel.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let consumer = channel
        .basic_consume(
            queue.into(),
            "customer".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok((channel, consumer))
}

/// Declares customer's queues (idempotent): the dead-letter exchange and queue, and the events
/// queue bound to the order events.
async fn declare(channel: &Channel, broker: &Broker, settings: &EventSettings) -> Result<(), lapin::Error> {
    let dead_exchange = format!("{}.dlx", settings.queue);
    let dead_queue = dead_queue(settings);
    let mut common = FieldTable::default();
    common.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    if let Some(expires) = settings.expires {
        common.insert("x-expires".into(), AMQPValue::LongLongInt(expires.as_millis() as i64));
    }
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            dead_exchange.as_str().into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(dead_queue.as_str().into(), durable, common.clone())
        .await?;
    channel
        .queue_bind(
            dead_queue.as_str().into(),
            dead_exchange.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut arguments = common;
    arguments.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(dead_exchange.as_str().into()),
    );
    arguments.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(DELIVERY_LIMIT));
    channel
        .queue_declare(settings.queue.as_str().into(), durable, arguments)
        .await?;
    for routing_key in [events::ORDER_PLACED, events::ORDER_STATUS_CHANGED] {
        channel
            .queue_bind(
                settings.queue.as_str().into(),
                broker.events_exchange().into(),
                routing_key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

/// The message's id; blank when it has none.
pub(crate) fn message_id(properties: &lapin::BasicProperties) -> String {
    properties
        .message_id()
        .as_ref()
        .map(|id| id.to_string())
        .unwrap_or_default()
}

fn delivery_count(properties: &lapin::BasicProperties) -> i64 {
    let count = properties
        .headers()
        .as_ref()
        .and_then(|headers| headers.inner().get("x-delivery-count").cloned());
    match count {
        Some(AMQPValue::LongLongInt(n)) => n,
        Some(AMQPValue::LongInt(n)) => i64::from(n),
        Some(AMQPValue::LongUInt(n)) => i64::from(n),
        Some(AMQPValue::ShortInt(n)) => i64::from(n),
        _ => 0,
    }
}

/// What to do with a message that was not applied.
pub(crate) enum Failure {
    /// It will never apply: dead-letter it now.
    Unreadable(String),
    /// It may apply later.
    NotYet(String),
}

impl Failure {
    pub(crate) fn message(&self) -> &str {
        match self {
            Failure::Unreadable(message) | Failure::NotYet(message) => message,
        }
    }
}

/// Applies one delivery and settles it with the broker. (A boxed future: the compiler cannot
/// see through apalis's handler bounds that an `async fn` here is `Send`.)
fn handle(
    delivery: Delivery,
    attempt: Attempt,
    context: Data<Context>,
) -> futures::future::BoxFuture<'static, Result<(), BoxDynError>> {
    Box::pin(settle(delivery, attempt.current(), context.db.clone()))
}

async fn settle(delivery: Delivery, attempt: usize, db: PgPool) -> Result<(), BoxDynError> {
    let failure = match apply(&db, &delivery.kind, &delivery.body).await {
        Ok(applied) => {
            tracing::debug!(message_id = %delivery.message_id, kind = %delivery.kind, ?applied, "order event");
            delivery
                .channel
                .basic_ack(delivery.tag, BasicAckOptions::default())
                .await?;
            return Ok(());
        }
        Err(failure) => failure,
    };
    match failure {
        Failure::Unreadable(error) => {
            record_failure(&db, &delivery, &error, true).await;
            tracing::warn!(message_id = %delivery.message_id, %error, "unreadable event dead-lettered");
            let reject = BasicRejectOptions { requeue: false };
            delivery.channel.basic_reject(delivery.tag, reject).await?;
            Ok(())
        }
        Failure::NotYet(error) if attempt < ATTEMPTS_IN_MEMORY => Err(error.into()),
        Failure::NotYet(error) => {
            // Back to the broker; its delivery limit dead-letters it after a few rounds.
            let last_round = delivery.delivered_before + 1 >= DELIVERY_LIMIT;
            record_failure(&db, &delivery, &error, last_round).await;
            let nack = BasicNackOptions {
                requeue: true,
                ..Default::default()
            };
            delivery.channel.basic_nack(delivery.tag, nack).await?;
            Ok(())
        }
    }
}

/// Applies one event in a transaction of its own.
async fn apply(db: &PgPool, kind: &str, body: &[u8]) -> Result<Applied, Failure> {
    let database = |e: sqlx::Error| Failure::NotYet(format!("database: {e}"));
    let mut tx = db.begin().await.map_err(database)?;
    let applied = apply_event(&mut tx, kind, body).await?;
    tx.commit().await.map_err(database)?;
    Ok(applied)
}

/// Applies the event of type `kind` in the caller's transaction: the workers' way and a
/// replayed dead letter's.
pub(crate) async fn apply_event(tx: &mut PgConnection, kind: &str, body: &[u8]) -> Result<Applied, Failure> {
    let applied = match kind {
        events::ORDER_PLACED => {
            let event: OrderPlaced =
                serde_json::from_slice(body).map_err(|e| Failure::Unreadable(format!("not an order.placed: {e}")))?;
            store::apply_placed(tx, &event).await
        }
        events::ORDER_STATUS_CHANGED => {
            let event: OrderStatusChanged = serde_json::from_slice(body)
                .map_err(|e| Failure::Unreadable(format!("not an order.status_changed: {e}")))?;
            store::apply_status_changed(tx, &event).await
        }
        other => return Err(Failure::Unreadable(format!("unknown event type {other:?}"))),
    };
    applied.map_err(|e| match e {
        ApplyError::OrderNotYetKnown(_) | ApplyError::EarlierChangeMissing { .. } => Failure::NotYet(e.to_string()),
        ApplyError::Database(e) => Failure::NotYet(format!("database: {e}")),
    })
}

/// Notes the failure; a failure to note it must not stop the message's handling.
async fn record_failure(db: &PgPool, delivery: &Delivery, error: &str, dead_lettered: bool) {
    let recorded = sqlx::query(
        "INSERT INTO event_failures (message_id, kind, attempts, last_error, dead_lettered, body) \
         VALUES ($1, $2, 1, $3, $4, $5) \
         ON CONFLICT (message_id) DO UPDATE SET attempts = event_failures.attempts + 1, last_error = $3, \
             dead_lettered = $4, last_failed_at = now()",
    )
    .bind(&delivery.message_id)
    .bind(&delivery.kind)
    .bind(error)
    .bind(dead_lettered)
    .bind(String::from_utf8_lossy(&delivery.body).into_owned())
    .execute(db)
    .await;
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "cannot record an event failure");
    }
}
