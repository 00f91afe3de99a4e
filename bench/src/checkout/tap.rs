//! The benchmark's own queue on `shop.events`: each `order.placed` is handed to the shopper
//! waiting for it, with the time it arrived.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use contracts::events::{ORDER_PLACED, OrderLine, OrderPlaced};
use futures_lite::StreamExt;
use lapin::options::{BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::oneshot;
use uuid::Uuid;

/// Shoppers waiting for their order, by customer id; each has one checkout in flight.
pub struct Tap {
    waiting: Mutex<HashMap<Uuid, Waiter>>,
    /// Events nobody waited for (late ones, after a timeout).
    unmatched: AtomicUsize,
    connection: Connection,
}

struct Waiter {
    /// The checkout's lines, so a late event of an earlier checkout is not taken for it.
    lines: Vec<(Uuid, i32)>,
    placed: oneshot::Sender<Instant>,
}

fn key(lines: &[OrderLine]) -> Vec<(Uuid, i32)> {
    let mut key: Vec<_> = lines.iter().map(|l| (l.product_id, l.quantity)).collect();
    key.sort_unstable();
    key
}

impl Tap {
    /// Declares an exclusive auto-delete queue bound to `order.placed` and consumes it.
    pub async fn open(amqp_url: &str, events_exchange: &str) -> anyhow::Result<std::sync::Arc<Self>> {
        let connection = Connection::connect(amqp_url, ConnectionProperties::default())
            .await
            .context("connecting to RabbitMQ")?;
        let channel = connection.create_channel().await?;
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
            .await?;
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let queue = queue.name().clone();
        channel
            .queue_bind(
                queue.clone(),
                events_exchange.into(),
                ORDER_PLACED.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let mut consumer = channel
            .basic_consume(
                queue,
                "bench".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let tap = std::sync::Arc::new(Self {
            waiting: Mutex::new(HashMap::new()),
            unmatched: AtomicUsize::new(0),
            connection,
        });
        let consuming = tap.clone();
        tokio::spawn(async move {
            while let Some(delivery) = consumer.next().await {
                let arrived = Instant::now();
                match delivery {
                    Ok(delivery) => consuming.deliver(&delivery.data, arrived),
                    Err(e) => {
                        eprintln!("checkout: the event queue stopped: {e}");
                        break;
                    }
                }
            }
        });
        Ok(tap)
    }

    /// Waits for the order of `customer` with `lines`; call before asking for the checkout.
    pub fn expect(&self, customer: Uuid, lines: &[OrderLine]) -> oneshot::Receiver<Instant> {
        let (placed, arrival) = oneshot::channel();
        let waiter = Waiter {
            lines: key(lines),
            placed,
        };
        self.waiting.lock().expect("tap poisoned").insert(customer, waiter);
        arrival
    }

    /// Stops waiting for `customer`'s order.
    pub fn forget(&self, customer: Uuid) {
        self.waiting.lock().expect("tap poisoned").remove(&customer);
    }

    fn deliver(&self, body: &[u8], arrived: Instant) {
        let Ok(event) = serde_json::from_slice::<OrderPlaced>(body) else {
            self.unmatched.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let mut waiting = self.waiting.lock().expect("tap poisoned");
        let matches = waiting
            .get(&event.customer_id)
            .is_some_and(|w| w.lines == key(&event.lines));
        let waiter = matches.then(|| waiting.remove(&event.customer_id)).flatten();
        drop(waiting);
        match waiter {
            // The shopper may have given up in the meantime; then nobody listens.
            Some(waiter) => {
                let _ = waiter.placed.send(arrived);
            }
            None => {
                self.unmatched.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Events that matched no waiting shopper so far.
    pub fn unmatched(&self) -> usize {
        self.unmatched.load(Ordering::Relaxed)
    }

    /// Closes the connection; the queue goes with it.
    pub async fn close(&self) {
        let _ = self.connection.close(200, "benchmark done".into()).await;
    }
}
