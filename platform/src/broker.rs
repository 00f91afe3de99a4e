//! RabbitMQ: one connection per service, kept alive by a supervisor that reconnects with
//! backoff when the broker drops, and the durable `shop.events` topic exchange.

use std::sync::Arc;
use std::time::Duration;

use lapin::options::ExchangeDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::{RwLock, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
    url: String,
    name: String,
    connection: RwLock<Connection>,
    /// The durable topic exchange the shop's events go through.
    events_exchange: String,
    /// Bumped on every successful (re)connection, so consumers know to resubscribe.
    generation: watch::Sender<u64>,
}

impl Broker {
    /// Connects once (failing with a one-line error when the broker is unreachable), declares
    /// the events exchange, and keeps the connection alive until `shutdown`.
    pub async fn connect(
        url: &str,
        connection_name: &str,
        events_exchange: &str,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<Self, StartupError> {
        let connection = open(url, connection_name, events_exchange).await.map_err(|e| {
            StartupError::new(format!(
                "cannot reach RabbitMQ at {} ({e}); {START_HINT}",
                redact_url(url)
            ))
        })?;
        let broker = Self {
            inner: Arc::new(Inner {
                url: url.to_owned(),
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
            tracing::warn!(broker = %redact_url(&self.inner.url), "broker connection lost, reconnecting");
            match open(&self.inner.url, &self.inner.name, &self.inner.events_exchange).await {
                Ok(connection) => {
                    *self.inner.connection.write().await = connection;
                    self.inner.generation.send_modify(|g| *g += 1);
                    tracing::info!("broker connection re-established");
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
