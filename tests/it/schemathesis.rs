//! schemathesis (from PyPI) against each service's API as it serves it, with every check on:
//! no server error, and every answer's status, content type, headers and body as the
//! description says; data the description allows is accepted (but where `schemathesis.toml`
//! names a secret-dependent rule) and data it forbids refused. As an operator for the operator
//! operations, as a shopper for the rest, and "log out everywhere" with a session of its own
//! (it ends the caller's sessions). The seed is printed; `SHOP_SCHEMATHESIS_SEED` replays one.

use std::process::Command;

use crate::helpers::{CustomerApi, email, operated_shop};

/// Test cases per operation and phase.
const MAX_EXAMPLES: &str = "50";

/// One schemathesis run: the operations `selection` picks, as the bearer of `token`.
fn run(description_url: &str, api_url: &str, token: &str, selection: &[&str], seed: &str) -> String {
    let output = Command::new("schemathesis")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", description_url, "--url", api_url])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "all", "--max-examples", MAX_EXAMPLES, "--seed", seed])
        // One worker: hypothesis describes its strategies with `ast.parse`, which CPython 3.11
        // can fail in threads at once ("AST constructor recursion depth mismatch").
        .args(["--workers", "1", "--no-color", "--generation-allow-x00", "false"])
        .args(selection)
        .output()
        .unwrap_or_else(|e| {
            panic!("schemathesis (PyPI: pip install schemathesis) runs these checks; .ci/run installs it: {e}")
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "schemathesis {selection:?} found problems (seed {seed}):\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The summary lines of a run: operations tested and cases generated.
fn summary(stdout: &str) -> String {
    stdout
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("Selected:") || line.contains(" generated, "))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Who a run is as, its bearer token and which operations it takes.
struct Run {
    who: &'static str,
    token: String,
    selection: Vec<&'static str>,
}

/// Each run against the API at `api_url` described at `description_url`, one after another
/// with one seed, each run's summary printed.
async fn run_all(description_url: String, api_url: String, runs: Vec<Run>) {
    let seed = seed();
    let reports = tokio::task::spawn_blocking(move || {
        (runs.into_iter())
            .map(|r| (r.who, run(&description_url, &api_url, &r.token, &r.selection, &seed)))
            .collect::<Vec<_>>()
    })
    .await
    .expect("the runs finish");
    for (who, stdout) in reports {
        eprintln!("schemathesis as {who}: {}", summary(&stdout));
    }
}

/// A new shopper's access token.
async fn shopper_token(api: &CustomerApi, name: &str) -> String {
    api.signed_up(&email(name)).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_in_customers_api() {
    let operated = operated_shop().await;
    let api = CustomerApi::new(&operated.shop.customer_url);
    let runs = vec![
        Run {
            who: "operator",
            token: operated.operator_token.clone(),
            selection: vec!["--include-tag", "operators"],
        },
        Run {
            who: "shopper",
            token: shopper_token(&api, "fuzzed").await,
            selection: vec![
                "--exclude-tag",
                "operators",
                "--exclude-operation-id",
                "logout_everywhere",
            ],
        },
        Run {
            who: "log out everywhere",
            token: shopper_token(&api, "fuzzed-leaver").await,
            selection: vec!["--include-operation-id", "logout_everywhere"],
        },
    ];
    let description = format!("{}/openapi.json", operated.shop.customer_internal_url);
    run_all(description, operated.shop.customer_url.clone(), runs).await;
    operated.shop.stop().await;
}

/// Product-order's API: the operator operations as an operator, the rest as a shopper (a
/// shopper's cart, checkouts and orders).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_in_product_orders_api() {
    let operated = operated_shop().await;
    let api = CustomerApi::new(&operated.shop.customer_url);
    let runs = vec![
        Run {
            who: "operator",
            token: operated.operator_token.clone(),
            selection: vec!["--include-tag", "operators"],
        },
        Run {
            who: "shopper",
            token: shopper_token(&api, "fuzzed").await,
            selection: vec!["--exclude-tag", "operators"],
        },
    ];
    let description = format!("{}/openapi.json", operated.shop.product_order_internal_url);
    run_all(description, operated.shop.product_order_url.clone(), runs).await;
    operated.shop.stop().await;
}

/// The run's seed: `SHOP_SCHEMATHESIS_SEED`, or one from the clock (no randomness crate
/// needed for one number), printed either way.
fn seed() -> String {
    let seed = std::env::var("SHOP_SCHEMATHESIS_SEED").unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        (nanos % 1_000_000_000).to_string()
    });
    eprintln!("schemathesis seed {seed} (SHOP_SCHEMATHESIS_SEED={seed} replays it)");
    seed
}
