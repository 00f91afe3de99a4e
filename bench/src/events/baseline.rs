//! The baseline: `order.status_changed` bodies published straight to a quorum queue of the
//! benchmark's own with publisher confirms, on the same schedule, and consumed by a plain lapin
//! consumer (the same prefetch as customer's) that inserts each into a scratch table in a
//! transaction of its own, then acknowledges it. Lag: publish started → insert committed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use contracts::OrderStatus;
use contracts::events::{ORDER_STATUS_CHANGED, OrderStatusChanged};
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use sqlx::PgPool;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::phase::LOST_AFTER;
use crate::load::Stats;

/// Deliveries the consumer holds at once, as customer's does.
const PREFETCH: u16 = 32;

/// The baseline's lags, or why there are none.
pub type Baseline = Result<Stats, String>;

type Sent = Arc<Mutex<HashMap<Uuid, Instant>>>;

pub async fn run(amqp_url: &str, db: &PgPool, rate: f64, duration: Duration) -> Baseline {
    measure(amqp_url, db, rate, duration)
        .await
        .map_err(|e| format!("{e:#}"))
}

async fn measure(amqp_url: &str, db: &PgPool, rate: f64, duration: Duration) -> anyhow::Result<Stats> {
    sqlx::raw_sql(
        "CREATE TABLE bench_baseline_events (event_id uuid PRIMARY KEY, order_id uuid NOT NULL, \
         status text NOT NULL, version bigint NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(db)
    .await?;
    let connection = Connection::connect(amqp_url, ConnectionProperties::default())
        .await
        .context("connecting to RabbitMQ")?;
    let queue = format!("bench.events-baseline-{}", Uuid::new_v4().simple());
    let publisher = connection.create_channel().await?;
    publisher.confirm_select(ConfirmSelectOptions::default()).await?;
    let mut arguments = FieldTable::default();
    arguments.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    arguments.insert("x-expires".into(), AMQPValue::LongLongInt(600_000));
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    publisher
        .queue_declare(queue.as_str().into(), durable, arguments)
        .await?;

    let sent: Sent = Arc::default();
    let lags = Arc::new(Mutex::new(Vec::new()));
    let consumer = consume(&connection, &queue, db.clone(), sent.clone(), lags.clone()).await?;

    let total = (rate * duration.as_secs_f64()).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now() + Duration::from_millis(20);
    let mut publishes = JoinSet::new();
    for i in 0..total {
        tokio::time::sleep_until((start + interval.mul_f64(i as f64)).into()).await;
        let (channel, queue, sent) = (publisher.clone(), queue.clone(), sent.clone());
        publishes.spawn(async move {
            let event = event();
            let body = serde_json::to_vec(&event).expect("an event serialises");
            sent.lock()
                .expect("sent poisoned")
                .insert(event.event_id, Instant::now());
            let properties = BasicProperties::default()
                .with_message_id(event.event_id.to_string().into())
                .with_type(ORDER_STATUS_CHANGED.into())
                .with_content_type("application/json".into())
                .with_delivery_mode(2);
            let confirm = channel
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    properties,
                )
                .await?;
            confirm.await?;
            Ok::<(), lapin::Error>(())
        });
    }
    let mut errors = 0;
    while let Some(published) = publishes.join_next().await {
        errors += usize::from(!matches!(published, Ok(Ok(()))));
    }
    let elapsed = start.elapsed();
    let waiting = Instant::now();
    while lags.lock().expect("lags poisoned").len() + errors < total && waiting.elapsed() < LOST_AFTER {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    consumer.abort();
    let _ = publisher
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await;
    let _ = connection.close(200, "baseline done".into()).await;
    let lags = std::mem::take(&mut *lags.lock().expect("lags poisoned"));
    let lost = total - lags.len();
    let first_error = (lost > 0).then(|| format!("{errors} publishes failed, {lost} events not applied"));
    Ok(Stats::from_latencies(lags, lost, first_error, elapsed))
}

/// A status change like product-order's.
fn event() -> OrderStatusChanged {
    OrderStatusChanged {
        event_id: Uuid::now_v7(),
        occurred_at: Utc::now(),
        order_id: Uuid::now_v7(),
        customer_id: Uuid::now_v7(),
        status: OrderStatus::Shipped,
        previous_status: OrderStatus::Confirmed,
        version: 3,
        reason: None,
    }
}

/// Consumes the queue: each delivery inserted and committed by a task of its own, then acked.
async fn consume(
    connection: &Connection,
    queue: &str,
    db: PgPool,
    sent: Sent,
    lags: Arc<Mutex<Vec<Duration>>>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let channel = connection.create_channel().await?;
    channel.basic_qos(PREFETCH, BasicQosOptions::default()).await?;
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "bench-baseline".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(tokio::spawn(async move {
        while let Some(Ok(delivery)) = consumer.next().await {
            let (db, sent, lags) = (db.clone(), sent.clone(), lags.clone());
            tokio::spawn(async move {
                let Ok(event) = serde_json::from_slice::<OrderStatusChanged>(&delivery.data) else {
                    return;
                };
                if apply(&db, &event).await.is_err() {
                    return;
                }
                if let Some(at) = sent.lock().expect("sent poisoned").remove(&event.event_id) {
                    lags.lock().expect("lags poisoned").push(at.elapsed());
                }
                let _ = delivery.acker.ack(BasicAckOptions::default()).await;
            });
        }
    }))
}

async fn apply(db: &PgPool, event: &OrderStatusChanged) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO bench_baseline_events (event_id, order_id, status, version) VALUES ($1, $2, $3, $4)")
        .bind(event.event_id)
        .bind(event.order_id)
        .bind(event.status.as_str())
        .bind(event.version)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}
