//! The Markdown report: a header line saying what was run where, then one table per benchmark.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;

use crate::Options;
use crate::catalog::{MAX_P99, MIN_RATIO};
use crate::load::Stats;

/// One benchmark's results.
pub struct Section {
    pub title: String,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

/// One measured case.
pub struct Row {
    pub case: String,
    pub via: String,
    pub stats: Stats,
    /// This row's rate over its same-run baseline's.
    pub ratio: Option<f64>,
    pub verdict: Verdict,
}

pub enum Verdict {
    Met,
    Missed(String),
    Failed(String),
    Baseline,
    NoGoal,
}

impl Verdict {
    fn ok(&self) -> bool {
        !matches!(self, Verdict::Missed(_) | Verdict::Failed(_))
    }

    fn text(&self) -> String {
        match self {
            Verdict::Met => "met".into(),
            Verdict::Missed(why) => format!("**missed** ({why})"),
            Verdict::Failed(why) => format!("**FAILED** ({why})"),
            Verdict::Baseline => "baseline".into(),
            Verdict::NoGoal => "no baseline".into(),
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Renders `sections`, prints them and writes them to `options.out`; true when every case
/// succeeded and met its goal.
/// `load` is the load average before the run: other work on the machine skews every figure.
pub fn write(options: &Options, load: &str, sections: &[Section]) -> anyhow::Result<bool> {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let command: Vec<String> = std::env::args().skip(1).collect();
    let mut md = String::from("# Benchmarks\n\n");
    writeln!(
        md,
        "{} · {} CPU cores (nproc), load average {} before the run · {} products · {} concurrent clients · {} s per case after {} s warm-up · \
         `cargo run --release -p bench -- {}`\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        cores,
        load,
        options.products,
        options.concurrency,
        options.duration.as_secs(),
        options.warmup.as_secs(),
        command.join(" "),
    )?;
    let mut ok = true;
    for section in sections {
        writeln!(md, "## {}\n", section.title)?;
        writeln!(
            md,
            "| Case | Via | Requests | req/s | p50 ms | p99 ms | max ms | Errors | API / baseline | Goal (≥ {MIN_RATIO:.2}×, p99 < {} ms) |",
            MAX_P99.as_millis()
        )?;
        writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|")?;
        for row in &section.rows {
            ok &= row.verdict.ok();
            let s = &row.stats;
            writeln!(
                md,
                "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} |",
                row.case,
                row.via,
                s.requests,
                s.per_second(),
                ms(s.p50),
                ms(s.p99),
                ms(s.max),
                s.errors,
                row.ratio.map_or_else(|| "—".to_owned(), |r| format!("{r:.2}×")),
                row.verdict.text(),
            )?;
        }
        md.push('\n');
        for note in &section.notes {
            writeln!(md, "- {note}")?;
        }
        md.push('\n');
    }
    print!("{md}");
    std::fs::write(&options.out, &md).with_context(|| format!("writing {}", options.out.display()))?;
    eprintln!("bench: wrote {}", options.out.display());
    Ok(ok)
}
