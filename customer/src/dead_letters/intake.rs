//! Moves every message the broker dead-letters to `<queue>.dead` into `dead_letters`: the
//! record is committed before the message is acknowledged, so none is lost on the way, and the
//! same event arriving twice (a redelivery after a lost ack) stays one dead letter.

use std::time::Duration;

use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::types::AMQPValue;
use platform::broker::Broker;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use super::store::{self, Incoming};
use crate::orders::events::{self, EventSettings};

/// Dead letters taken at once.
const PREFETCH: u16 = 16;

/// Takes in dead letters until `shutdown`.
pub fn spawn(db: PgPool, broker: Broker, settings: EventSettings, shutdown: CancellationToken, tasks: &TaskTracker) {
    let queue = events::dead_queue(&settings);
    let take = move |channel: Channel, delivery: Delivery| {
        let db = db.clone();
        async move {
            take_in(&db, &channel, delivery).await;
            true
        }
    };
    tasks.spawn(events::consume_queue(broker, settings, queue, PREFETCH, shutdown, take));
}

async fn take_in(db: &PgPool, channel: &Channel, delivery: Delivery) {
    let letter = incoming(&delivery);
    match store::take_in(db, &letter).await {
        Ok(id) => {
            tracing::warn!(dead_letter = %id, message_id = %letter.message_id, kind = %letter.kind, reason = %letter.dead_reason, "event dead-lettered");
            if let Err(e) = channel
                .basic_ack(delivery.delivery_tag, BasicAckOptions::default())
                .await
            {
                // It comes back and updates the same record.
                tracing::warn!(error = %e, "cannot acknowledge a dead letter");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot record a dead letter; it stays in the queue");
            // Not straight back: the database may need a moment.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let nack = BasicNackOptions {
                requeue: true,
                ..Default::default()
            };
            let _ = channel.basic_nack(delivery.delivery_tag, nack).await;
        }
    }
}

fn incoming(delivery: &Delivery) -> Incoming {
    let properties = &delivery.properties;
    let kind = properties
        .kind()
        .as_ref()
        .map_or_else(|| delivery.routing_key.to_string(), |k| k.to_string());
    let header = |name: &str| {
        properties
            .headers()
            .as_ref()
            .and_then(|headers| match headers.inner().get(name) {
                Some(AMQPValue::LongString(value)) => Some(value.to_string()),
                Some(AMQPValue::ShortString(value)) => Some(value.to_string()),
                _ => None,
            })
    };
    Incoming {
        message_id: events::message_id(properties),
        order_id: serde_json::from_slice::<serde_json::Value>(&delivery.data)
            .ok()
            .and_then(|body| body.get("order_id")?.as_str()?.parse::<Uuid>().ok()),
        body: String::from_utf8_lossy(&delivery.data).into_owned(),
        dead_reason: header("x-first-death-reason").unwrap_or_else(|| "unknown".to_owned()),
        kind,
    }
}
