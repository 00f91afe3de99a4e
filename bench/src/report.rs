//! The Markdown report: a header line saying what was run where, then one table per benchmark;
//! when several ran, a summary table first with every figure beside its same-run baseline.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;

use crate::Options;
use crate::load::Stats;

/// One benchmark's results.
pub struct Section {
    pub title: String,
    /// What the count column counts ("Requests", "Orders").
    pub counted: &'static str,
    /// The heading of the ratio column ("API / baseline").
    pub ratio: &'static str,
    /// The heading of the goal column, stating the goal.
    pub goal: String,
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
    /// No goal of its own; the text says how the case went.
    Info(String),
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
            Verdict::Info(text) => text.clone(),
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Renders `sections`, prints them and writes them to `options.out`, in place of the file's
/// sections of the same titles (the others stay); true when every case succeeded and met its
/// goal. `load` is the load average before the run: other work on the machine skews every
/// figure.
pub fn write(options: &Options, load: &str, sections: &[Section]) -> anyhow::Result<bool> {
    let run = run_line(options, load);
    let mut ok = true;
    let mut fresh = Vec::new();
    if sections.len() > 1 {
        let text = summary(sections, &run)?;
        print!("{text}");
        fresh.push((SUMMARY.to_owned(), text));
    }
    for section in sections {
        ok &= section.rows.iter().all(|row| row.verdict.ok());
        let text = render(section, &run)?;
        print!("{text}");
        fresh.push((section.title.clone(), text));
    }
    let previous = std::fs::read_to_string(&options.out).unwrap_or_default();
    let md = merge(&previous, fresh);
    std::fs::write(&options.out, &md).with_context(|| format!("writing {}", options.out.display()))?;
    eprintln!("bench: wrote {}", options.out.display());
    Ok(ok)
}

/// What was run where, above each section's table.
fn run_line(options: &Options, load: &str) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let command: Vec<String> = std::env::args().skip(1).collect();
    format!(
        "{} · {} CPU cores (nproc), load average {} before the run · {} concurrent clients · {} s per case after {} s \
         warm-up · `cargo run --release -p bench -- {}`",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        cores,
        load,
        options.concurrency,
        options.duration.as_secs(),
        options.warmup.as_secs(),
        command.join(" "),
    )
}

const SUMMARY: &str = "Summary";

/// Every case of every section in one table, each beside its same-run baseline: the first
/// baseline row at or after it in its section, else the last one before it.
fn summary(sections: &[Section], run: &str) -> anyhow::Result<String> {
    let mut md = String::new();
    writeln!(md, "## {SUMMARY}\n\n{run}\n")?;
    writeln!(
        md,
        "| Benchmark | Case | Via | per s | p99 ms | Same-run baseline | per s | p99 ms | Ratio | Verdict |"
    )?;
    writeln!(md, "|---|---|---|---:|---:|---|---:|---:|---|---|")?;
    for section in sections {
        let is_baseline = |row: &&Row| matches!(row.verdict, Verdict::Baseline);
        let mut case = String::new();
        for (i, row) in section.rows.iter().enumerate() {
            if !row.case.is_empty() {
                case = row.case.clone();
            }
            if is_baseline(&row) {
                continue;
            }
            // A case that says it has none gets none.
            let baseline = if matches!(row.verdict, Verdict::NoGoal) {
                None
            } else {
                section.rows[i..]
                    .iter()
                    .find(is_baseline)
                    .or_else(|| section.rows[..i].iter().rev().find(is_baseline))
            };
            let (via, rate, p99) = baseline.map_or_else(
                || ("—".to_owned(), "—".to_owned(), "—".to_owned()),
                |b| (b.via.clone(), format!("{:.0}", b.stats.per_second()), ms(b.stats.p99)),
            );
            writeln!(
                md,
                "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} |",
                section.title,
                case,
                row.via,
                row.stats.per_second(),
                ms(row.stats.p99),
                via,
                rate,
                p99,
                row.ratio
                    .map_or_else(|| "—".to_owned(), |r| format!("{r:.2}× ({})", section.ratio)),
                row.verdict.text(),
            )?;
        }
    }
    writeln!(
        md,
        "\nEach benchmark's own table below says what its cases and baselines do.\n"
    )?;
    Ok(md)
}

fn render(section: &Section, run: &str) -> anyhow::Result<String> {
    let mut md = String::new();
    writeln!(md, "## {}\n\n{run}\n", section.title)?;
    writeln!(
        md,
        "| Case | Via | {} | per s | p50 ms | p99 ms | max ms | Errors | {} | {} |",
        section.counted, section.ratio, section.goal
    )?;
    writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|")?;
    for row in &section.rows {
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
    Ok(md)
}

/// The `previous` file's sections (`## Title` to the next) with `fresh` ones in place of those
/// of the same title, new titles last.
fn merge(previous: &str, fresh: Vec<(String, String)>) -> String {
    let mut preamble = String::new();
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in previous.lines() {
        match (line.strip_prefix("## "), sections.last_mut()) {
            (Some(title), _) => sections.push((title.to_owned(), format!("{line}\n"))),
            (None, Some((_, text))) => writeln!(text, "{line}").expect("writing to a String"),
            (None, None) => writeln!(preamble, "{line}").expect("writing to a String"),
        }
    }
    // Files from before each section had a run line of its own keep it above the first one.
    let shared_run = preamble.lines().find(|l| !l.is_empty() && !l.starts_with('#'));
    if let Some(run) = shared_run {
        for (title, text) in &mut sections {
            let first = text.lines().skip(1).find(|l| !l.is_empty());
            if first.is_some_and(|l| l.starts_with('|')) {
                *text = text.replacen(&format!("## {title}\n"), &format!("## {title}\n\n{run}\n"), 1);
            }
        }
    }
    for (title, text) in fresh {
        match sections.iter_mut().find(|(t, _)| *t == title) {
            Some(section) => section.1 = text,
            None => sections.push((title, text)),
        }
    }
    // The summary of the latest run of them all comes first.
    sections.sort_by_key(|(title, _)| title != SUMMARY);
    let mut md = String::from("# Benchmarks\n\n");
    for (_, text) in sections {
        md.push_str(text.trim_end());
        md.push_str("\n\n");
    }
    md.truncate(md.trim_end().len());
    md.push('\n');
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(case: &str, via: &str, requests: usize, ratio: Option<f64>, verdict: Verdict) -> Row {
        Row {
            case: case.into(),
            via: via.into(),
            stats: Stats::from_latencies(
                vec![Duration::from_millis(4); requests],
                0,
                None,
                Duration::from_secs(1),
            ),
            ratio,
            verdict,
        }
    }

    #[test]
    fn the_summary_puts_each_case_beside_its_baseline() {
        let section = |title: &str, rows| Section {
            title: title.into(),
            counted: "Requests",
            ratio: "API / baseline",
            goal: "Goal".into(),
            rows,
            notes: Vec::new(),
        };
        let sections = [
            section(
                "Catalog",
                vec![
                    row("First page", "HTTP API", 300, Some(0.75), Verdict::Met),
                    row("", "sqlx baseline", 400, None, Verdict::Baseline),
                    row("Search", "HTTP API", 100, Some(0.5), Verdict::Missed("slow".into())),
                    row("", "sqlx baseline two", 200, None, Verdict::Baseline),
                    row("Web list", "web", 90, None, Verdict::NoGoal),
                ],
            ),
            section(
                "Checkout",
                vec![
                    row("Saga", "HTTP", 50, Some(0.25), Verdict::Met),
                    row("Half rate", "HTTP", 25, None, Verdict::Met),
                    row("SQL", "sqlx baseline", 200, None, Verdict::Baseline),
                ],
            ),
        ];
        let md = summary(&sections, "run").unwrap();
        let lines: Vec<&str> = md
            .lines()
            .filter(|l| l.starts_with("| Catalog") || l.starts_with("| Checkout"))
            .collect();
        assert_eq!(
            lines,
            [
                "| Catalog | First page | HTTP API | 300 | 4.00 | sqlx baseline | 400 | 4.00 | 0.75× (API / baseline) | met |",
                "| Catalog | Search | HTTP API | 100 | 4.00 | sqlx baseline two | 200 | 4.00 | 0.50× (API / baseline) | **missed** (slow) |",
                "| Catalog | Web list | web | 90 | 4.00 | — | — | — | — | no baseline |",
                "| Checkout | Saga | HTTP | 50 | 4.00 | sqlx baseline | 200 | 4.00 | 0.25× (API / baseline) | met |",
                "| Checkout | Half rate | HTTP | 25 | 4.00 | sqlx baseline | 200 | 4.00 | — | met |",
            ]
        );
        let merged = merge("# Benchmarks\n\n## Catalog\n\nold\n", vec![(SUMMARY.into(), md)]);
        assert!(merged.starts_with("# Benchmarks\n\n## Summary\n"), "{merged}");
    }

    #[test]
    fn a_fresh_section_replaces_its_namesake_and_the_others_stay() {
        let previous = "# Benchmarks\n\nold run\n\n## Catalog\n\n| a |\n\n- note\n\n## Checkout\n\nrun 1\n\n| b |\n";
        let merged = merge(
            previous,
            vec![("Checkout".into(), "## Checkout\n\nrun 2\n\n| c |\n\n".into())],
        );
        assert_eq!(
            merged,
            "# Benchmarks\n\n## Catalog\n\nold run\n\n| a |\n\n- note\n\n## Checkout\n\nrun 2\n\n| c |\n"
        );
        let added = merge("", vec![("Checkout".into(), "## Checkout\n\n| c |\n".into())]);
        assert_eq!(added, "# Benchmarks\n\n## Checkout\n\n| c |\n");
    }
}
