//! The events section of the report: one row per rate, the baseline, and notes saying what
//! was measured, how each rate went and where the time goes.

use std::time::Duration;

use super::baseline::Baseline;
use super::phase::{DRAIN, LATE, LOST_AFTER, MAX_IN_FLIGHT, Phase, ms};
use super::pool::Facts;
use super::{GOAL_RATE, MAX_P99, MOVES, RATES};
use crate::report::{Row, Section, Verdict};

/// What the notes say about the run besides the phases.
pub struct RunFacts {
    pub postgres: String,
    pub shoppers: usize,
    pub pool: Facts,
    pub phase_length: Duration,
    pub po_connections: u32,
    pub customer_connections: u32,
}

const VIA: &str = "PATCH → outbox → relay → RabbitMQ → customer";

pub fn section(facts: &RunFacts, phases: &[Phase], baseline: Baseline) -> Section {
    let baseline_p99 = baseline.as_ref().ok().filter(|b| b.errors == 0).map(|b| b.p99);
    let mut rows = Vec::new();
    let mut notes = setup_notes(facts);
    for phase in phases {
        let at_goal = phase.drive.rate == GOAL_RATE;
        let stats = &phase.lags.committed;
        let ratio = baseline_p99
            .filter(|_| at_goal)
            .map(|b| stats.p99.as_secs_f64() / b.as_secs_f64());
        rows.push(Row {
            case: format!("{} events/s (open loop)", phase.drive.rate),
            via: VIA.into(),
            stats: stats.clone(),
            ratio,
            verdict: verdict(phase, at_goal),
        });
        notes.push(phase_note(phase));
    }
    let highest = phases.iter().rev().find(|p| p.kept_up().is_ok()).map(|p| p.drive.rate);
    let untried: Vec<String> = RATES[phases.len()..].iter().map(|r| format!("{r}/s")).collect();
    notes.push(format!(
        "Highest rate customer kept up with: {}.{}",
        highest.map_or_else(|| "none of those tried".to_owned(), |r| format!("{r} events/s")),
        if untried.is_empty() {
            String::new()
        } else {
            format!(
                " Not run: {} (past the goal's rate the ladder stops after two rates in a row not kept up with, \
                 or when the orders run out).",
                untried.join(", ")
            )
        }
    ));
    match baseline {
        Ok(stats) => {
            if let Some(b) = baseline_p99 {
                let pipeline = phases.iter().find(|p| p.drive.rate == GOAL_RATE);
                if let Some(p) = pipeline {
                    notes.push(format!(
                        "Pipeline / baseline p99 at {GOAL_RATE}/s: {:.1} ms / {:.1} ms = {:.2}×.",
                        ms(p.lags.committed.p99),
                        ms(b),
                        p.lags.committed.p99.as_secs_f64() / b.as_secs_f64()
                    ));
                }
            }
            let verdict = match &stats.first_error {
                Some(e) => Verdict::Failed(e.clone()),
                None => Verdict::Baseline,
            };
            rows.push(Row {
                case: format!("{GOAL_RATE} events/s, plain publish → consume"),
                via: "lapin + sqlx baseline".into(),
                stats,
                ratio: None,
                verdict,
            });
        }
        Err(e) => notes.push(format!("No baseline: it failed to run: {e}")),
    }
    notes.push(baseline_note(facts));
    for row in &rows {
        if let Some(error) = &row.stats.first_error {
            notes.push(format!("First error of {} {}: {error}", row.case, row.via));
        }
    }
    Section {
        title: "Events".into(),
        counted: "Events",
        ratio: "Pipeline / baseline p99",
        goal: format!("Goal (p99 < {} ms at {GOAL_RATE}/s); kept up?", MAX_P99.as_millis()),
        rows,
        notes,
    }
}

fn verdict(phase: &Phase, at_goal: bool) -> Verdict {
    let kept = phase.kept_up();
    if phase.lags.lost > 0 || phase.drive.failed > 0 {
        return Verdict::Failed(format!(
            "{} lost, {} PATCHes failed",
            phase.lags.lost, phase.drive.failed
        ));
    }
    let kept_text = kept
        .clone()
        .map_or_else(|why| format!("did not keep up: {why}"), |()| "kept up".into());
    if !at_goal {
        return Verdict::Info(kept_text);
    }
    match (phase.lags.committed.p99 < MAX_P99, kept) {
        (true, Ok(())) => Verdict::Info(format!("met; {kept_text}")),
        (true, Err(_)) => Verdict::Missed(kept_text),
        (false, _) => Verdict::Missed(format!("p99 ≥ {} ms; {kept_text}", MAX_P99.as_millis())),
    }
}

fn setup_notes(facts: &RunFacts) -> Vec<String> {
    vec![
        format!(
            "Before measuring, {} shoppers placed {} orders through the real checkout ({} checkouts failed) and \
             customer applied their `order.placed`, in {:.1} s; PostgreSQL {}.",
            facts.shoppers,
            facts.pool.orders,
            facts.pool.failed,
            facts.pool.took.as_secs_f64(),
            facts.postgres
        ),
        format!(
            "Each rate: an operator's `PATCH /api/ops/orders/{{id}}/status` due at even intervals for {} s (open loop), \
             each sent by a task of its own, at most {MAX_IN_FLIGHT} in flight; each order moves {} in turn, one \
             `order.status_changed` per PATCH, its next move queued behind every other ready order. A phase ends early \
             when no order is left to move. Lag of an event = customer's commit of its effect − product-order's \
             `outbox.created_at` (taken inside the PATCH's transaction, its last statement before COMMIT); both from \
             the one PostgreSQL server's clock. `applied_events.applied_at` is `now()`, the time customer's \
             transaction *began*, so the bench adds a deferred constraint trigger on `applied_events` in its own fresh \
             customer database that notes `clock_timestamp()` during COMMIT; the \"applied_at\" figures below are the \
             lag by `applied_at` as the schema records it. Events not committed {} s after the phase count as lost \
             (Errors counts lost events and failed PATCHes).",
            facts.phase_length.as_secs(),
            MOVES.join(" → "),
            LOST_AFTER.as_secs()
        ),
        format!(
            "Kept up: nothing lost, ≤ 1% of PATCHes sent {} ms or more late, every event committed within {} s of the \
             phase's last one, and the p99 of the last second's events ≤ 2 × the first second's + 10 ms.",
            LATE.as_millis(),
            DRAIN.as_secs()
        ),
    ]
}

fn phase_note(phase: &Phase) -> String {
    let (d, l) = (&phase.drive, &phase.lags);
    let q = |s: &crate::load::Stats| format!("{:.1} / {:.1} / {:.1}", ms(s.p50), ms(s.p99), ms(s.max));
    format!(
        "{}/s: {} PATCHes in {:.1} s{}; {} sent {} ms or more late (latest {:.1} ms). Lag p50 / p99 / max ms: to \
         customer's commit {}; by `applied_at` {}; created → the relay's batch that published it began \
         (`published_at`) {}; the relay published them in {} batches of up to {}{}. p99 of the first second's events {:.1} ms, of the last second's {:.1} ms; last commit \
         {:.2} s after the last event was created; customer committed at most {} events in any one second. Meanwhile {}.",
        d.rate,
        d.issued,
        d.elapsed.as_secs_f64(),
        if d.ran_out { " (orders ran out)" } else { "" },
        d.late,
        LATE.as_millis(),
        ms(d.max_late),
        q(&l.committed),
        q(&l.applied),
        q(&l.picked),
        l.relay.batches,
        l.relay.largest,
        l.relay.per_event.map_or_else(String::new, |t| format!(
            ", a full batch taking {:.2} ms per event (median; the relay's ceiling is about {:.0} events/s)",
            ms(t),
            1.0 / t.as_secs_f64()
        )),
        ms(l.first_second_p99),
        ms(l.last_second_p99),
        l.drained_after.as_secs_f64(),
        l.peak_commits,
        phase.load
    )
}

fn baseline_note(facts: &RunFacts) -> String {
    format!(
        "Baseline: `order.status_changed` bodies published on the same schedule ({GOAL_RATE}/s) straight to a \
         durable quorum queue of the bench's own (one confirm-mode channel, each publish awaiting its confirm \
         concurrently), consumed with prefetch 32 (as customer's), each delivery inserted into a scratch table in \
         customer's database in a transaction of its own through {} connections, then acked; lag from just before \
         the publish to the commit returning. The pipeline adds the PATCH's transaction before it, the relay \
         (one publish at a time, each awaiting its confirm), the topic exchange, and customer's apalis workers and \
         four-statement transaction. Services run with testkit's settings: product-order's pool has {} \
         connections, customer's {}; the load generator runs in the same process as the shop.",
        facts.customer_connections, facts.po_connections, facts.customer_connections
    )
}
