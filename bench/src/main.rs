//! The shop's benchmarks, each against a baseline measured in the same run.
//!
//! ```text
//! cargo run --release -p bench -- catalog [--products 100000] [--concurrency 32] [--seconds 10]
//!                                         [--warmup 2] [--out bench-results.md] [--keep-db]
//! cargo run --release -p bench -- checkout [--concurrency 32] [--seconds 10] [--warmup 2] ...
//! cargo run --release -p bench -- events   [--seconds 10] [--warmup 2] [--concurrency 32] ...
//! cargo run --release -p bench -- pages    [--seconds 10] [--warmup 2] [--concurrency 32] ...
//! cargo run --release -p bench -- all      (every benchmark: a summary table, then one each)
//! ```
//!
//! The shop runs in this process (testkit finds local PostgreSQL and RabbitMQ, or starts
//! containers) on fresh databases; results are printed as a Markdown table and written to `--out`.

mod catalog;
mod checkout;
mod events;
mod load;
mod pages;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
usage: bench <command> [options]

commands:
  catalog   GET /api/products (first page, deep page by cursor, search) and the web product
            list, each against the same query issued straight to PostgreSQL through sqlx
  checkout  shoppers checking out through the saga, POST /api/checkout to order.placed
            confirmed, at the highest rate and at half of it, against the same checkout as
            one SQL transaction through sqlx
  events    order events from product-order's outbox to customer's read model: operator status
            changes on a schedule at rising rates, lag from outbox row to customer's commit,
            against a plain lapin publisher and consumer at 500 events/s
  pages     the web pages shoppers see most (product list, product, cart, order), each
            against the API call that carries its content, straight to the service
  all       every benchmark above on fresh databases: one summary table (each figure, its
            same-run baseline, the ratio), then each benchmark's own table

options:
  --products N      products to load for catalog (default 100000)
  --concurrency N   concurrent clients, shoppers for checkout (default 32)
  --seconds N       measured seconds per case (default 10)
  --warmup N        warm-up seconds per case, not measured (default 2)
  --out PATH        Markdown file to write (default bench-results.md)
  --keep-db         keep the benchmark's databases afterwards (to look at them by hand)
";

/// What every benchmark is run with.
#[derive(Debug, Clone)]
pub struct Options {
    pub products: usize,
    pub concurrency: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub out: PathBuf,
    pub keep_db: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            products: 100_000,
            concurrency: 32,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            out: PathBuf::from("bench-results.md"),
            keep_db: false,
        }
    }
}

enum Command {
    Catalog,
    Checkout,
    Events,
    Pages,
    All,
}

fn parse(args: &[String]) -> Result<(Command, Options), String> {
    let mut args = args.iter();
    let command = match args.next().map(String::as_str) {
        Some("catalog") => Command::Catalog,
        Some("checkout") => Command::Checkout,
        Some("events") => Command::Events,
        Some("pages") => Command::Pages,
        Some("all") => Command::All,
        Some(other) => return Err(format!("unknown command {other:?}")),
        None => return Err("no command given".to_owned()),
    };
    let mut options = Options::default();
    while let Some(flag) = args.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (flag.as_str(), None),
        };
        if name == "--keep-db" {
            options.keep_db = true;
            continue;
        }
        let value = match inline.or_else(|| args.next().cloned()) {
            Some(value) => value,
            None => return Err(format!("{name} needs a value")),
        };
        let number = |value: &str| -> Result<u64, String> {
            value
                .replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("{name} takes a whole number, not {value:?}"))
        };
        match name {
            "--products" => options.products = number(&value)? as usize,
            "--concurrency" => options.concurrency = number(&value)?.max(1) as usize,
            "--seconds" => options.duration = Duration::from_secs(number(&value)?.max(1)),
            "--warmup" => options.warmup = Duration::from_secs(number(&value)?),
            "--out" => options.out = PathBuf::from(value),
            _ => return Err(format!("unknown option {name:?}")),
        }
    }
    Ok((command, options))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (command, options) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("bench: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = runtime.block_on(async {
        let mut sections = Vec::new();
        if matches!(command, Command::Catalog | Command::All) {
            sections.push(catalog::run(&options).await?);
        }
        if matches!(command, Command::Checkout | Command::All) {
            sections.push(checkout::run(&options).await?);
        }
        if matches!(command, Command::Events | Command::All) {
            sections.push(events::run(&options).await?);
        }
        if matches!(command, Command::Pages | Command::All) {
            sections.push(pages::run(&options).await?);
        }
        report::write(&options, &load, &sections)
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("bench: at least one case failed or missed its goal (see the table)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::from(2)
        }
    }
}
