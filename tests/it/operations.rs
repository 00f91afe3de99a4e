//! What operators and orchestrators rely on: health, readiness, metrics, request ids,
//! reconnecting to the broker, and the compose file.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use testkit::{TestShop, wait_until};

use crate::helpers::{CustomerApi, ProductOrderApi, broker_behind_proxy, email};

async fn get(url: String) -> reqwest::Response {
    reqwest::get(&url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

#[tokio::test]
async fn every_service_reports_health_readiness_and_metrics_on_its_internal_port_only() {
    let shop = TestShop::start().await;
    for (service, public, base) in [
        ("customer", &shop.customer_url, &shop.customer_internal_url),
        (
            "product-order",
            &shop.product_order_url,
            &shop.product_order_internal_url,
        ),
        ("web", &shop.web_url, &shop.web_internal_url),
    ] {
        // Load balancers may ask the public port whether the process lives; what it depends
        // on and how busy it is are not anyone's business there.
        let health = get(format!("{public}/healthz")).await;
        assert_eq!(health.status(), StatusCode::OK, "{service} /healthz");
        for hidden in ["/readyz", "/metrics"] {
            let answer = get(format!("{public}{hidden}")).await;
            assert_eq!(
                answer.status(),
                StatusCode::NOT_FOUND,
                "{service} {hidden} on its public port"
            );
        }
        let health = get(format!("{base}/healthz")).await;
        assert_eq!(health.status(), StatusCode::OK, "{service} internal /healthz");

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
            // Both listeners' /healthz, counted together.
            metrics.contains(r#"http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/healthz"} 2"#),
            "{service} has latency histograms:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn request_ids_are_kept_behind_web_and_made_at_the_edge() {
    let shop = TestShop::start().await;
    let client = reqwest::Client::new();
    let answered = |base: &str, id: Option<&'static str>| {
        let mut request = client.get(format!("{base}/healthz"));
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        async move {
            let response = request.send().await.unwrap();
            response.headers()["x-request-id"].to_str().unwrap().to_owned()
        }
    };
    // The services keep the id of their caller (web), so one id follows a request.
    for base in [&shop.customer_url, &shop.product_order_url] {
        assert_eq!(answered(base, Some("trace-me-42")).await, "trace-me-42");
    }
    // Web, where requests come from outside, always makes its own: a client's id could forge
    // or mix up other requests' log lines.
    for id in [Some("trace-me-42"), None] {
        let made = answered(&shop.web_url, id).await;
        assert!(uuid::Uuid::parse_str(&made).is_ok(), "a generated id is a UUID: {made}");
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

    let readyz = format!("{}/readyz", shop.customer_internal_url);
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

#[tokio::test]
async fn given_several_broker_nodes_a_service_starts_past_a_dead_one_and_fails_over_to_the_next() {
    let (first, through_first) = broker_behind_proxy().await;
    let (_second, through_second) = broker_behind_proxy().await;
    // Listed first: a node that refuses every connection.
    let dead = "amqp://guest:guest@127.0.0.1:1/%2f";
    let shop = TestShop::start_with(|s| s.amqp_url = format!("{dead}, {through_first}, {through_second}")).await;
    let readyz = format!("{}/readyz", shop.customer_internal_url);
    assert_eq!(
        get(readyz.clone()).await.status(),
        StatusCode::OK,
        "customer started past the dead node"
    );

    // The node customer uses goes away: it connects to the next, and what it publishes there
    // still reaches the other services (a logout, announced on the broker, refused by
    // product-order, which uses the broker directly).
    first.cut();
    let api = CustomerApi::new(&shop.customer_url);
    let session = api.signed_up(&email("failover")).await;
    let access = session["access_token"].as_str().unwrap();
    assert_eq!(
        api.logout(session["refresh_token"].as_str().unwrap()).await,
        StatusCode::NO_CONTENT
    );
    wait_until(
        "product-order to refuse the logged-out token",
        Duration::from_secs(20),
        || async {
            ProductOrderApi::as_user(&shop.product_order_url, access)
                .get("/api/cart")
                .await
                .status
                == StatusCode::UNAUTHORIZED
        },
    )
    .await;
    assert_eq!(
        get(readyz.clone()).await.status(),
        StatusCode::OK,
        "connected to the next node"
    );
    shop.stop().await;
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
    let answer = browser
        .post(format!("{}/login", shop.web_url))
        .header("x-request-id", "journey-4242")
        .header("x-forwarded-for", "203.0.113.77")
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "someone@example.com"),
            ("password", "not the password"),
        ])
        .send()
        .await
        .unwrap();
    let id = answer.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id, "journey-4242", "web makes its own id");
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let with_id = |line: &&str| line.contains(&format!(r#""request_id":"{id}""#));
    assert!(
        text.lines()
            .filter(with_id)
            .any(|line| line.contains(r#""path":"/api/auth/login""#)),
        "customer logged the login call with web's request id:\n{text}"
    );
    // The failure is a security event: logged with the shopper's address (web forwarded it)
    // and a hash of the email, never the email or the password.
    let failure = text
        .lines()
        .filter(with_id)
        .find(|line| line.contains("login failed"))
        .unwrap_or_else(|| panic!("a failed login is logged:\n{text}"));
    assert!(failure.contains(r#""address":"203.0.113.77""#), "{failure}");
    assert!(failure.contains(r#""account":""#), "{failure}");
    assert!(!text.contains("someone@example.com"), "no email in the logs");
    assert!(!text.contains("not the password"), "no password in the logs");
}
