//! The baseline: the same checkout as one plain SQL transaction through sqlx, no HTTP and no
//! saga: take the stock, insert the order and its lines, clear the cart lines, write the
//! `order.placed` outbox row; commit.

use std::time::{Duration, Instant};

use chrono::Utc;
use contracts::OrderStatus;
use contracts::events::{Contact, Delivery, ORDER_PLACED, OrderLine, OrderPlaced};
use sqlx::PgPool;
use sqlx::types::Json;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::shoppers::{Outcome, Tally};
use super::{Catalog, Rng};

/// One baseline client: a customer of its own (not one of the shoppers) and its cart.
pub struct Client {
    customer_id: Uuid,
    owner: String,
    rng: Rng,
}

/// `count` clients with fresh customer ids.
pub fn clients(count: usize) -> Vec<Client> {
    (0..count)
        .map(|_| {
            let customer_id = Uuid::new_v4();
            Client {
                customer_id,
                owner: format!("customer:{customer_id}"),
                rng: Rng::new(),
            }
        })
        .collect()
}

/// Every client runs one checkout transaction after another for `duration`. Returns the
/// clients, what they saw, and the time until the last transaction ended.
pub async fn closed_loop(
    pool: &PgPool,
    catalog: &Catalog,
    clients: Vec<Client>,
    duration: Duration,
) -> (Vec<Client>, Tally, Duration) {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for mut client in clients {
        let (pool, catalog) = (pool.clone(), catalog.clone());
        tasks.spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                tally.add(client.once(&pool, &catalog).await);
            }
            (client, tally)
        });
    }
    let mut clients = Vec::new();
    let mut tally = Tally::default();
    while let Some(done) = tasks.join_next().await {
        let (client, seen) = done.expect("a baseline client does not panic");
        clients.push(client);
        tally.merge(seen);
    }
    (clients, tally, started.elapsed())
}

impl Client {
    /// Fills the cart (not measured), then checks out in one transaction (measured).
    async fn once(&mut self, pool: &PgPool, catalog: &Catalog) -> Outcome {
        let lines = catalog.pick(&mut self.rng);
        if let Err(e) = super::fill_cart(pool, &self.owner, &lines).await {
            return Outcome::Failed(format!("cart: {e}"));
        }
        let started = Instant::now();
        match self.check_out(pool, &lines).await {
            Ok(()) => Outcome::Placed {
                latency: started.elapsed(),
                saga: None,
            },
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    async fn check_out(&self, pool: &PgPool, lines: &[OrderLine]) -> anyhow::Result<()> {
        let mut lines = lines.to_vec();
        // Rows in one order, as the saga takes them, so two transactions never deadlock.
        lines.sort_by_key(|l| l.product_id);
        let (contact, delivery) = details();
        let mut tx = pool.begin().await?;
        for line in &lines {
            let taken = sqlx::query(
                "UPDATE products SET stock = stock - $2, updated_at = now() \
                 WHERE id = $1 AND active AND stock >= $2",
            )
            .bind(line.product_id)
            .bind(line.quantity)
            .execute(&mut *tx)
            .await?;
            if taken.rows_affected() != 1 {
                anyhow::bail!("{} is out of stock", line.name);
            }
        }
        let order_id = Uuid::now_v7();
        let total: i64 = lines.iter().map(|l| l.unit_price * i64::from(l.quantity)).sum();
        let placed_at = Utc::now();
        sqlx::query(
            "INSERT INTO orders (id, checkout_id, customer_id, status, version, total, currency, contact, delivery, placed_at) \
             VALUES ($1, $2, $3, 'placed', 1, $4, $5, $6, $7, $8)",
        )
        .bind(order_id)
        .bind(Uuid::now_v7())
        .bind(self.customer_id)
        .bind(total)
        .bind(super::CURRENCY)
        .bind(Json(&contact))
        .bind(Json(&delivery))
        .bind(placed_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO order_lines (order_id, product_id, sku, name, unit_price, quantity) \
             SELECT $1, * FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::bigint[], $6::int[])",
        )
        .bind(order_id)
        .bind(lines.iter().map(|l| l.product_id).collect::<Vec<_>>())
        .bind(lines.iter().map(|l| l.sku.clone()).collect::<Vec<_>>())
        .bind(lines.iter().map(|l| l.name.clone()).collect::<Vec<_>>())
        .bind(lines.iter().map(|l| l.unit_price).collect::<Vec<_>>())
        .bind(lines.iter().map(|l| l.quantity).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM cart_items WHERE owner = $1 AND product_id = ANY($2)")
            .bind(&self.owner)
            .bind(lines.iter().map(|l| l.product_id).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        let event_id = Uuid::now_v7();
        let event = OrderPlaced {
            event_id,
            occurred_at: placed_at,
            order_id,
            customer_id: self.customer_id,
            lines,
            total,
            currency: super::CURRENCY.to_owned(),
            contact,
            delivery,
            status: OrderStatus::Placed,
            version: 1,
        };
        // Never due for the relay: nobody consumes the baseline's events, and publishing them
        // would load the broker while later cases run.
        sqlx::query(
            "INSERT INTO outbox (id, routing_key, payload, aggregate_id, relay_after) \
             VALUES ($1, $2, $3, $4, 'infinity')",
        )
        .bind(event_id)
        .bind(ORDER_PLACED)
        .bind(serde_json::to_value(&event)?)
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The contact and delivery the shoppers send, as the saga stores them.
fn details() -> (Contact, Delivery) {
    (
        Contact {
            name: "Ada Lovelace".into(),
            email: "ada@example.com".into(),
            phone: "+44 20 7946 0958".into(),
        },
        Delivery {
            line1: "12 St James's Square".into(),
            line2: String::new(),
            city: "London".into(),
            postal_code: "SW1Y 4LB".into(),
            country: "GB".into(),
        },
    )
}
