//! The operator console's saga tools over HTTP, against a shop whose own product-order serves
//! the API only while a replica does the saga work (so a test can make its steps fail until
//! it clears the fault): failing steps and retry, cancel and stuck compensations, correcting
//! details that failed validation, bulk retry, retrying the publish, revealing details.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use saga::{Phase, StepError};
use serde_json::{Value, json};
use testkit::ProductOrderReplica;

use crate::browser::{Browser, PASSWORD};
use crate::helpers::{
    Answer, CustomerApi, EventTap, OperatedShop, ProductOrderApi, email, eventually, operated_shop_with, valid_details,
};

/// A shop whose saga work is done by a replica the test holds.
struct Console {
    ops: OperatedShop,
    /// None until `work` starts it.
    worker: Option<ProductOrderReplica>,
    operator: ProductOrderApi,
    shopper: ProductOrderApi,
    shopper_token: String,
    tea: String,
}

impl Console {
    async fn start() -> Self {
        let mut console = Self::without_worker().await;
        console.work().await;
        console
    }

    /// Sagas wait until `work` is called.
    async fn without_worker() -> Self {
        let ops = operated_shop_with(|s| s.saga_workers = false).await;
        let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
        let tea = operator.create_product("TEA-CONSOLE", "Sencha", 1290, 100).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let login = CustomerApi::new(&ops.shop.customer_url)
            .signed_up(&email("console"))
            .await;
        let shopper_token = login["access_token"].as_str().unwrap().to_owned();
        let shopper = ProductOrderApi::as_user(&ops.shop.product_order_url, &shopper_token);
        Self {
            ops,
            worker: None,
            operator,
            shopper,
            shopper_token,
            tea,
        }
    }

    /// Starts the replica that does the saga work.
    async fn work(&mut self) {
        self.worker = Some(ProductOrderReplica::product_order(self.ops.shop.product_order_settings()).await);
    }

    fn faults(&self) -> &saga::FaultInjection {
        self.worker.as_ref().expect("a saga worker").saga().faults()
    }

    /// A checkout of one tea with `details`, by id.
    async fn check_out(&self, details: Value) -> String {
        assert_eq!(self.shopper.set_quantity(&self.tea, 1).await.status, StatusCode::OK);
        let accepted = self.shopper.checkout(&uuid::Uuid::new_v4().to_string(), details).await;
        assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
        accepted.body["checkout_id"].as_str().unwrap().to_owned()
    }

    async fn saga(&self, id: &str) -> Value {
        let answer = self.operator.get(&format!("/api/ops/sagas/{id}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        answer.body
    }

    /// Waits until the saga is in `state`, and answers it.
    async fn saga_in(&self, id: &str, state: &str) -> Value {
        eventually(&format!("saga {id} {state}"), Duration::from_secs(60), async || {
            let saga = self.saga(id).await;
            (saga["state"] == state).then_some(saga)
        })
        .await
    }

    async fn act(&self, id: &str, action: &str, reason: &str) -> Answer {
        self.operator
            .send(
                Method::POST,
                &format!("/api/ops/sagas/{id}/{action}"),
                json!({"reason": reason}),
            )
            .await
    }

    /// A checkout whose publish keeps failing (the broker unreachable, as far as it knows),
    /// waiting at that step with its order placed: its id and its order's.
    async fn waiting_to_publish(&self) -> (String, String) {
        self.faults().fail(
            "publish_order_placed",
            Phase::Forward,
            StepError::retryable("broker unreachable"),
        );
        let id = self.check_out(valid_details()).await;
        let order = eventually("the publish failing", Duration::from_secs(30), async || {
            let saga = self.saga(&id).await;
            (saga["step"] == "publish_order_placed" && saga["attempts_log"].to_string().contains("broker unreachable"))
                .then(|| saga["order_id"].as_str().unwrap().to_owned())
        })
        .await;
        (id, order)
    }

    /// A checkout cancelled by the operator while it waited to publish: failed, its order
    /// cancelled. Its id and its order's.
    async fn cancelled_while_publishing(&self) -> (String, String) {
        let (id, order) = self.waiting_to_publish().await;
        let cancelled = self.act(&id, "cancel", "shopper called to cancel").await;
        assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
        self.saga_in(&id, "failed").await;
        (id, order)
    }

    async fn held_reservations(&self) -> i64 {
        let db = sqlx::PgPool::connect(&self.ops.shop.product_order_database_url)
            .await
            .unwrap();
        sqlx::query_scalar("SELECT count(*) FROM stock_reservations WHERE state = 'held'")
            .fetch_one(&db)
            .await
            .unwrap()
    }

    async fn stock(&self) -> i64 {
        self.operator.get(&format!("/api/products/{}", self.tea)).await.body["stock"]
            .as_i64()
            .unwrap()
    }

    /// The operator, logged in through the pages.
    async fn operator_browser(&self) -> Browser {
        let me = CustomerApi::new(&self.ops.shop.customer_url)
            .me(&self.ops.operator_token)
            .await;
        let mut browser = Browser::open(&self.ops.shop.web_url).await;
        browser
            .log_in(me.body["email"].as_str().unwrap(), "operator password")
            .await;
        browser
    }
}

/// Whether the saga's console offers `action` now.
fn offers(saga: &Value, action: &str) -> bool {
    saga["actions"].as_array().unwrap().iter().any(|a| a == action)
}

/// Why the console does not offer `action`, its state allowing it.
fn refusal<'a>(saga: &'a Value, action: &str) -> Option<&'a str> {
    saga["refused"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == action)
        .map(|r| r["reason"].as_str().unwrap())
}

/// The operator actions recorded on a saga, as (action, state before, state after).
fn audit(saga: &Value) -> Vec<(String, String, String)> {
    saga["operator_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert!(a["operator"].as_str().unwrap().contains('@'), "who: {a}");
            assert!(a["at"].is_string(), "when: {a}");
            (
                a["action"].as_str().unwrap().to_owned(),
                a["state_before"].as_str().unwrap().to_owned(),
                a["state_after"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn triple(action: &str, before: &str, after: &str) -> (String, String, String) {
    (action.into(), before.into(), after.into())
}

#[tokio::test]
async fn a_failing_step_shows_its_attempts_and_error_and_a_confirmed_retry_after_clearing_completes_it() {
    let console = Console::start().await;
    console.faults().fail(
        "place_order",
        Phase::Forward,
        StepError::permanent("the order table is being migrated"),
    );
    let id = console.check_out(valid_details()).await;
    let failed = console.saga_in(&id, "failed").await;
    let attempts = failed["attempts_log"].as_array().unwrap();
    let place = attempts
        .iter()
        .find(|a| a["step"] == "place_order")
        .expect("place_order tried");
    assert_eq!(place["outcome"], "failed");
    assert_eq!(place["error"], "the order table is being migrated");
    assert!(
        attempts
            .iter()
            .any(|a| a["step"] == "reserve_stock" && a["phase"] == "compensation" && a["outcome"] == "succeeded"),
        "the reservation was released: {attempts:?}"
    );
    assert_eq!(console.stock().await, 100, "the stock came back");

    let mut browser = console.operator_browser().await;
    let path = format!("/ops/sagas/{id}");
    let page = browser.get(&path).await;
    assert!(page.html.contains("the order table is being migrated"), "{}", page.html);
    assert!(page.html.contains(r#"id="saga-drawing""#), "the drawing: {}", page.html);
    assert!(
        page.html.contains(r#"data-node="place_order" data-state="failed""#)
            && page
                .html
                .contains(r#"data-node="undo reserve_stock" data-state="succeeded""#)
            && page
                .html
                .contains(r#"data-node="failed" data-state="reached" aria-current="step""#),
        "each step and compensation with its state, the end reached marked: {}",
        page.html
    );

    console.faults().clear("place_order", Phase::Forward);
    let confirm = browser
        .post(&format!("{path}/retry"), &[("reason", "migration done")])
        .await;
    assert_eq!(confirm.status(), StatusCode::OK);
    assert!(confirm.text().await.unwrap().contains(r#"id="confirm-button""#));
    assert_eq!(
        console.saga(&id).await["state"],
        "failed",
        "nothing happens before confirming"
    );
    let retried = browser
        .post(
            &format!("{path}/retry"),
            &[("reason", "migration done"), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(retried.status(), StatusCode::SEE_OTHER);
    let page = browser.get(&path).await;
    assert!(
        page.html.contains(r#"hx-trigger="every 2s""#) || page.html.contains(r#"data-state="completed""#),
        "the page refreshes itself while the saga runs: {}",
        page.html
    );
    let done = console.saga_in(&id, "completed").await;
    assert_eq!(audit(&done), [triple("retry", "failed", "running")]);
    let event = &done["outbox"][0];
    assert_eq!(event["routing_key"], "order.placed");
    assert_eq!(event["state"], "confirmed", "{done:?}");
    assert!(
        event["sent_at"].is_string() && event["confirmed_at"].is_string(),
        "{event}"
    );
    let part = browser.htmx_get_part(&path, "saga-status").await;
    assert!(part.html.contains(r#"data-delivery="confirmed""#), "{}", part.html);
    assert!(!part.html.contains("hx-trigger"), "it stops once completed");
}

#[tokio::test]
async fn cancel_runs_the_compensations_and_a_stuck_compensation_is_retried_or_marked_done() {
    let console = Console::start().await;
    // The saga waits at its publish step; the stock's release fails for good.
    console.faults().fail(
        "publish_order_placed",
        Phase::Forward,
        StepError::retryable("broker unreachable"),
    );
    console.faults().fail(
        "reserve_stock",
        Phase::Compensation,
        StepError::permanent("stock service locked"),
    );
    let first = console.check_out(valid_details()).await;
    let second = console.check_out(valid_details()).await;
    for id in [&first, &second] {
        eventually("the publish failing", Duration::from_secs(30), async || {
            let saga = console.saga(id).await;
            (saga["step"] == "publish_order_placed" && saga["attempts_log"].to_string().contains("broker unreachable"))
                .then_some(())
        })
        .await;
        assert_eq!(
            console.act(id, "cancel", "shopper called to cancel").await.status,
            StatusCode::OK
        );
        let stuck = console.saga_in(id, "stuck").await;
        assert!(
            stuck["attempts_log"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["step"] == "place_order" && a["phase"] == "compensation" && a["outcome"] == "succeeded"),
            "the order was cancelled first: {stuck:?}"
        );
    }
    assert_eq!(
        console.stock().await,
        100,
        "cancelling the placed orders gave their stock back"
    );

    // Retried while still failing: stuck again. Cleared and retried: undone.
    assert_eq!(
        console.act(&first, "retry", "try the release again").await.status,
        StatusCode::OK
    );
    console.saga_in(&first, "stuck").await;
    console.faults().clear("reserve_stock", Phase::Compensation);
    assert_eq!(
        console.act(&first, "retry", "stock service unlocked").await.status,
        StatusCode::OK
    );
    let undone = console.saga_in(&first, "failed").await;
    assert!(
        undone["failure"]
            .as_str()
            .unwrap()
            .contains("cancelled: shopper called to cancel"),
        "{undone:?}"
    );

    // Done by hand instead: recorded, and the saga ends.
    let marked = console
        .act(&second, "mark-compensated", "released by hand in the warehouse")
        .await;
    assert_eq!(marked.status, StatusCode::OK, "{:?}", marked.body);
    let by_hand = console.saga_in(&second, "failed").await;
    assert!(
        by_hand["failure"]
            .as_str()
            .unwrap()
            .contains("compensation done by hand"),
        "{by_hand:?}"
    );
    assert_eq!(console.stock().await, 100);

    assert_eq!(
        audit(&undone),
        [
            triple("cancel", "running", "compensating"),
            triple("retry", "stuck", "compensating"),
            triple("retry", "stuck", "compensating"),
        ]
    );
    assert_eq!(
        audit(&by_hand),
        [
            triple("cancel", "running", "compensating"),
            triple("mark_compensated", "stuck", "failed"),
        ]
    );
    let reasons = by_hand["operator_actions"][1]["reason"].clone();
    assert_eq!(reasons, "released by hand in the warehouse");
}

#[tokio::test]
async fn corrected_delivery_details_complete_a_saga_that_failed_validation() {
    let mut console = Console::without_worker().await;
    let id = console.check_out(valid_details()).await;
    // As if recorded before we stopped shipping to that country: today's rules refuse it.
    let db = sqlx::PgPool::connect(&console.ops.shop.product_order_database_url)
        .await
        .unwrap();
    sqlx::query("UPDATE saga.instances SET input = jsonb_set(input, '{details,delivery,country}', '\"XK\"') WHERE id = $1::uuid")
        .bind(&id)
        .execute(&db)
        .await
        .unwrap();
    console.work().await;
    let failed = console.saga_in(&id, "failed").await;
    assert!(
        failed["failure"].as_str().unwrap().contains("delivery.country"),
        "{failed:?}"
    );
    assert!(offers(&failed, "edit-details"), "{failed:?}");
    assert_eq!(failed["details_masked"], true);
    assert_eq!(failed["input"]["details"]["contact"]["email"], "a***@example.com");

    // Checked like the checkout form.
    let mut corrected = valid_details();
    corrected["delivery"] =
        json!({"line1": "1 Rue de Rivoli", "line2": "", "city": "Paris", "postal_code": "7500", "country": "FR"});
    let path = format!("/api/ops/sagas/{id}/details");
    let mut body = corrected.clone();
    body["reason"] = json!("shopper moved to Paris");
    let refused = console.operator.send(Method::PUT, &path, body.clone()).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.field_error("delivery.postal_code").is_some(),
        "{:?}",
        refused.body
    );

    // Through the pages: reveal (confirmed, recorded), then correct (confirmed).
    let mut browser = console.operator_browser().await;
    let page_path = format!("/ops/sagas/{id}");
    let page = browser.get(&page_path).await;
    assert!(!page.html.contains("Ada Lovelace") && page.html.contains(r#"data-shown="masked""#));
    let confirm = browser
        .post(&format!("{page_path}/reveal"), &[("reason", "to correct the address")])
        .await;
    assert!(confirm.text().await.unwrap().contains(r#"id="confirm-button""#));
    let revealed = browser
        .post(
            &format!("{page_path}/reveal"),
            &[("reason", "to correct the address"), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(revealed.status(), StatusCode::OK);
    assert_eq!(revealed.headers()["cache-control"], "no-store");
    let html = revealed.text().await.unwrap();
    assert!(
        html.contains("Ada Lovelace") && html.contains(r#"id="edit-details-form""#),
        "{html}"
    );
    assert!(
        !browser.load(&page_path).await.html.contains("Ada Lovelace"),
        "shown once only"
    );

    let fields = [
        ("contact_name", "Ada Lovelace"),
        ("contact_email", "ada@example.com"),
        ("contact_phone", "+44 20 7946 0958"),
        ("delivery_line1", "1 Rue de Rivoli"),
        ("delivery_line2", ""),
        ("delivery_city", "Paris"),
        ("delivery_postal_code", "7500"),
        ("delivery_country", "FR"),
        ("reason", "shopper moved to Paris"),
        ("confirmed", "yes"),
    ];
    let wrong = browser.post(&format!("{page_path}/details"), &fields).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = wrong.text().await.unwrap();
    assert!(
        html.contains(r#"id="delivery_postal_code-error""#) && html.contains("France"),
        "{html}"
    );
    let mut fixed = fields.to_vec();
    fixed[6] = ("delivery_postal_code", "75001");
    let confirm = browser.post(&format!("{page_path}/details"), &fixed[..9]).await;
    assert!(
        confirm.text().await.unwrap().contains(r#"value="75001""#),
        "the confirmation carries the fields"
    );
    let done = browser.post(&format!("{page_path}/details"), &fixed).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);

    let completed = console.saga_in(&id, "completed").await;
    let order_id = completed["order_id"].as_str().unwrap();
    let delivery: Value = sqlx::query_scalar("SELECT delivery FROM orders WHERE id = $1::uuid")
        .bind(order_id)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(delivery["city"], "Paris");
    assert_eq!(delivery["postal_code"], "75001");
    assert_eq!(
        audit(&completed),
        [
            triple("reveal_details", "failed", "failed"),
            triple("edit_input_and_retry", "failed", "running"),
        ]
    );
    assert_eq!(
        completed["operator_actions"][1]["details"]["changed"],
        json!([
            "delivery.line1",
            "delivery.city",
            "delivery.postal_code",
            "delivery.country"
        ])
    );
    assert!(
        !completed["operator_actions"].to_string().contains("Rivoli"),
        "the record names the fields changed, not the personal data"
    );
}

#[tokio::test]
async fn bulk_retry_counts_and_lists_first_then_retries_at_a_rate() {
    let console = Console::start().await;
    console
        .faults()
        .fail("place_order", Phase::Forward, StepError::permanent("orders paused"));
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = console.check_out(valid_details()).await;
        console.saga_in(&id, "failed").await;
        ids.push(id);
    }
    // Search: by checkout id, and by the shopper's email (all three).
    let by_id = console.operator.get(&format!("/api/ops/sagas?q={}", ids[0])).await;
    assert_eq!(by_id.body["items"].as_array().unwrap().len(), 1, "{:?}", by_id.body);
    let by_email = console
        .operator
        .get("/api/ops/sagas?state=failed&q=ADA@example.com")
        .await;
    assert_eq!(
        by_email.body["items"].as_array().unwrap().len(),
        3,
        "{:?}",
        by_email.body
    );
    let counts = &by_email.body["counts"];
    assert!(
        counts
            .as_array()
            .unwrap()
            .contains(&json!({"state": "failed", "count": 3})),
        "{counts}"
    );
    let nonsense = console.operator.get("/api/ops/sagas?q=nonsense").await;
    assert_eq!(nonsense.status, StatusCode::UNPROCESSABLE_ENTITY);

    let dry = console
        .operator
        .send(Method::POST, "/api/ops/sagas/bulk-retry", json!({"state": "failed"}))
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{:?}", dry.body);
    assert_eq!(dry.body["dry_run"], true, "a dry run unless asked otherwise");
    assert_eq!(dry.body["matching"], 3);
    assert_eq!(dry.body["items"].as_array().unwrap().len(), 3);
    for id in &ids {
        assert!(audit(&console.saga(id).await).is_empty(), "a dry run changes nothing");
    }
    let no_reason = console
        .operator
        .send(
            Method::POST,
            "/api/ops/sagas/bulk-retry",
            json!({"state": "failed", "dry_run": false}),
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_reason.field_error("reason").is_some());

    // Through the pages: the dry run, the confirmation, then the run at 2 a second.
    console.faults().clear("place_order", Phase::Forward);
    let mut browser = console.operator_browser().await;
    let dry_page = browser.get("/ops/sagas/bulk-retry?state=failed").await;
    assert!(dry_page.html.contains(r#"id="bulk-matching""#) && dry_page.html.contains("<strong>3</strong>"));
    assert_eq!(dry_page.html.matches(r#"class="bulk-item""#).count(), 3);
    let form = [("state", "failed"), ("reason", "orders resumed"), ("per_second", "2")];
    let confirm = browser.post("/ops/sagas/bulk-retry", &form).await;
    assert!(confirm.text().await.unwrap().contains(r#"id="confirm-button""#));
    let mut confirmed = form.to_vec();
    confirmed.push(("confirmed", "yes"));
    let run = browser.post("/ops/sagas/bulk-retry", &confirmed).await;
    assert_eq!(run.status(), StatusCode::OK);
    assert!(
        run.text()
            .await
            .unwrap()
            .contains("3 retry(ies) scheduled at 2 a second")
    );

    let mut due = Vec::new();
    for id in &ids {
        let done = console.saga_in(id, "completed").await;
        assert_eq!(audit(&done), [triple("retry", "failed", "running")]);
        let details = &done["operator_actions"][0]["details"];
        assert_eq!(details["per_second"], 2, "{details}");
        due.push(chrono::DateTime::parse_from_rfc3339(details["due_at"].as_str().unwrap()).unwrap());
    }
    due.sort();
    let spread = (due[2] - due[0]).num_milliseconds();
    assert!(
        (900..=1100).contains(&spread),
        "three retries at 2 a second span a second: {spread} ms"
    );
}

#[tokio::test]
async fn retry_publish_sends_now_and_a_completed_sagas_event_again_with_the_same_id() {
    let console = Console::start().await;
    let tap = EventTap::open(&console.ops.shop).await;
    console.faults().fail(
        "publish_order_placed",
        Phase::Forward,
        StepError::retryable("broker unreachable"),
    );
    let id = console.check_out(valid_details()).await;
    let waiting = eventually("the publish to fail twice", Duration::from_secs(30), async || {
        let saga = console.saga(&id).await;
        (saga["step"] == "publish_order_placed" && saga["attempts"].as_u64() >= Some(2)).then_some(saga)
    })
    .await;
    assert_eq!(waiting["outbox"][0]["state"], "written", "{waiting:?}");
    assert!(offers(&waiting, "retry-publish"));
    let refused = console.act(&id, "mark-compensated", "nothing is stuck").await;
    assert_eq!(refused.status, StatusCode::CONFLICT);

    console.faults().clear("publish_order_placed", Phase::Forward);
    let now = console.act(&id, "retry-publish", "broker is back").await;
    assert_eq!(now.status, StatusCode::OK, "{:?}", now.body);
    let done = console.saga_in(&id, "completed").await;
    let event_id = done["outbox"][0]["event_id"].as_str().unwrap().to_owned();
    assert_eq!(done["outbox"][0]["state"], "confirmed");

    let again = console.act(&id, "retry-publish", "customer lost it").await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    let sent: Vec<String> = eventually("order.placed twice", Duration::from_secs(20), async || {
        let mut seen = Vec::new();
        for (key, message_id, _) in tap.drain().await {
            if key == "order.placed" {
                seen.push(message_id);
            }
        }
        (seen.len() >= 2).then_some(seen)
    })
    .await;
    assert!(sent.iter().all(|m| *m == event_id), "the same event id: {sent:?}");
    let after = console.saga(&id).await;
    assert_eq!(
        audit(&after),
        [
            triple("retry_publish", "running", "running"),
            triple("republish", "completed", "completed"),
        ]
    );
    assert_eq!(after["operator_actions"][1]["details"]["event_id"], event_id.as_str());

    // Reveal over the API: the details, and the reading recorded.
    let reveal = console.act(&id, "reveal", "shopper asked what we hold").await;
    assert_eq!(reveal.status, StatusCode::OK);
    assert_eq!(reveal.body["contact"]["email"], "ada@example.com");
    let no_reason = console.act(&id, "reveal", " ").await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    let recorded = console.saga(&id).await;
    assert_eq!(
        audit(&recorded).last(),
        Some(&triple("reveal_details", "completed", "completed"))
    );
    assert_eq!(recorded["input"]["details"]["contact"]["name"], "A** L*******");
}

#[tokio::test]
async fn shoppers_get_403_on_every_new_saga_route_and_page() {
    let console = Console::start().await;
    let saga = uuid::Uuid::new_v4();
    for (method, path, body) in [
        (Method::GET, "/api/ops/sagas?q=ada@example.com".to_owned(), json!(null)),
        (
            Method::POST,
            "/api/ops/sagas/bulk-retry".to_owned(),
            json!({"state": "failed"}),
        ),
        (
            Method::POST,
            format!("/api/ops/sagas/{saga}/retry-publish"),
            json!({"reason": "x"}),
        ),
        (
            Method::POST,
            format!("/api/ops/sagas/{saga}/reveal"),
            json!({"reason": "x"}),
        ),
        (
            Method::PUT,
            format!("/api/ops/sagas/{saga}/details"),
            json!({"reason": "x"}),
        ),
    ] {
        let answer = if method == Method::GET {
            console.shopper.get(&path).await
        } else {
            console.shopper.send(method.clone(), &path, body).await
        };
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {path}");
    }

    let address = email("console-shopper");
    CustomerApi::new(&console.ops.shop.customer_url)
        .signed_up(&address)
        .await;
    let mut shopper = Browser::open(&console.ops.shop.web_url).await;
    shopper.log_in(&address, PASSWORD).await;
    for path in ["/ops/sagas?q=ada@example.com", "/ops/sagas/bulk-retry?state=failed"] {
        assert_eq!(shopper.load(path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    for path in [
        "/ops/sagas/bulk-retry".to_owned(),
        format!("/ops/sagas/{saga}/retry-publish"),
        format!("/ops/sagas/{saga}/reveal"),
        format!("/ops/sagas/{saga}/details"),
    ] {
        let answer = shopper
            .post(&path, &[("reason", "mine"), ("state", "failed"), ("confirmed", "yes")])
            .await;
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn a_cancelled_checkout_is_not_run_again_and_its_stock_stays_released() {
    let console = Console::start().await;
    let (id, order) = console.cancelled_while_publishing().await;
    assert_eq!(console.stock().await, 100, "cancelling the order gave its stock back");
    console.faults().clear("publish_order_placed", Phase::Forward);

    // Running it again could only re-reserve for an order that stays cancelled: refused, one
    // by one and in bulk, with the reason.
    let retried = console.act(&id, "retry", "try again").await;
    assert_eq!(retried.status, StatusCode::CONFLICT, "{:?}", retried.body);
    assert!(
        retried.body["error"]["message"].as_str().unwrap().contains("cancelled"),
        "{:?}",
        retried.body
    );
    let bulk = console
        .operator
        .send(
            Method::POST,
            "/api/ops/sagas/bulk-retry",
            json!({"state": "failed", "dry_run": false, "reason": "retry everything"}),
        )
        .await;
    assert_eq!(bulk.status, StatusCode::OK, "{:?}", bulk.body);
    assert_eq!(bulk.body["refused"][0]["id"], id.as_str(), "{:?}", bulk.body);
    assert!(bulk.body["items"].as_array().unwrap().is_empty());

    let saga = console.saga(&id).await;
    assert_eq!(saga["state"], "failed");
    assert_eq!(audit(&saga), [triple("cancel", "running", "compensating")]);
    // Nor is it offered: the console says why instead of a button that can only be refused.
    assert!(!offers(&saga, "retry"), "{:?}", saga["actions"]);
    assert!(
        refusal(&saga, "retry").is_some_and(|why| why.contains("cancelled")),
        "{:?}",
        saga["refused"]
    );
    let page = console.operator_browser().await.get(&format!("/ops/sagas/{id}")).await;
    assert!(
        !page.html.contains(r#"id="action-retry""#) && page.html.contains(r#"id="refused-retry""#),
        "{}",
        page.html
    );
    let order_now = console.operator.get(&format!("/api/ops/orders/{order}")).await;
    assert_eq!(order_now.body["status"], "cancelled", "{:?}", order_now.body);
    assert_eq!(console.stock().await, 100, "no stock is taken again");
    assert_eq!(
        console.held_reservations().await,
        0,
        "nothing is held for the cancelled order"
    );
}

#[tokio::test]
async fn a_checkout_whose_order_shipped_cannot_be_cancelled_nor_its_order_moved_while_it_is_undone() {
    let console = Console::start().await;
    let (id, order) = console.waiting_to_publish().await;
    for status in ["confirmed", "shipped"] {
        let moved = console.operator.move_order(&order, status).await;
        assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    }
    // Its compensation could not cancel a shipped order: refused up front, nothing changed.
    let cancel = console.act(&id, "cancel", "shopper called to cancel").await;
    assert_eq!(cancel.status, StatusCode::CONFLICT, "{:?}", cancel.body);
    assert!(
        cancel.body["error"]["message"].as_str().unwrap().contains("shipped"),
        "{:?}",
        cancel.body
    );
    let saga = console.saga(&id).await;
    assert!(audit(&saga).is_empty());
    assert!(!offers(&saga, "cancel"), "{:?}", saga["actions"]);
    assert!(
        refusal(&saga, "cancel").is_some_and(|why| why.contains("shipped")),
        "{:?}",
        saga["refused"]
    );
    assert!(
        offers(&saga, "retry"),
        "retrying the publish stays offered: {:?}",
        saga["actions"]
    );
    console.faults().clear("publish_order_placed", Phase::Forward);
    console.saga_in(&id, "completed").await;

    // The other way round: while a checkout is being undone, its order moves only to
    // cancelled (the compensation that cancels it waits here).
    console.faults().fail(
        "place_order",
        Phase::Compensation,
        StepError::retryable("orders locked for a moment"),
    );
    let (undone, undone_order) = console.waiting_to_publish().await;
    assert_eq!(
        console.act(&undone, "cancel", "shopper called").await.status,
        StatusCode::OK
    );
    console.saga_in(&undone, "compensating").await;
    let confirm = console.operator.move_order(&undone_order, "confirmed").await;
    assert_eq!(confirm.status, StatusCode::CONFLICT, "{:?}", confirm.body);
    assert_eq!(confirm.body["error"]["code"], "checkout_being_undone");
    // Once the orders table answers again, the compensation's own retries finish the undoing
    // (an operator retries only if they ran out first: a retry of the failed checkout would be
    // refused, its order being cancelled).
    console.faults().clear("place_order", Phase::Compensation);
    let ended = eventually("the undoing to end", Duration::from_secs(30), async || {
        let state = console.saga(&undone).await["state"].as_str().unwrap().to_owned();
        (state == "failed" || state == "stuck").then_some(state)
    })
    .await;
    if ended == "stuck" {
        assert_eq!(
            console.act(&undone, "retry", "orders unlocked").await.status,
            StatusCode::OK
        );
        console.saga_in(&undone, "failed").await;
    }
    assert_eq!(
        console.stock().await,
        99,
        "the shipped order keeps its tea; the undone one gave it back"
    );
    assert_eq!(console.held_reservations().await, 0);
}

#[tokio::test]
async fn a_cancellation_never_overtakes_its_order_on_the_way_to_customer() {
    let console = Console::start().await;
    // The saga cannot publish its order.placed; the cancellation is written at once.
    let (_, order) = console.cancelled_while_publishing().await;
    // The relay sends the order first, then its cancellation: customer has the order as
    // cancelled, with both changes, well before the saga's own publish would have been
    // taken over, and nothing was dead-lettered.
    let customer = CustomerApi::new(&console.ops.shop.customer_url);
    let history = eventually(
        "customer to see the order cancelled",
        Duration::from_secs(20),
        async || {
            let seen = customer
                .get_as(&format!("/api/orders/{order}"), &console.shopper_token)
                .await;
            (seen.status == StatusCode::OK && seen.body["status"] == "cancelled").then_some(seen.body)
        },
    )
    .await;
    let statuses: Vec<&str> = history["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["placed", "cancelled"], "{history:?}");
    let dead = customer
        .get_as("/api/ops/dead-letters", &console.ops.operator_token)
        .await;
    assert_eq!(dead.body["items"].as_array().unwrap().len(), 0, "{:?}", dead.body);
}
