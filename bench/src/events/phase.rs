//! One measured rate: an operator's status changes on a fixed schedule (open loop), then each
//! event's lag from product-order's outbox row to customer's commit, joined by event id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::MOVES;
use super::pool::Ready;
use crate::load::Stats;

/// Status changes in flight at most; the schedule slips when all are taken.
pub const MAX_IN_FLIGHT: usize = 64;
/// A change sent this much after its due time missed the schedule.
pub const LATE: Duration = Duration::from_millis(10);
/// An event customer has not committed this long after the phase is lost.
pub const LOST_AFTER: Duration = Duration::from_secs(30);
/// Customer kept up when it committed every event within this of the phase's last one...
pub const DRAIN: Duration = Duration::from_secs(2);

/// The operator's HTTP client and token.
pub struct Operator {
    pub client: reqwest::Client,
    pub url: String,
    pub token: String,
}

/// What the schedule did.
#[derive(Default)]
pub struct Drive {
    pub rate: f64,
    pub issued: usize,
    pub failed: usize,
    pub first_error: Option<String>,
    /// Changes sent `LATE` or more after their due time, and the latest.
    pub late: usize,
    pub max_late: Duration,
    /// No order was left to move before the schedule's end.
    pub ran_out: bool,
    /// From the first due time to the last answer.
    pub elapsed: Duration,
    /// PostgreSQL's clock before the first change and after the last answer.
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

async fn db_now(pool: &PgPool) -> sqlx::Result<DateTime<Utc>> {
    sqlx::query_scalar("SELECT clock_timestamp()").fetch_one(pool).await
}

/// Moves ready orders at `rate` per second for `duration`, each change by a task of its own.
pub async fn drive(
    operator: &Arc<Operator>,
    ready: &Ready,
    po: &PgPool,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<Drive> {
    let total = (rate * duration.as_secs_f64()).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let seats = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let outcome = Arc::new(Mutex::new(Drive::default()));
    let mut tasks = JoinSet::new();
    let from = db_now(po).await?;
    let start = Instant::now() + Duration::from_millis(20);
    let (mut issued, mut late, mut max_late, mut ran_out) = (0, 0, Duration::ZERO, false);
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let seat = seats.clone().acquire_owned().await?;
        let Some((order, step)) = ready.lock().expect("ready poisoned").pop_front() else {
            ran_out = true;
            break;
        };
        let lag = Instant::now().saturating_duration_since(due);
        (issued, late, max_late) = (issued + 1, late + usize::from(lag >= LATE), max_late.max(lag));
        let (operator, ready, outcome) = (operator.clone(), ready.clone(), outcome.clone());
        tasks.spawn(async move {
            let moved = operator.patch(order, MOVES[step]).await;
            drop(seat);
            match moved {
                Ok(()) if step + 1 < MOVES.len() => ready.lock().expect("ready poisoned").push_back((order, step + 1)),
                Ok(()) => {}
                Err(e) => {
                    let mut outcome = outcome.lock().expect("outcome poisoned");
                    outcome.failed += 1;
                    outcome.first_error.get_or_insert(e);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    let mut drive = std::mem::take(&mut *outcome.lock().expect("outcome poisoned"));
    drive.to = db_now(po).await?;
    Ok(Drive {
        rate,
        issued,
        late,
        max_late,
        ran_out,
        elapsed,
        from,
        ..drive
    })
}

impl Operator {
    async fn patch(&self, order: Uuid, status: &str) -> Result<(), String> {
        let response = self
            .client
            .patch(format!("{}/api/ops/orders/{order}/status", self.url))
            .bearer_auth(&self.token)
            .json(&json!({ "status": status }))
            .send()
            .await
            .map_err(|e| format!("PATCH status: {e}"))?;
        if response.status() != StatusCode::OK {
            let status = response.status();
            return Err(format!(
                "PATCH status: HTTP {status}: {}",
                response.text().await.unwrap_or_default()
            ));
        }
        Ok(())
    }
}

/// The phase's events as the databases recorded them.
pub struct Lags {
    pub events: usize,
    pub lost: usize,
    /// Outbox row created → customer's transaction about to commit.
    pub committed: Stats,
    /// Outbox row created → customer's transaction began (`applied_events.applied_at`).
    pub applied: Stats,
    /// Outbox row created → the relay's batch that published it began (`outbox.published_at`).
    pub picked: Stats,
    /// p99 of the committed lag of the events created in the phase's first and last second.
    pub first_second_p99: Duration,
    pub last_second_p99: Duration,
    /// The last commit after the last event's creation.
    pub drained_after: Duration,
    pub relay: Relay,
    /// The most events customer committed in any one second: its ceiling when it had a backlog.
    pub peak_commits: usize,
}

/// The most of `times` within any one second.
fn peak(mut times: Vec<DateTime<Utc>>) -> usize {
    times.sort_unstable();
    let mut first = 0;
    let mut most = 0;
    for (i, at) in times.iter().enumerate() {
        while since(times[first], *at) >= Duration::from_secs(1) {
            first += 1;
        }
        most = most.max(i + 1 - first);
    }
    most
}

/// The relay's batches, seen through `outbox.published_at` (the time each batch began).
#[derive(Default)]
pub struct Relay {
    pub batches: usize,
    pub largest: usize,
    /// Median time from the start of a batch of the largest size to the start of the next, per
    /// event in it: the relay's time per event when it is busy.
    pub per_event: Option<Duration>,
}

fn relay(published: &[DateTime<Utc>]) -> Relay {
    let mut batches: Vec<(DateTime<Utc>, usize)> = Vec::new();
    let mut starts = published.to_vec();
    starts.sort_unstable();
    for at in starts {
        match batches.last_mut() {
            Some((start, size)) if *start == at => *size += 1,
            _ => batches.push((at, 1)),
        }
    }
    let largest = batches.iter().map(|b| b.1).max().unwrap_or(0);
    let mut per_event: Vec<Duration> = batches
        .windows(2)
        .filter(|w| w[0].1 == largest && largest > 1)
        .map(|w| since(w[0].0, w[1].0) / largest as u32)
        .collect();
    per_event.sort_unstable();
    Relay {
        batches: batches.len(),
        largest,
        per_event: per_event.get(per_event.len() / 2).copied(),
    }
}

fn since(earlier: DateTime<Utc>, later: DateTime<Utc>) -> Duration {
    (later - earlier).to_std().unwrap_or_default()
}

/// Waits until customer has committed every event of the phase (or `LOST_AFTER`), then reads
/// both sides' times and joins them.
pub async fn collect(po: &PgPool, customer: &PgPool, drive: &Drive) -> anyhow::Result<Lags> {
    let rows: Vec<(Uuid, DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT id, created_at, published_at FROM outbox \
         WHERE routing_key = 'order.status_changed' AND created_at >= $1 AND created_at <= $2",
    )
    .bind(drive.from)
    .bind(drive.to)
    .fetch_all(po)
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let waiting = Instant::now();
    while waiting.elapsed() < LOST_AFTER {
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM bench_commits WHERE event_id = ANY($1)")
            .bind(&ids)
            .fetch_one(customer)
            .await?;
        if done as usize >= ids.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen: HashMap<Uuid, (DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT a.event_id, a.applied_at, c.committed_at FROM applied_events a \
         JOIN bench_commits c USING (event_id) WHERE a.event_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(customer)
    .await?
    .into_iter()
    .map(|(id, applied, committed)| (id, (applied, committed)))
    .collect();

    let first_created = rows.iter().map(|r| r.1).min().unwrap_or(drive.from);
    let last_created = rows.iter().map(|r| r.1).max().unwrap_or(drive.to);
    let (mut committed, mut applied, mut picked) = (Vec::new(), Vec::new(), Vec::new());
    let (mut first, mut last, mut last_commit) = (Vec::new(), Vec::new(), last_created);
    for (id, created, published) in &rows {
        if let Some(at) = published {
            picked.push(since(*created, *at));
        }
        let Some((applied_at, committed_at)) = seen.get(id) else {
            continue;
        };
        let lag = since(*created, *committed_at);
        committed.push(lag);
        applied.push(since(*created, *applied_at));
        last_commit = last_commit.max(*committed_at);
        if since(first_created, *created) < Duration::from_secs(1) {
            first.push(lag);
        }
        if since(*created, last_created) < Duration::from_secs(1) {
            last.push(lag);
        }
    }
    let lost = rows.len() - committed.len();
    let stats = |lags: Vec<Duration>, errors: usize| Stats::from_latencies(lags, errors, None, drive.elapsed);
    Ok(Lags {
        events: rows.len(),
        lost,
        committed: Stats {
            first_error: drive.first_error.clone(),
            ..stats(committed, lost + drive.failed)
        },
        applied: stats(applied, 0),
        picked: stats(picked, 0),
        first_second_p99: stats(first, 0).p99,
        last_second_p99: stats(last, 0).p99,
        drained_after: since(last_created, last_commit),
        relay: relay(&rows.iter().filter_map(|r| r.2).collect::<Vec<_>>()),
        peak_commits: peak(seen.values().map(|(_, committed)| *committed).collect()),
    })
}

/// A measured rate: what was sent, what arrived when, and the machine's load meanwhile.
pub struct Phase {
    pub drive: Drive,
    pub lags: Lags,
    pub load: String,
}

impl Phase {
    /// Ok when customer kept up with the rate; else why not.
    pub fn kept_up(&self) -> Result<(), String> {
        let (drive, lags) = (&self.drive, &self.lags);
        let mut why = Vec::new();
        if lags.lost > 0 {
            why.push(format!("{} lost", lags.lost));
        }
        if drive.late * 100 > drive.issued.max(1) {
            why.push(format!("schedule not kept: {} of {} late", drive.late, drive.issued));
        }
        if lags.drained_after > DRAIN {
            why.push(format!(
                "last event applied {:.1} s after the phase",
                lags.drained_after.as_secs_f64()
            ));
        }
        if lags.last_second_p99 > lags.first_second_p99 * 2 + Duration::from_millis(10) {
            why.push(format!(
                "lag grew: p99 {:.0} ms in the first second, {:.0} ms in the last",
                ms(lags.first_second_p99),
                ms(lags.last_second_p99)
            ));
        }
        if why.is_empty() { Ok(()) } else { Err(why.join(", ")) }
    }

    /// One line for the console.
    pub fn brief(&self) -> String {
        let s = &self.lags.committed;
        format!(
            "{}/s: {} events, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} lost, {} late; {}",
            self.drive.rate,
            self.lags.events,
            ms(s.p50),
            ms(s.p99),
            ms(s.max),
            self.lags.lost,
            self.drive.late,
            self.kept_up()
                .map_or_else(|why| format!("did not keep up ({why})"), |()| "kept up".into()),
        )
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
