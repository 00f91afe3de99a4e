//! Where the time goes: the saga's own records of each checkout (when its instance was
//! created, when each of its steps started and ended), PostgreSQL's commits, and the machine's
//! CPU over a phase.

use std::fmt::Write as _;
use std::time::Instant;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::shoppers::Trace;

/// Counters read at the start of a phase, to compare with its end.
pub struct Mark {
    at: Instant,
    commits: i64,
    cpu: Cpu,
}

/// Clock ticks from /proc: the machine's (busy, I/O wait, all) and this process's (the shop
/// and the load generator).
#[derive(Default, Clone, Copy)]
struct Cpu {
    busy: u64,
    iowait: u64,
    total: u64,
    own: u64,
}

impl Cpu {
    fn now() -> Self {
        let mut cpu = Cpu::default();
        if let Ok(stat) = std::fs::read_to_string("/proc/stat")
            && let Some(line) = stat.lines().next()
        {
            // cpu user nice system idle iowait irq softirq steal ...
            let ticks: Vec<u64> = line.split_whitespace().skip(1).filter_map(|t| t.parse().ok()).collect();
            cpu.total = ticks.iter().take(8).sum();
            cpu.iowait = ticks.get(4).copied().unwrap_or(0);
            cpu.busy = cpu.total - ticks.get(3).copied().unwrap_or(0) - cpu.iowait;
        }
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
            && let Some((_, rest)) = stat.rsplit_once(')')
        {
            // Fields after the command: state is 3rd, utime 14th, stime 15th.
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
            cpu.own = field(14) + field(15);
        }
        cpu
    }
}

async fn commits(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

impl Mark {
    pub async fn now(pool: &PgPool) -> Self {
        Self {
            at: Instant::now(),
            commits: commits(pool).await,
            cpu: Cpu::now(),
        }
    }

    /// The machine's CPU and the database's commits since this mark, per `done` units of work
    /// (`unit`: "order", "event"). Backends report their commits up to a second late, so the
    /// count is approximate.
    pub async fn load_since(&self, pool: &PgPool, done: usize, unit: &str) -> String {
        let (cpu, elapsed) = (Cpu::now(), self.at.elapsed());
        let commits = commits(pool).await - self.commits;
        // Ticks of every core: the process's ticks over these are its share of the machine.
        let total = cpu.total.saturating_sub(self.cpu.total).max(1) as f64;
        let share = |ticks: u64| 100.0 * ticks as f64 / total;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let per_order = |ticks: u64| ticks as f64 / total * cores * elapsed.as_secs_f64() * 1e3 / done.max(1) as f64;
        let (busy, own) = (
            cpu.busy.saturating_sub(self.cpu.busy),
            cpu.own.saturating_sub(self.cpu.own),
        );
        format!(
            "the CPU was {:.0}% busy ({:.0}% in this process, i.e. the shop and the load generator; the rest is \
             PostgreSQL, RabbitMQ and whatever else runs on the machine) and {:.0}% waiting for I/O: {:.1} ms of CPU \
             per {unit}, {:.1} ms of it in this process; product-order's database committed about {:.1} transactions \
             per {unit}",
            share(busy),
            share(own),
            share(cpu.iowait.saturating_sub(self.cpu.iowait)),
            per_order(busy),
            per_order(own),
            commits as f64 / done.max(1) as f64,
        )
    }
}

/// Where the time of `traces` went, by part, from the saga's records: mean / p50 / p99 / max
/// of each, then the slowest checkout's parts.
pub async fn saga_parts(pool: &PgPool, traces: &[Trace]) -> anyhow::Result<String> {
    let ids: Vec<Uuid> = traces.iter().map(|t| t.checkout_id).collect();
    let sent: Vec<DateTime<Utc>> = traces.iter().map(|t| t.sent).collect();
    let arrived: Vec<DateTime<Utc>> = traces
        .iter()
        .map(|t| t.sent + chrono::Duration::from_std(t.latency).unwrap_or_default())
        .collect();
    let parts = "WITH s AS (SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[]) AS s(id, sent, arrived)), \
         i AS (SELECT s.*, i.created_at FROM s JOIN saga.instances i ON i.id = s.id), \
         a AS (SELECT a.instance_id, a.step, a.step_name, a.started_at, a.ended_at FROM saga.attempts a \
               JOIN s ON s.id = a.instance_id WHERE a.phase = 'forward' AND a.outcome = 'succeeded'), \
         parts AS ( \
             SELECT id, 'POST sent → its transaction began' AS part, -2 AS step, created_at - sent AS t FROM i \
             UNION ALL \
             SELECT i.id, 'transaction began → first step began', -1, min(a.started_at) - i.created_at \
             FROM i JOIN a ON a.instance_id = i.id GROUP BY i.id, i.created_at \
             UNION ALL \
             SELECT instance_id, step_name, step, ended_at - started_at FROM a \
             UNION ALL \
             SELECT i.id, 'last step recorded → event arrived', 1000, i.arrived - max(a.ended_at) \
             FROM i JOIN a ON a.instance_id = i.id GROUP BY i.id, i.arrived) ";
    let summary: Vec<(String, f64, f64, f64, f64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{parts} SELECT part, avg(ms), percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms) \
         FROM (SELECT part, step, extract(epoch FROM t)::float8 * 1000 AS ms FROM parts) p \
         GROUP BY part, step ORDER BY step"
    )))
    .bind(&ids)
    .bind(&sent)
    .bind(&arrived)
    .fetch_all(pool)
    .await?;
    let mut text = String::new();
    for (part, mean, p50, p99, max) in summary {
        let gap = if text.is_empty() { "" } else { "; " };
        let _ = write!(text, "{gap}{part} {mean:.1} / {p50:.1} / {p99:.1} / {max:.1}");
    }
    let Some(slowest) = traces.iter().max_by_key(|t| t.latency) else {
        return Ok(text);
    };
    let slow: Vec<(String, f64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{parts} SELECT part, extract(epoch FROM t)::float8 * 1000 FROM parts WHERE id = $4 ORDER BY step"
    )))
    .bind(&ids)
    .bind(&sent)
    .bind(&arrived)
    .bind(slowest.checkout_id)
    .fetch_all(pool)
    .await?;
    let slow: Vec<String> = slow.iter().map(|(part, ms)| format!("{part} {ms:.1}")).collect();
    let _ = write!(
        text,
        ". The slowest ({:.1} ms, answered in {:.1} ms): {}",
        slowest.latency.as_secs_f64() * 1e3,
        slowest.answered.as_secs_f64() * 1e3,
        slow.join(", ")
    );
    Ok(text)
}
