//! The two ways shoppers are driven: each one checkout after another as fast as it can
//! (closed loop), or checkouts started on a fixed schedule by whichever shopper is free (open
//! loop).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contracts::events::OrderLine;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::shoppers::{Outcome, Shop, Shopper, Tally};

/// A checkout started this much after its due time missed the open loop's schedule.
pub const LATE: Duration = Duration::from_millis(10);

/// Every shopper checks out one order after another for `duration`. Returns the shoppers,
/// what they saw, and the time until the last checkout in flight ended.
pub async fn closed_loop(
    shop: &Arc<Shop>,
    shoppers: Vec<Shopper>,
    duration: Duration,
) -> (Vec<Shopper>, Tally, Duration) {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for mut shopper in shoppers {
        let shop = shop.clone();
        tasks.spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                tally.add(shopper.once(&shop).await);
            }
            (shopper, tally)
        });
    }
    let mut shoppers = Vec::new();
    let mut tally = Tally::default();
    while let Some(done) = tasks.join_next().await {
        let (shopper, seen) = done.expect("a shopper does not panic");
        shoppers.push(shopper);
        tally.merge(seen);
    }
    (shoppers, tally, started.elapsed())
}

/// How well the open loop kept its schedule.
#[derive(Debug, Default)]
pub struct Schedule {
    pub rate: f64,
    pub started: usize,
    /// Checkouts started `LATE` or more after their due time.
    pub late: usize,
    pub max_lag: Duration,
    /// No shopper was free for a minute: the schedule was given up.
    pub abandoned: bool,
}

/// Checkouts started at `rate` per second for `duration`, each by a shopper whose cart is
/// ready and who has no checkout in flight. Returns the shoppers, what they saw, the time until
/// the last checkout ended, and how well the schedule was kept.
pub async fn open_loop(
    shop: &Arc<Shop>,
    shoppers: Vec<Shopper>,
    rate: f64,
    duration: Duration,
) -> (Vec<Shopper>, Tally, Duration, Schedule) {
    let count = shoppers.len();
    let (free, mut ready) = mpsc::unbounded_channel::<(Shopper, Vec<OrderLine>)>();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut tasks = JoinSet::new();
    for shopper in shoppers {
        tasks.spawn(get_ready(shop.clone(), shopper, free.clone(), None));
    }
    let interval = Duration::from_secs_f64(1.0 / rate);
    let total = (duration.as_secs_f64() * rate).round() as usize;
    let start = Instant::now() + Duration::from_millis(100);
    let mut schedule = Schedule {
        rate,
        ..Schedule::default()
    };
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let Ok(Some((mut shopper, lines))) = tokio::time::timeout(Duration::from_secs(60), ready.recv()).await else {
            schedule.abandoned = true;
            break;
        };
        let lag = Instant::now().saturating_duration_since(due);
        schedule.started += 1;
        schedule.late += usize::from(lag >= LATE);
        schedule.max_lag = schedule.max_lag.max(lag);
        let (shop, free, tally) = (shop.clone(), free.clone(), tally.clone());
        tasks.spawn(async move {
            let outcome = shopper.check_out(&shop, &lines).await;
            tally.lock().expect("tally poisoned").add(outcome);
            get_ready(shop, shopper, free, Some(tally)).await;
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    drop(free);
    let mut shoppers = Vec::with_capacity(count);
    while let Some((shopper, _)) = ready.recv().await {
        shoppers.push(shopper);
    }
    let tally = std::mem::take(&mut *tally.lock().expect("tally poisoned"));
    (shoppers, tally, elapsed, schedule)
}

/// Fills the shopper's cart (again after a failure) and puts it among the free shoppers.
/// Without a tally (the loop is starting) the cart is emptied first: the loop before may have
/// left it filled for a checkout it never made.
async fn get_ready(
    shop: Arc<Shop>,
    mut shopper: Shopper,
    free: mpsc::UnboundedSender<(Shopper, Vec<OrderLine>)>,
    tally: Option<Arc<Mutex<Tally>>>,
) {
    if tally.is_none() {
        shopper.empty_cart(&shop).await;
    }
    loop {
        match shopper.fill_cart(&shop).await {
            Ok(lines) => {
                let _ = free.send((shopper, lines));
                return;
            }
            Err(e) => {
                if let Some(tally) = &tally {
                    tally.lock().expect("tally poisoned").add(Outcome::Failed(e));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
