//! What operators and orchestrators rely on: health, readiness, metrics, request ids,
//! reconnecting to the broker, and the compose file.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use testkit::{TestShop, wait_until};

async fn get(url: String) -> reqwest::Response {
    reqwest::get(&url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

#[tokio::test]
async fn every_service_reports_health_readiness_and_metrics() {
    let shop = TestShop::start().await;
    for (service, base) in [
        ("customer", &shop.customer_url),
        ("product-order", &shop.product_order_url),
        ("web", &shop.web_url),
    ] {
        let health = get(format!("{base}/healthz")).await;
        assert_eq!(health.status(), StatusCode::OK, "{service} /healthz");

        let ready = get(format!("{base}/readyz")).await;
        assert_eq!(ready.status(), StatusCode::OK, "{service} /readyz");
        let body: serde_json::Value = ready.json().await.unwrap();
        assert_eq!(body["status"], "ready", "{service}: {body}");
        let checks = body["checks"].as_object().unwrap();
        assert!(
            !checks.is_empty() && checks.values().all(|v| v == "ok"),
            "{service}: {body}"
        );
        if service != "web" {
            assert_eq!(body["checks"]["database"], "ok", "{service}: {body}");
            assert_eq!(body["checks"]["broker"], "ok", "{service}: {body}");
        }

        let metrics = get(format!("{base}/metrics")).await.text().await.unwrap();
        assert!(
            metrics.contains(r#"http_requests_total{method="GET",route="/readyz",status="200"} 1"#),
            "{service} counts requests by route and status:\n{metrics}"
        );
        assert!(
            metrics.contains(r#"http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/healthz"} 1"#),
            "{service} has latency histograms:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn request_ids_are_kept_or_made() {
    let shop = TestShop::start().await;
    let client = reqwest::Client::new();
    for base in [&shop.customer_url, &shop.product_order_url, &shop.web_url] {
        let kept = client
            .get(format!("{base}/healthz"))
            .header("x-request-id", "trace-me-42")
            .send()
            .await
            .unwrap();
        assert_eq!(kept.headers()["x-request-id"], "trace-me-42");
        let made = client.get(format!("{base}/healthz")).send().await.unwrap();
        let id = made.headers()["x-request-id"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "a generated id is a UUID: {id}");
    }
}

#[tokio::test]
async fn readiness_fails_without_the_broker_and_recovers_by_itself() {
    let shop = TestShop::start().await;
    let customer_port = shop.customer_url.rsplit(':').next().unwrap().to_owned();
    let connection_name = format!("customer@127.0.0.1:{customer_port}");
    // The connection name travels in the client properties (`user_provided_name` needs 3.11+).
    let listing = rabbitmqctl(&[
        "list_connections",
        "pid",
        "client_properties",
        "--no-table-headers",
        "-q",
    ]);
    let quoted = format!("\"{connection_name}\"");
    let pid = listing
        .lines()
        .find(|line| line.contains(&quoted))
        .and_then(|line| line.split('\t').next())
        .unwrap_or_else(|| panic!("customer's connection {connection_name} in:\n{listing}"))
        .to_owned();
    rabbitmqctl(&["close_connection", &pid, "test closes the connection"]);

    let readyz = format!("{}/readyz", shop.customer_url);
    wait_until(
        "customer to notice the broker is gone",
        Duration::from_secs(10),
        || async { get(readyz.clone()).await.status() == StatusCode::SERVICE_UNAVAILABLE },
    )
    .await;
    wait_until("customer to reconnect", Duration::from_secs(20), || async {
        get(readyz.clone()).await.status() == StatusCode::OK
    })
    .await;
}

fn rabbitmqctl(args: &[&str]) -> String {
    let output = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl (from the local RabbitMQ) is needed to drop a connection");
    assert!(
        output.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn compose_file_is_valid() {
    let output = Command::new("docker-compose")
        .args([
            "-f",
            concat!(env!("CARGO_MANIFEST_DIR"), "/compose.yml"),
            "config",
            "-q",
        ])
        .env("SHOP_OPERATOR_PASSWORD", "a-password-for-validation")
        .output()
        .expect("docker-compose (Debian package docker-compose) validates compose.yml; .ci/run installs it");
    assert!(
        output.status.success(),
        "compose.yml is invalid: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Log lines written in this test process (nextest runs each test in its own).
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_request_id_follows_the_request_from_web_to_customer() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_writer(move || writer.clone())
        .try_init()
        .expect("this test process logs to the capture");
    let shop = TestShop::start().await;
    let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let html = browser
        .get(format!("{}/login", shop.web_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = r#"name="csrf_token" value=""#;
    let token = html[html.find(marker).unwrap() + marker.len()..]
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    browser
        .post(format!("{}/login", shop.web_url))
        .header("x-request-id", "journey-4242")
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "someone@example.com"),
            ("password", "not the password"),
        ])
        .send()
        .await
        .unwrap();
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let customer_line = text
        .lines()
        .find(|line| line.contains(r#""path":"/api/auth/login""#) && line.contains(r#""request_id":"journey-4242""#));
    assert!(
        customer_line.is_some(),
        "customer logged the login call with web's request id:\n{text}"
    );
}
