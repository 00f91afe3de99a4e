//! Starting without a dependency: one line that says what to start, a non-zero exit, no panic.

use std::process::Command;

use crate::helpers::CustomerApi;

fn run_shop(envs: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_shop"))
        .envs(envs.iter().copied())
        // Free ports, so a shop already running on the defaults is no obstacle.
        .env("CUSTOMER_ADDR", "127.0.0.1:0")
        .env("PRODUCT_ORDER_ADDR", "127.0.0.1:0")
        .env("WEB_ADDR", "127.0.0.1:0")
        .env("CUSTOMER_INTERNAL_ADDR", "127.0.0.1:0")
        .env("PRODUCT_ORDER_INTERNAL_ADDR", "127.0.0.1:0")
        .env("WEB_INTERNAL_ADDR", "127.0.0.1:0")
        .output()
        .expect("the shop binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn missing_database_gives_one_line_naming_it() {
    let (succeeded, stderr) = run_shop(&[("CUSTOMER_DATABASE_URL", "postgres://postgres@127.0.0.1:1/shop_customer")]);
    assert!(!succeeded, "the shop must exit non-zero");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stderr, got: {stderr}");
    assert!(
        lines[0].contains("cannot reach PostgreSQL at 127.0.0.1:1/shop_customer"),
        "{stderr}"
    );
    assert!(
        lines[0].contains("pg_ctlcluster") && lines[0].contains("docker compose up -d postgres"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn missing_broker_gives_one_line_naming_it_without_the_password() {
    // A real database, so that the broker is what is missing.
    let infra = testkit::infra().await;
    let customer_db = testkit::fresh_database_url(infra, "startup");
    let product_order_db = testkit::fresh_database_url(infra, "startup");
    let (succeeded, stderr) = run_shop(&[
        ("SHOP_AMQP_URL", "amqp://guest:sekrit@127.0.0.1:1/%2f"),
        ("CUSTOMER_DATABASE_URL", &customer_db),
        ("PRODUCT_ORDER_DATABASE_URL", &product_order_db),
    ]);
    assert!(!succeeded);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stderr, got: {stderr}");
    assert!(
        lines[0].contains("cannot reach RabbitMQ at amqp://guest:****@127.0.0.1:1/%2f"),
        "{stderr}"
    );
    assert!(lines[0].contains("rabbitmq-server -detached"), "{stderr}");
    assert!(!stderr.contains("sekrit"));
}

#[test]
fn a_bad_setting_names_its_variable() {
    let (succeeded, stderr) = run_shop(&[("CUSTOMER_ACCESS_TOKEN_TTL_SECS", "3600")]);
    assert!(!succeeded);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("CUSTOMER_ACCESS_TOKEN_TTL_SECS"), "{stderr}");
}

#[tokio::test]
async fn sigterm_stops_the_shop_cleanly() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    use std::process::Stdio;

    let infra = testkit::infra().await;
    let events_queue = format!("customer.order-events.test-{}", uuid::Uuid::new_v4().simple());
    let state = std::env::temp_dir().join(format!("shop-state-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&state).unwrap();
    // Customer on a port of its own choosing, so the test can log in there.
    let customer = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut shop = Command::new(env!("CARGO_BIN_EXE_shop"))
        .env("XDG_RUNTIME_DIR", &state)
        .env("CUSTOMER_ADDR", customer.to_string())
        .env("SHOP_CUSTOMER_URL", format!("http://{customer}"))
        .env("PRODUCT_ORDER_ADDR", "127.0.0.1:0")
        .env("WEB_ADDR", "127.0.0.1:0")
        .env("CUSTOMER_INTERNAL_ADDR", "127.0.0.1:0")
        .env("PRODUCT_ORDER_INTERNAL_ADDR", "127.0.0.1:0")
        .env("WEB_INTERNAL_ADDR", "127.0.0.1:0")
        .env("CUSTOMER_DATABASE_URL", testkit::fresh_database_url(infra, "sigterm"))
        .env(
            "PRODUCT_ORDER_DATABASE_URL",
            testkit::fresh_database_url(infra, "sigterm"),
        )
        .env("SHOP_AMQP_URL", &infra.amqp_url)
        // A queue of its own: the default one would collect every other test's events.
        .env("CUSTOMER_EVENTS_QUEUE", &events_queue)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the shop binary runs");
    let stdout = shop.stdout.take().unwrap();
    // Stop the shop even when an assertion below fails.
    struct KillOnDrop(u32);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = Command::new("kill").args(["-KILL", &self.0.to_string()]).status();
        }
    }
    let guard = KillOnDrop(shop.id());
    // The banner ends with how to log in as operator.
    let (opened, lines) = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        let mut opened = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            opened |= line.contains("The shop is open at http://127.0.0.1:");
            let operator = line.contains("operator:");
            lines.push(line);
            if operator {
                break;
            }
        }
        (opened, lines)
    })
    .await
    .unwrap();
    assert!(opened, "the shop opened: {lines:?}");
    // Stdout is no terminal here (it carries the logs): the generated password goes to a file
    // only its owner reads, and nowhere into the output.
    let file = state.join(".shop-operator-password");
    assert!(
        lines.iter().any(|l| l.contains(&format!(
            "operator: log in as operator@shop.local with the password in {}",
            file.display()
        ))),
        "{lines:?}"
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "readable by its owner only");
    let password = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert!(password.len() >= 16);
    assert!(lines.iter().all(|l| !l.contains(&password)), "{lines:?}");
    let login = CustomerApi::new(&format!("http://{customer}"))
        .login("operator@shop.local", &password)
        .await;
    assert_eq!(login.status, reqwest::StatusCode::OK, "{:?}", login.body);

    let killed = Command::new("kill")
        .args(["-TERM", &shop.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || shop.wait()).await.unwrap().unwrap();
    std::mem::forget(guard);
    testkit::delete_event_queues(&infra.amqp_url, &events_queue)
        .await
        .expect("the test's queues are deleted");
    assert!(status.success(), "a clean exit after SIGTERM, got {status}");
    std::fs::remove_dir_all(&state).unwrap();
}
