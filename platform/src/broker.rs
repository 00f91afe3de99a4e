//! RabbitMQ: one connection per service, kept alive by a supervisor that reconnects with
//! backoff when the broker drops (to the next node, when `SHOP_AMQP_URL` lists several of a
//! cluster), the durable `shop.events` topic exchange, and publishing to it with confirms.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, Consumer, ExchangeKind};
use serde::Serialize;
use tokio::sync::{Mutex, RwLock, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use uuid::Uuid;

use crate::StartupError;
use crate::config::redact_url;

/// The exchange shop events are published to unless `SHOP_EVENTS_EXCHANGE` names another.
pub const DEFAULT_EVENTS_EXCHANGE: &str = "shop.events";

const START_HINT: &str = "start it with `rabbitmq-server -detached` or `docker compose up -d rabbitmq`";

/// A handle to the service's broker connection; cheap to clone.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    /// The nodes to connect to, tried in turn.
    urls: Vec<String>,
    /// The index in `urls` of the node connected to last.
    current: AtomicUsize,
    name: String,
    connection: RwLock<Connection>,
    /// The durable topic exchange the shop's events go through.
    events_exchange: String,
    /// Bumped on every successful (re)connection, so consumers know to resubscribe.
    generation: watch::Sender<u64>,
}

impl Broker {
    /// Connects to the first node of `urls` (one AMQP URL, or several of a cluster separated
    /// by commas) that answers, failing with a one-line error when none does; declares the
    /// events exchange, and keeps the connection alive until `shutdown`.
    pub async fn connect(
        urls: &str,
        connection_name: &str,
        events_exchange: &str,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<Self, StartupError> {
        let urls = addresses(urls);
        let (current, connection) = open_any(&urls, 0, connection_name, events_exchange)
            .await
            .map_err(|e| StartupError::new(format!("cannot reach RabbitMQ at {e}; {START_HINT}")))?;
        let broker = Self {
            inner: Arc::new(Inner {
                urls,
                current: AtomicUsize::new(current),
                name: connection_name.to_owned(),
                connection: RwLock::new(connection),
                events_exchange: events_exchange.to_owned(),
                generation: watch::Sender::new(1),
            }),
        };
        tasks.spawn(broker.clone().supervise(shutdown));
        Ok(broker)
    }

    /// The exchange the shop's events go through.
    pub fn events_exchange(&self) -> &str {
        &self.inner.events_exchange
    }

    /// True while the connection is up.
    pub async fn is_connected(&self) -> bool {
        self.inner.connection.read().await.status().connected()
    }

    /// A new channel on the current connection.
    pub async fn channel(&self) -> Result<Channel, lapin::Error> {
        self.inner.connection.read().await.create_channel().await
    }

    /// Changes each time the connection is re-established.
    pub fn reconnections(&self) -> watch::Receiver<u64> {
        self.inner.generation.subscribe()
    }

    async fn supervise(self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(250);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            if self.is_connected().await {
                backoff = Duration::from_millis(250);
                continue;
            }
            let lost = self.inner.current.load(Ordering::Relaxed);
            tracing::warn!(broker = %redact_url(&self.inner.urls[lost]), "broker connection lost, reconnecting");
            // The node after the lost one first: a node that went away is likely still away.
            let next = (lost + 1) % self.inner.urls.len();
            match open_any(&self.inner.urls, next, &self.inner.name, &self.inner.events_exchange).await {
                Ok((current, connection)) => {
                    *self.inner.connection.write().await = connection;
                    self.inner.current.store(current, Ordering::Relaxed);
                    self.inner.generation.send_modify(|g| *g += 1);
                    tracing::info!(broker = %redact_url(&self.inner.urls[current]), "broker connection re-established");
                    backoff = Duration::from_millis(250);
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "reconnect failed");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
        let connection = self.inner.connection.read().await;
        if connection.status().connected() {
            let _ = connection.close(200, "shutting down".into()).await;
        }
    }
}

/// Why a publish did not go through.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("RabbitMQ: {0}")]
    Broker(#[from] lapin::Error),
    #[error("RabbitMQ refused the event (nack)")]
    Nacked,
    #[error("RabbitMQ did not confirm the event: {0}")]
    ConfirmLost(lapin::Error),
    #[error("publisher confirms are off on the channel")]
    Unconfirmed,
}

impl PublishError {
    /// The event reached the broker's connection before this went wrong: it may have been
    /// published, just not confirmed.
    pub fn sent(&self) -> bool {
        matches!(self, Self::Nacked | Self::ConfirmLost(_) | Self::Unconfirmed)
    }
}

/// Whether the broker could hand a confirmed event to at least one queue.
pub type Routed = bool;

/// Publishes JSON messages to the events exchange with confirms, on one channel reopened when
/// the connection comes back.
#[derive(Clone)]
pub struct Publisher {
    broker: Broker,
    channel: Arc<Mutex<Option<(u64, Channel)>>>,
}

impl Publisher {
    pub fn new(broker: Broker) -> Self {
        Self {
            broker,
            channel: Arc::new(Mutex::new(None)),
        }
    }

    /// A channel in confirm mode on the current connection.
    async fn channel(&self) -> Result<Channel, lapin::Error> {
        let generation = *self.broker.reconnections().borrow();
        let mut slot = self.channel.lock().await;
        if let Some((opened_at, channel)) = slot.as_ref()
            && *opened_at == generation
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let channel = self.broker.channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        *slot = Some((generation, channel.clone()));
        Ok(channel)
    }

    /// Closes `channel` and forgets it, so the next publish opens a new one. A nack is the
    /// broker saying a queue the event was routed to could not take it; in a cluster, a
    /// quorum queue whose leader went away. RabbitMQ 3.10 keeps nacking every publish on a
    /// channel opened while the queue's leader was gone (product-order reconnecting to another
    /// node after the leader's node died), also once the queue has a new leader: reproduced by
    /// tests/it/cluster/broker.rs, 84 checkouts stuck unpublished for over a minute without
    /// this. A new channel starts from the queue's current leader.
    async fn discard(&self, channel: &Channel) {
        let mut slot = self.channel.lock().await;
        if slot.as_ref().is_some_and(|(_, held)| held.id() == channel.id()) {
            *slot = None;
        }
        drop(slot);
        let _ = channel.close(200, "a publish was nacked".into()).await;
    }

    /// Publishes one event and waits until the broker has confirmed it.
    pub async fn publish(&self, id: Uuid, routing_key: &str, payload: &impl Serialize) -> Result<Routed, PublishError> {
        let body = serde_json::to_vec(payload).expect("wire types serialise");
        let mut headers = FieldTable::default();
        headers.insert(
            "schema_version".into(),
            AMQPValue::LongUInt(contracts::events::SCHEMA_VERSION),
        );
        let properties = BasicProperties::default()
            .with_message_id(id.to_string().into())
            .with_type(routing_key.into())
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_timestamp(Utc::now().timestamp().max(0) as u64)
            .with_headers(headers);
        let channel = self.channel().await?;
        let confirm = channel
            .basic_publish(
                self.broker.events_exchange().into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                &body,
                properties,
            )
            .await?;
        match confirm.await.map_err(PublishError::ConfirmLost)? {
            Confirmation::Ack(None) => Ok(true),
            // Unroutable: no consumer has bound a queue for this kind of event. The broker
            // accepted and dropped it; nobody subscribed, so nobody misses it.
            Confirmation::Ack(Some(_returned)) => {
                tracing::warn!(%id, routing_key, "no queue is bound for this event; RabbitMQ dropped it");
                Ok(false)
            }
            Confirmation::Nack(_) => {
                self.discard(&channel).await;
                Err(PublishError::Nacked)
            }
            Confirmation::NotRequested => Err(PublishError::Unconfirmed),
        }
    }
}

/// Consumes what `subscribe` opens (`name` says what, in logs), handing each delivery with
/// its channel to `handle` (which settles it, and answers false to stop), and subscribes again
/// after every reconnection (or every 2 s while it fails), until `shutdown`.
pub async fn consume<S, SF, H, F>(
    broker: Broker,
    name: &str,
    mut subscribe: S,
    shutdown: CancellationToken,
    mut handle: H,
) where
    S: FnMut(Broker) -> SF,
    SF: Future<Output = Result<(Channel, Consumer), lapin::Error>>,
    H: FnMut(Channel, Delivery) -> F,
    F: Future<Output = bool>,
{
    let mut reconnections = broker.reconnections();
    loop {
        match subscribe(broker.clone()).await {
            Ok((channel, mut consumer)) => {
                tracing::info!(name, "consuming");
                loop {
                    let delivery = tokio::select! {
                        () = shutdown.cancelled() => return,
                        delivery = consumer.next() => delivery,
                    };
                    let Some(Ok(delivery)) = delivery else { break };
                    // Never wait on a handler at shutdown: an unsettled delivery goes back to
                    // the queue by itself.
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        more = handle(channel.clone(), delivery) => if !more { return },
                    }
                }
                tracing::warn!(name, "consumer ended; waiting for the broker");
            }
            Err(e) => tracing::warn!(error = %e, name, "cannot consume yet"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = reconnections.changed() => {}
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// The AMQP URLs of `SHOP_AMQP_URL`: one, or several separated by commas (a comma in a
/// password is written `%2C`).
fn addresses(urls: &str) -> Vec<String> {
    let urls: Vec<String> = urls
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect();
    if urls.is_empty() { vec![String::new()] } else { urls }
}

/// A connection to the first of `urls`, from `start` on and round, that answers, with its
/// index; else every node and why it failed, passwords masked.
async fn open_any(
    urls: &[String],
    start: usize,
    name: &str,
    events_exchange: &str,
) -> Result<(usize, Connection), String> {
    let mut failures = Vec::with_capacity(urls.len());
    for index in (0..urls.len()).map(|i| (start + i) % urls.len()) {
        match open(&urls[index], name, events_exchange).await {
            Ok(connection) => {
                if !failures.is_empty() {
                    tracing::warn!(unreachable = %failures.join(", "), "connected to another broker node");
                }
                return Ok((index, connection));
            }
            Err(e) => failures.push(format!("{} ({e})", redact_url(&urls[index]))),
        }
    }
    Err(failures.join(", "))
}

async fn open(url: &str, name: &str, events_exchange: &str) -> Result<Connection, String> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    let connection = tokio::time::timeout(Duration::from_secs(5), Connection::connect(url, properties))
        .await
        .map_err(|_| "timed out after 5s".to_owned())?
        .map_err(|e| e.to_string())?;
    let channel = connection.create_channel().await.map_err(|e| e.to_string())?;
    channel
        .exchange_declare(
            events_exchange.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let _ = channel.close(200, "declared".into()).await;
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use super::addresses;

    #[test]
    fn one_url_or_several_separated_by_commas() {
        assert_eq!(addresses("amqp://a:5672/%2f"), ["amqp://a:5672/%2f"]);
        assert_eq!(
            addresses(" amqp://a:5672/%2f, amqp://u:p%2Cq@b:5673/%2f ,"),
            ["amqp://a:5672/%2f", "amqp://u:p%2Cq@b:5673/%2f"]
        );
    }
}
