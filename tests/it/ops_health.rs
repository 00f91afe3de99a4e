//! The operators' health figures and low-stock list, over the JSON APIs and on the pages, and
//! who may see them: shoppers get 403 on every new operator route and page, visitors the
//! login page.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::browser::Browser;
use crate::helpers::{CustomerApi, OperatedShop, ProductOrderApi, email, eventually, operated_shop, valid_details};

/// A new shopper's product-order client.
async fn a_shopper(ops: &OperatedShop) -> ProductOrderApi {
    let login = CustomerApi::new(&ops.shop.customer_url)
        .signed_up(&email("health"))
        .await;
    ProductOrderApi::as_user(&ops.shop.product_order_url, login["access_token"].as_str().unwrap())
}

/// The operator, logged in through the pages of the web front at `web_url`.
async fn operator_browser(ops: &OperatedShop, web_url: &str) -> Browser {
    let me = CustomerApi::new(&ops.shop.customer_url).me(&ops.operator_token).await;
    let mut browser = Browser::open(web_url).await;
    browser
        .log_in(me.body["email"].as_str().unwrap(), "operator password")
        .await;
    browser
}

/// Checks out the shopper's cart and answers how the checkout ended.
async fn check_out(shopper: &ProductOrderApi) -> Value {
    let accepted = shopper
        .checkout(&uuid::Uuid::new_v4().to_string(), valid_details())
        .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    shopper
        .finished_checkout(accepted.body["checkout_id"].as_str().unwrap())
        .await
}

#[tokio::test]
async fn health_shows_checkouts_the_share_failed_and_why_and_the_event_lag() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let tea = operator.create_product("TEA-LAST", "Last Sencha", 1290, 1).await;
    let tea = tea["id"].as_str().unwrap();
    // Two shoppers want the last one: the first gets it, the second's checkout fails.
    let (first, second) = (a_shopper(&ops).await, a_shopper(&ops).await);
    for shopper in [&first, &second] {
        assert_eq!(shopper.set_quantity(tea, 1).await.status, StatusCode::OK);
    }
    assert_eq!(check_out(&first).await["state"], "completed");
    assert_eq!(check_out(&second).await["state"], "failed");

    let health = operator.get("/api/ops/health").await;
    assert_eq!(health.status, StatusCode::OK, "{:?}", health.body);
    let checkouts = &health.body["checkouts"];
    assert_eq!(checkouts["started"], 2, "{checkouts}");
    assert_eq!(checkouts["completed"], 1, "{checkouts}");
    assert_eq!(checkouts["failed"], 1, "{checkouts}");
    assert_eq!(checkouts["failed_share"], 0.5, "{checkouts}");
    assert_eq!(
        checkouts["failure_reasons"],
        json!([{"reason": "Last Sencha is out of stock.", "count": 1}])
    );
    let per_minute = checkouts["per_minute"].as_f64().unwrap();
    assert!((per_minute - 2.0 / 15.0).abs() < 1e-9, "{per_minute}");
    assert_eq!(health.body["sagas"]["stuck"], 0);
    assert_eq!(health.body["sagas"]["idle"], 0);
    assert!(health.body["sagas"]["queue_age_seconds"].as_f64().unwrap() >= 0.0);
    let outbox = eventually("the outbox sent", Duration::from_secs(10), async || {
        let health = operator.get("/api/ops/health").await;
        (health.body["outbox"]["unpublished"] == 0).then_some(health.body["outbox"].clone())
    })
    .await;
    assert!(outbox["oldest_age_seconds"].is_null(), "{outbox}");
    let narrow = operator.get("/api/ops/health?window_minutes=0").await;
    assert!(narrow.field_error("window_minutes").is_some(), "{:?}", narrow.body);

    // Customer applied the first order's order.placed, some milliseconds after it happened.
    let customer = CustomerApi::new(&ops.shop.customer_url);
    let events = eventually("the order.placed applied", Duration::from_secs(20), async || {
        let health = customer.get_as("/api/ops/health", &ops.operator_token).await;
        assert_eq!(health.status, StatusCode::OK, "{:?}", health.body);
        (health.body["events"]["applied"] == 1).then_some(health.body)
    })
    .await;
    let lag = events["events"]["lag_latest_ms"].as_f64().unwrap();
    assert!((0.0..20_000.0).contains(&lag), "{events}");
    assert_eq!(
        events["events"]["lag_p50_ms"], events["events"]["lag_p99_ms"],
        "one event"
    );
    assert_eq!(events["dead_letters"]["open"], 0);

    let mut browser = operator_browser(&ops, &ops.shop.web_url).await;
    let page = browser.get("/ops/health").await;
    assert_eq!(page.status, StatusCode::OK);
    for shown in [
        r#"id="checkouts-started">2<"#,
        r#"id="checkouts-failed-share">50%<"#,
        "Last Sencha is out of stock.",
        r#"id="dead-letters-open">0<"#,
        r#"id="events-applied">1 "#,
    ] {
        assert!(page.html.contains(shown), "{shown}: {}", page.html);
    }
    assert!(!page.html.contains("did not answer"), "{}", page.html);
    let part = browser.htmx_get_part("/ops/health", "health-figures").await;
    assert!(part.html.starts_with(r#"<div id="health-figures""#), "{}", part.html);
}

#[tokio::test]
async fn the_health_page_says_which_service_does_not_answer_and_shows_the_other() {
    let ops = operated_shop().await;
    // A web front whose product-order is gone: nothing listens at its address any more.
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
    let settings = web::Settings {
        addr: "127.0.0.1:0".parse().unwrap(),
        internal_addr: "127.0.0.1:0".parse().unwrap(),
        amqp_url: ops.shop.amqp_url.clone(),
        events_exchange: ops.shop.events_exchange.clone(),
        customer_url: ops.shop.customer_url.clone(),
        product_order_url: format!("http://{gone}"),
        ..web::Settings::from_env().unwrap()
    };
    let web_addr = web::start(settings, shutdown.clone(), &tasks).await.unwrap().addr;
    let mut browser = operator_browser(&ops, &format!("http://{web_addr}")).await;
    let page = browser.get("/ops/health").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains(r#"id="product-order-down""#), "{}", page.html);
    assert!(
        page.html
            .contains("Product-order (checkouts, sagas, outbox) did not answer."),
        "{}",
        page.html
    );
    assert!(
        page.html.contains(r#"id="dead-letters-open">0<"#),
        "customer's figures still show: {}",
        page.html
    );
    shutdown.cancel();
}

#[tokio::test]
async fn low_stock_lists_active_products_at_or_below_the_threshold_lowest_first() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let plenty = operator.create_product("TEA-PLENTY", "Plenty", 1290, 50).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let few = operator.create_product("TEA-FEW", "Few", 1290, 3).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let retired = operator.create_product("TEA-GONE", "Retired", 1290, 0).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let hidden = operator.update_product(&retired, json!({"active": false})).await;
    assert_eq!(hidden.status, StatusCode::OK, "{:?}", hidden.body);
    let listed = |body: &Value| -> Vec<(String, i64)> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["id"].as_str().unwrap().to_owned(), p["stock"].as_i64().unwrap()))
            .collect()
    };
    let low = operator.get("/api/ops/low-stock").await;
    assert_eq!(low.status, StatusCode::OK, "{:?}", low.body);
    assert_eq!(low.body["threshold"], 5);
    assert_eq!(listed(&low.body), [(few.clone(), 3)], "inactive products are left out");

    // Its stock drops: a shopper buys 48, an operator takes one away.
    let shopper = a_shopper(&ops).await;
    assert_eq!(shopper.set_quantity(&plenty, 48).await.status, StatusCode::OK);
    assert_eq!(check_out(&shopper).await["state"], "completed");
    let adjusted = operator
        .update_product(&plenty, json!({"stock_delta": -1, "stock_reason": "broken jar"}))
        .await;
    assert_eq!(adjusted.status, StatusCode::OK, "{:?}", adjusted.body);
    let low = operator.get("/api/ops/low-stock").await;
    assert_eq!(
        listed(&low.body),
        [(plenty.clone(), 1), (few.clone(), 3)],
        "lowest first"
    );
    let none = operator.get("/api/ops/low-stock?threshold=0").await;
    assert_eq!(listed(&none.body), []);
    let wrong = operator.get("/api/ops/low-stock?threshold=-1").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.field_error("threshold").is_some(), "{:?}", wrong.body);

    let mut browser = operator_browser(&ops, &ops.shop.web_url).await;
    let board = browser.get("/ops/orders").await;
    assert_eq!(board.status, StatusCode::OK);
    let plenty_row = board
        .html
        .find(&format!(r#"href="/ops/products/{plenty}#stock-form""#))
        .expect("a link to the product's stock form");
    let few_row = board.html.find(&format!("low-stock-{few}")).expect("listed");
    assert!(plenty_row < few_row, "lowest first: {}", board.html);
    assert!(!board.html.contains(&format!("low-stock-{retired}")));
}

#[tokio::test]
async fn shoppers_get_403_and_visitors_the_login_page_on_every_new_operator_route() {
    let ops = operated_shop().await;
    let shop = &ops.shop;
    let customer = CustomerApi::new(&shop.customer_url);
    let address = email("nosy");
    let login = customer.signed_up(&address).await;
    let token = login["access_token"].as_str().unwrap();
    let some_id = uuid::Uuid::new_v4();
    let http = reqwest::Client::new();
    let routes = [
        (Method::GET, format!("{}/api/ops/dead-letters", shop.customer_url)),
        (
            Method::GET,
            format!("{}/api/ops/dead-letters/{some_id}", shop.customer_url),
        ),
        (
            Method::POST,
            format!("{}/api/ops/dead-letters/replay", shop.customer_url),
        ),
        (
            Method::POST,
            format!("{}/api/ops/dead-letters/discard", shop.customer_url),
        ),
        (
            Method::POST,
            format!("{}/api/ops/dead-letters/{some_id}/replay", shop.customer_url),
        ),
        (
            Method::POST,
            format!("{}/api/ops/dead-letters/{some_id}/discard", shop.customer_url),
        ),
        (Method::GET, format!("{}/api/ops/health", shop.customer_url)),
        (Method::GET, format!("{}/api/ops/health", shop.product_order_url)),
        (Method::GET, format!("{}/api/ops/low-stock", shop.product_order_url)),
    ];
    for (method, url) in &routes {
        let body = json!({"all": true, "reason": "just looking"});
        let as_shopper = http
            .request(method.clone(), url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(as_shopper.status(), StatusCode::FORBIDDEN, "{method} {url}");
        let anonymous = http.request(method.clone(), url).json(&body).send().await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{method} {url}");
    }

    let pages = [
        "/ops/dead-letters",
        &format!("/ops/dead-letters/{some_id}"),
        "/ops/health",
    ];
    let visitor = Browser::open(&shop.web_url).await;
    for path in pages {
        let response = visitor.visit(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let location = response.headers()["location"].to_str().unwrap();
        assert!(location.starts_with("/login?next="), "{path}: {location}");
    }
    let mut shopper = Browser::open(&shop.web_url).await;
    shopper.log_in(&address, crate::browser::PASSWORD).await;
    for path in pages {
        assert_eq!(shopper.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    for action in ["/ops/dead-letters/replay", "/ops/dead-letters/discard"] {
        let posted = shopper
            .post(
                action,
                &[("all", "yes"), ("confirm", "yes"), ("reason", "just looking")],
            )
            .await;
        assert_eq!(posted.status(), StatusCode::FORBIDDEN, "{action}");
    }
}
