//! Before measuring: orders placed through the real checkout, applied by customer, ready to be
//! moved; and a note of when customer commits each event.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use sqlx::PgPool;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::checkout::shoppers::{Outcome, Shop, Shopper};

/// Orders ready for their next move (an index into `MOVES`), oldest first.
pub type Ready = Arc<Mutex<VecDeque<(Uuid, usize)>>>;

/// How the orders were placed.
pub struct Facts {
    pub orders: usize,
    /// Checkouts that failed or timed out meanwhile.
    pub failed: usize,
    pub took: Duration,
}

/// Checkouts that may fail before the benchmark gives up.
const MAX_FAILED: usize = 100;

/// Makes customer's database note, at each commit that records an applied event, the time:
/// a deferred constraint trigger runs during COMMIT, after every statement of the transaction.
/// (`applied_events.applied_at` is `now()`, the time the transaction began.)
pub async fn note_commits(customer: &PgPool) -> anyhow::Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE bench_commits (event_id uuid PRIMARY KEY, committed_at timestamptz NOT NULL); \
         CREATE FUNCTION bench_note_commit() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN INSERT INTO bench_commits VALUES (NEW.event_id, clock_timestamp()); RETURN NULL; END $$; \
         CREATE CONSTRAINT TRIGGER bench_commit_time AFTER INSERT ON applied_events \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bench_note_commit();",
    )
    .execute(customer)
    .await?;
    Ok(())
}

/// The shoppers check out one order after another until `count` are placed; the failures.
pub async fn place(shop: &Arc<Shop>, shoppers: Vec<Shopper>, count: usize) -> anyhow::Result<usize> {
    let placed = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for mut shopper in shoppers {
        let (shop, placed, failed) = (shop.clone(), placed.clone(), failed.clone());
        tasks.spawn(async move {
            while placed.load(Ordering::Relaxed) < count && failed.load(Ordering::Relaxed) < MAX_FAILED {
                match shopper.once(&shop).await {
                    Outcome::Placed { .. } => placed.fetch_add(1, Ordering::Relaxed),
                    Outcome::Failed(e) | Outcome::TimedOut(e) => {
                        eprintln!("events: a checkout failed: {e}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        });
    }
    let started = Instant::now();
    while let Some(done) = tasks.join_next().await {
        done?;
    }
    let failed = failed.load(Ordering::Relaxed);
    if failed >= MAX_FAILED {
        bail!("{failed} checkouts failed while placing the orders");
    }
    eprintln!(
        "events: placed {} orders in {:.1} s",
        placed.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    Ok(failed)
}

/// Waits until customer has applied every placed order; those orders, ready to be confirmed.
pub async fn wait_until_applied(po: &PgPool, customer: &PgPool) -> anyhow::Result<Ready> {
    let orders: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM orders WHERE status = 'placed' ORDER BY id")
        .fetch_all(po)
        .await?;
    let started = Instant::now();
    loop {
        let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE id = ANY($1)")
            .bind(&orders)
            .fetch_one(customer)
            .await?;
        if applied as usize == orders.len() {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("customer applied {applied} of {} orders within a minute", orders.len());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(Arc::new(Mutex::new(orders.into_iter().map(|id| (id, 0)).collect())))
}
