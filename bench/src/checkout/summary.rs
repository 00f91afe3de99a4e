//! The checkout section of the report: its rows, their verdicts, and notes saying what was
//! measured and where the time went.

use std::time::Duration;

use super::loops::{LATE, Schedule};
use super::shoppers::EVENT_TIMEOUT;
use super::{HOT, MAX_P99, MIN_RATIO, SPREAD, STOCK, SagaCase};
use crate::load::Stats;
use crate::report::{Row, Section, Verdict};

/// What the notes say about the run besides the cases.
pub struct RunFacts {
    pub concurrency: usize,
    pub postgres: String,
    pub sign_up_time: Duration,
    pub pool_size: u32,
    pub saga_concurrency: usize,
    pub unmatched: usize,
}

fn errors_verdict(case: &SagaCase) -> Option<Verdict> {
    (case.stats.errors > 0).then(|| Verdict::Failed(format!("{} failed, {} timed out", case.failed, case.timed_out)))
}

pub fn section(
    facts: &RunFacts,
    max: SagaCase,
    half: Option<SagaCase>,
    schedule: Schedule,
    baseline: Stats,
    baseline_load: String,
) -> Section {
    let ratio = max.stats.per_second() / baseline.per_second();
    let max_verdict = errors_verdict(&max).unwrap_or(if ratio >= MIN_RATIO {
        Verdict::Met
    } else {
        Verdict::Missed(format!("saga / baseline {ratio:.2} < {MIN_RATIO:.2}"))
    });
    let mut notes = setup_notes(facts);
    notes.push(format!(
        "Highest rate: each of the {} shoppers checks out one order after another, so it counts setting its cart as \
         well. {}",
        facts.concurrency,
        describe(&max)
    ));
    let mut rows = vec![Row {
        case: "Checkout saga, highest rate (closed loop)".into(),
        via: "HTTP → saga → `order.placed`".into(),
        stats: max.stats.clone(),
        ratio: Some(ratio),
        verdict: max_verdict,
    }];
    match half {
        Some(half) => {
            notes.push(half_rate_note(&schedule, &half));
            let verdict = errors_verdict(&half).unwrap_or_else(|| half_rate_verdict(&schedule, &half));
            rows.push(Row {
                case: format!("Checkout saga, half rate (open loop at {:.1}/s)", schedule.rate),
                via: "HTTP → saga → `order.placed`".into(),
                stats: half.stats,
                ratio: None,
                verdict,
            });
        }
        None => notes.push("No checkout completed at the highest rate, so there is no half rate to run.".into()),
    }
    let baseline_verdict = if baseline.errors > 0 {
        Verdict::Failed(format!("{} errors", baseline.errors))
    } else {
        Verdict::Baseline
    };
    rows.push(Row {
        case: "Checkout as one SQL transaction".into(),
        via: "sqlx baseline".into(),
        stats: baseline,
        ratio: None,
        verdict: baseline_verdict,
    });
    notes.push(format!(
        "Saga / baseline throughput: {ratio:.2}× (goal ≥ {MIN_RATIO:.2}×); the p99 goal (< {} ms) applies at half rate.",
        MAX_P99.as_millis()
    ));
    notes.extend(method_notes(facts, &baseline_load));
    for row in &rows {
        if let Some(error) = &row.stats.first_error {
            notes.push(format!("First error of {} {}: {error}", row.case, row.via));
        }
    }
    Section {
        title: "Checkout".into(),
        counted: "Orders",
        ratio: "Saga / baseline",
        goal: format!(
            "Goal (≥ {MIN_RATIO:.2}× at the highest rate, p99 < {} ms at half rate)",
            MAX_P99.as_millis()
        ),
        rows,
        notes,
    }
}

/// What was set up and what a checkout is.
fn setup_notes(facts: &RunFacts) -> Vec<String> {
    vec![
        format!(
            "{HOT} hot and {SPREAD} spread products with {STOCK} units each, inserted with SQL, then `VACUUM (ANALYZE) \
             products`; {} shoppers signed up 4 at a time in {:.1} s before measuring; PostgreSQL {}.",
            facts.concurrency,
            facts.sign_up_time.as_secs_f64(),
            facts.postgres
        ),
        format!(
            "A checkout: the shopper's cart is set in product-order's database with the statement the baseline fills its own \
             with (one unit \
             of a random hot product, 1 to 3 of a random spread product; not measured), then `POST /api/checkout` with a fresh `Idempotency-Key`; \
             measured from just before the POST until its `order.placed` arrives on the benchmark's own queue bound to \
             `shop.events` (matched by `customer_id` and lines; the saga's last step ends once RabbitMQ confirmed the \
             event). No event within {} s counts as timed out.",
            EVENT_TIMEOUT.as_secs()
        ),
    ]
}

/// How the baseline is built and what the services ran with.
fn method_notes(facts: &RunFacts, baseline_load: &str) -> Vec<String> {
    let mut notes = vec![
        format!(
            "Baseline: {} clients, each with a customer id of its own, run one transaction after another through a pool \
             of {} connections: take the stock of each line (`UPDATE products SET stock = stock - $q … WHERE id = $p AND \
             active AND stock >= $q`, in product-id order), insert the order and its lines (the columns of \
             `orders::store::place`), delete the cart lines, insert the `order.placed` outbox row; commit. The cart \
             lines are inserted before each (not measured). The saga does more: its instance, attempts and queue jobs, \
             `stock_reservations`, `order_status_changes`, and the publish with a broker confirm. During it \
             {baseline_load}.",
            facts.concurrency, facts.concurrency
        ),
        format!(
            "Product-order runs with its default settings: a database pool of {} connections, and its saga worker \
             drives {} instances at once; customer's order history is off (what is measured ends at RabbitMQ's \
             confirm). The load generator and the event consumer run in the same process as the shop and compete \
             with it, PostgreSQL and RabbitMQ for the machine's cores.",
            facts.pool_size, facts.saga_concurrency
        ),
    ];
    if facts.unmatched > 0 {
        notes.push(format!(
            "{} `order.placed` events matched no waiting shopper: other shops' on the same broker (tests running \
             meanwhile), or late ones after a timeout.",
            facts.unmatched
        ));
    }
    notes
}

fn half_rate_verdict(schedule: &Schedule, half: &SagaCase) -> Verdict {
    let mut why = Vec::new();
    if schedule.abandoned {
        why.push("schedule abandoned".to_owned());
    } else if schedule.late * 100 > schedule.started {
        why.push(format!(
            "schedule not kept: {} of {} late",
            schedule.late, schedule.started
        ));
    }
    if half.stats.p99 >= MAX_P99 {
        why.push(format!("p99 ≥ {} ms", MAX_P99.as_millis()));
    }
    if why.is_empty() {
        Verdict::Met
    } else {
        Verdict::Missed(why.join(", "))
    }
}

fn half_rate_note(schedule: &Schedule, half: &SagaCase) -> String {
    let kept = if schedule.abandoned {
        "no shopper was free for a minute, so the schedule was abandoned".to_owned()
    } else if schedule.late == 0 {
        format!(
            "every checkout started on schedule (within {} ms; latest {:.1} ms late)",
            LATE.as_millis(),
            schedule.max_lag.as_secs_f64() * 1e3
        )
    } else {
        format!(
            "{} of {} checkouts started {} ms or more after their due time (latest {:.1} ms late): the schedule was \
             not kept",
            schedule.late,
            schedule.started,
            LATE.as_millis(),
            schedule.max_lag.as_secs_f64() * 1e3
        )
    };
    format!(
        "Half rate: {} checkouts due at even intervals ({:.1}/s), each taken by a shopper whose cart is ready and who \
         has none in flight; {kept}. {}",
        schedule.started,
        schedule.rate,
        describe(half)
    )
}

/// Errors, the 202's latency and where the time went, for a note.
fn describe(case: &SagaCase) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "{} failed, {} timed out. `POST /api/checkout` answered 202 in p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms. \
         Each order's time by part, from the saga's records of its checkout (mean / p50 / p99 / max ms): {}. \
         Meanwhile {}.",
        case.failed,
        case.timed_out,
        ms(case.answered.p50),
        ms(case.answered.p99),
        ms(case.answered.max),
        case.parts,
        case.load
    )
}
