//! Reconciliation: each invariant broken the way a bug would break it (SQL on a service's
//! database), the mismatch then shown with its cause in product-order's API and on
//! /ops/health, counted by the metrics, repaired from the page or the API and the repair
//! recorded; and a healthy shop shows none.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::browser::Browser;
use crate::helpers::{
    CustomerApi, OperatedShop, ProductOrderApi, declare_customer_queue_then_stop, email, eventually, operated_shop,
    operated_shop_custom, valid_details,
};

/// A new shopper's product-order client.
async fn a_shopper(ops: &OperatedShop) -> ProductOrderApi {
    let login = CustomerApi::new(&ops.shop.customer_url)
        .signed_up(&email("reconcile"))
        .await;
    ProductOrderApi::as_user(&ops.shop.product_order_url, login["access_token"].as_str().unwrap())
}

/// A new shopper with `quantity` of `product` in their cart.
async fn with_cart(ops: &OperatedShop, product: &str, quantity: i64) -> ProductOrderApi {
    let shopper = a_shopper(ops).await;
    assert_eq!(shopper.set_quantity(product, quantity).await.status, StatusCode::OK);
    shopper
}

/// Checks out the shopper's cart; answers the finished checkout.
async fn check_out(shopper: &ProductOrderApi) -> Value {
    let accepted = shopper.checkout(&Uuid::new_v4().to_string(), valid_details()).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    shopper
        .finished_checkout(accepted.body["checkout_id"].as_str().unwrap())
        .await
}

/// A shopper buys `quantity` of `product`; answers the finished checkout.
async fn buy(ops: &OperatedShop, product: &str, quantity: i64) -> Value {
    check_out(&with_cart(ops, product, quantity).await).await
}

fn operator(ops: &OperatedShop) -> ProductOrderApi {
    ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token)
}

/// Product-order's check, run now.
async fn check(ops: &OperatedShop) -> Value {
    let answer = operator(ops).get("/api/ops/reconciliation").await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body
}

/// The mismatches of `kind` in a check's answer.
fn of_kind(check: &Value, kind: &str) -> Vec<Value> {
    check["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == kind)
        .cloned()
        .collect()
}

/// The value of `name{kind="<kind>"}` on the `/metrics` of the service at `base`.
async fn metric(base: &str, name: &str, kind: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("{name}{{kind=\"{kind}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .unwrap_or_else(|| panic!("no {series}in {text}"))
        .trim()
        .parse()
        .unwrap()
}

/// The reconciliation section of the health page, as the operator sees it.
async fn section(browser: &mut Browser) -> String {
    let page = browser.get("/ops/health").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let start = page
        .html
        .find(r#"<section class="panel" id="reconciliation""#)
        .expect("the section");
    let end = page.html[start..].find("</section>").unwrap() + start;
    page.html[start..end].to_owned()
}

/// Customer's copies of `orders`: (order id, version).
async fn copies(ops: &OperatedShop, orders: &[&str]) -> Vec<(String, i64)> {
    let path = format!("/api/ops/orders/digest?ids={}", orders.join(","));
    let answer = CustomerApi::new(&ops.shop.customer_url)
        .get_as(&path, &ops.operator_token)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let mut items: Vec<(String, i64)> = answer.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["order_id"].as_str().unwrap().to_owned(),
                i["version"].as_i64().unwrap(),
            )
        })
        .collect();
    items.sort();
    items
}

/// Waits until customer holds each of `orders` at its version.
async fn customer_holds(ops: &OperatedShop, orders: &[(&str, i64)]) {
    let mut wanted: Vec<(String, i64)> = orders.iter().map(|(id, v)| ((*id).to_owned(), *v)).collect();
    wanted.sort();
    let ids: Vec<&str> = orders.iter().map(|(id, _)| *id).collect();
    eventually("customer's copies up to date", Duration::from_secs(20), async || {
        (copies(ops, &ids).await == wanted).then_some(())
    })
    .await;
}

/// Repairs through the page: the form, its confirmation, then the health page's notice.
async fn repair_on_the_page(browser: &mut Browser, repair: &str, id: &str, reason: &str) {
    let path = format!("/ops/reconciliation/{repair}/{id}");
    let confirm = browser.post(&path, &[("reason", reason)]).await;
    assert_eq!(confirm.status(), StatusCode::OK);
    let html = confirm.text().await.unwrap();
    assert!(html.contains(r#"id="confirm-form""#), "{html}");
    assert!(html.contains(id), "{html}");
    let done = browser.post(&path, &[("reason", reason), ("confirmed", "yes")]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let location = done.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/ops/health?done={repair}#reconciliation"));
    let page = browser.get(&location).await;
    assert!(page.html.contains(r#"id="repair-done""#), "{}", page.html);
}

#[tokio::test]
async fn a_healthy_shop_after_a_few_checkouts_shows_no_mismatches() {
    let ops = operated_shop().await;
    let tea = operator(&ops).create_product("TEA-OK", "Sencha", 1290, 3).await;
    let tea = tea["id"].as_str().unwrap();
    let shoppers = [
        with_cart(&ops, tea, 2).await,
        with_cart(&ops, tea, 1).await,
        with_cart(&ops, tea, 1).await,
    ];
    let first = check_out(&shoppers[0]).await;
    let second = check_out(&shoppers[1]).await;
    let sold_out = check_out(&shoppers[2]).await;
    assert_eq!(
        [&first["state"], &second["state"], &sold_out["state"]],
        ["completed", "completed", "failed"]
    );
    let (first, second) = (
        first["order_id"].as_str().unwrap(),
        second["order_id"].as_str().unwrap(),
    );
    let moved = operator(&ops).move_order(first, "confirmed").await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    customer_holds(&ops, &[(first, 2), (second, 1)]).await;
    // The relay has nothing left either.
    eventually("the outbox empty", Duration::from_secs(10), async || {
        let health = operator(&ops).get("/api/ops/health").await;
        (health.body["outbox"]["unpublished"] == 0).then_some(())
    })
    .await;

    let own = check(&ops).await;
    assert_eq!(own["mismatches"], json!([]), "{own}");
    let mut browser = Browser::operator(&ops).await;
    let html = section(&mut browser).await;
    assert!(html.contains(r#"id="no-mismatches""#), "{html}");
    assert!(html.contains("2 orders changed"), "both orders compared: {html}");
    for kind in [
        "reservation_without_live_saga",
        "saga_and_order_disagree",
        "stock_drift",
        "event_not_published",
    ] {
        assert_eq!(
            metric(&ops.shop.product_order_internal_url, "reconciliation_mismatches", kind).await,
            0.0
        );
    }
    for kind in ["order_missing_at_customer", "customer_behind", "customer_differs"] {
        assert_eq!(
            metric(&ops.shop.web_internal_url, "web_reconciliation_mismatches", kind).await,
            0.0
        );
    }
}

#[tokio::test]
async fn stock_held_without_a_live_saga_shows_with_its_cause_and_is_released_from_the_page() {
    let ops = operated_shop().await;
    let tea = operator(&ops).create_product("TEA-HELD", "Gyokuro", 2500, 5).await;
    let tea_id: Uuid = tea["id"].as_str().unwrap().parse().unwrap();
    let db = PgPool::connect(&ops.shop.product_order_database_url).await.unwrap();
    // A bug reserves two outside any checkout saga: the stock is taken, nothing will give it back.
    let lost = Uuid::now_v7();
    sqlx::query("UPDATE products SET stock = stock - 2 WHERE id = $1")
        .bind(tea_id)
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("INSERT INTO stock_reservations (checkout_id, product_id, quantity, state) VALUES ($1, $2, 2, 'held')")
        .bind(lost)
        .bind(tea_id)
        .execute(&db)
        .await
        .unwrap();
    // And a checkout that completed finds its reservation held again, though its order stands.
    let completed = buy(&ops, &tea_id.to_string(), 1).await;
    let checkout = completed["checkout_id"].as_str().unwrap();
    sqlx::query("UPDATE stock_reservations SET state = 'held' WHERE checkout_id = $1")
        .bind(checkout.parse::<Uuid>().unwrap())
        .execute(&db)
        .await
        .unwrap();

    let own = check(&ops).await;
    let held = of_kind(&own, "reservation_without_live_saga");
    assert_eq!(held.len(), 2, "{own}");
    let orphan = held
        .iter()
        .find(|m| m["checkout_id"] == lost.to_string())
        .expect("the lost one");
    assert_eq!(orphan["repair"], "release");
    assert!(
        orphan["cause"]
            .as_str()
            .unwrap()
            .ends_with("whose saga does not exist."),
        "{orphan}"
    );
    let standing = held
        .iter()
        .find(|m| m["checkout_id"] == checkout)
        .expect("the completed one");
    assert_eq!(standing["repair"], Value::Null, "its order ships that stock");
    assert_eq!(standing["order_id"], completed["order_id"]);
    assert!(
        standing["cause"].as_str().unwrap().contains("has completed"),
        "{standing}"
    );
    assert_eq!(
        of_kind(&own, "stock_drift"),
        Vec::<Value>::new(),
        "stock agrees with what is held"
    );
    let gauge = metric(
        &ops.shop.product_order_internal_url,
        "reconciliation_mismatches",
        "reservation_without_live_saga",
    );
    assert_eq!(gauge.await, 2.0);

    // Releasing the completed checkout's stock is refused, and says why.
    let refused = operator(&ops)
        .send(
            Method::POST,
            &format!("/api/ops/reservations/{checkout}/release"),
            json!({"reason": "looks stuck"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("would sell it twice"),
        "{:?}",
        refused.body
    );
    let unheard = operator(&ops)
        .send(
            Method::POST,
            &format!("/api/ops/reservations/{lost}/release"),
            json!({"reason": "  "}),
        )
        .await;
    assert_eq!(unheard.status, StatusCode::UNPROCESSABLE_ENTITY, "a reason is needed");

    let mut browser = Browser::operator(&ops).await;
    let html = section(&mut browser).await;
    assert!(html.contains("Reservation without a live saga"), "{html}");
    assert!(
        html.contains(&format!("held for checkout {lost}, whose saga does not exist")),
        "{html}"
    );
    assert!(
        html.contains(&format!(r#"action="/ops/reconciliation/release/{lost}""#)),
        "{html}"
    );
    assert!(
        !html.contains(&format!(r#"action="/ops/reconciliation/release/{checkout}""#)),
        "{html}"
    );
    repair_on_the_page(
        &mut browser,
        "release",
        &lost.to_string(),
        "stock lost by the reserve bug",
    )
    .await;

    let stock: i32 = sqlx::query_scalar("SELECT stock FROM products WHERE id = $1")
        .bind(tea_id)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(stock, 4, "the two are back on sale (one is sold)");
    let own = check(&ops).await;
    let held = of_kind(&own, "reservation_without_live_saga");
    assert_eq!(held.len(), 1, "only the completed checkout's is left: {own}");
    let record = &own["repairs"][0];
    assert_eq!(record["repair"], "release");
    assert_eq!(record["checkout_id"], lost.to_string());
    assert_eq!(record["reason"], "stock lost by the reserve bug");
    assert!(
        record["operator"].as_str().unwrap().contains(&ops.operator_id),
        "{record}"
    );
    assert_eq!(
        record["details"]["released"],
        json!([{"product_id": tea_id, "quantity": 2}])
    );
    assert_eq!(record["details"]["saga_state"], Value::Null, "it had no saga");
    let again = operator(&ops)
        .send(
            Method::POST,
            &format!("/api/ops/reservations/{lost}/release"),
            json!({"reason": "once more"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "nothing is held any more");
}

#[tokio::test]
async fn sagas_and_orders_that_disagree_and_stock_that_drifted_show_with_their_causes() {
    let ops = operated_shop().await;
    let tea = operator(&ops).create_product("TEA-DRIFT", "Bancha", 900, 2).await;
    let tea = tea["id"].as_str().unwrap().to_owned();
    let tea_id: Uuid = tea.parse().unwrap();
    let (first, second) = (with_cart(&ops, &tea, 2).await, with_cart(&ops, &tea, 1).await);
    let completed = check_out(&first).await;
    let failed = check_out(&second).await;
    assert_eq!([&completed["state"], &failed["state"]], ["completed", "failed"]);
    let db = PgPool::connect(&ops.shop.product_order_database_url).await.unwrap();
    // The completed checkout's order vanishes, its reservation with it.
    let completed_order: Uuid = completed["order_id"].as_str().unwrap().parse().unwrap();
    sqlx::query("DELETE FROM orders WHERE id = $1")
        .bind(completed_order)
        .execute(&db)
        .await
        .unwrap();
    // The failed checkout gets an order after all.
    let failed_checkout: Uuid = failed["checkout_id"].as_str().unwrap().parse().unwrap();
    let stray = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO orders (id, checkout_id, customer_id, status, total, currency, contact, delivery) \
         VALUES ($1, $2, $3, 'placed', 900, 'EUR', '{}', '{}')",
    )
    .bind(stray)
    .bind(failed_checkout)
    .bind(Uuid::now_v7())
    .execute(&db)
    .await
    .unwrap();
    // And three units appear without an operator's change.
    sqlx::query("UPDATE products SET stock = stock + 3 WHERE id = $1")
        .bind(tea_id)
        .execute(&db)
        .await
        .unwrap();

    let own = check(&ops).await;
    let disagree = of_kind(&own, "saga_and_order_disagree");
    assert_eq!(disagree.len(), 2, "{own}");
    let causes: Vec<&str> = disagree.iter().map(|m| m["cause"].as_str().unwrap()).collect();
    assert!(
        causes.contains(
            &format!(
                "Checkout {} completed but placed no order.",
                completed["checkout_id"].as_str().unwrap()
            )
            .as_str()
        ),
        "{causes:?}"
    );
    assert!(
        causes.contains(
            &format!("Checkout {failed_checkout} failed but its order {stray} is placed, not cancelled.").as_str()
        ),
        "{causes:?}"
    );
    assert!(disagree.iter().all(|m| m["repair"].is_null()), "an operator decides");
    let drift = of_kind(&own, "stock_drift");
    assert_eq!(drift.len(), 1, "{own}");
    assert_eq!(drift[0]["product_id"], tea);
    assert!(
        drift[0]["cause"]
            .as_str()
            .unwrap()
            .starts_with("Bancha has 3 in stock, but its initial stock and operator changes (2) less its held and committed reservations (2) make 0."),
        "{drift:?}"
    );
    let base = &ops.shop.product_order_internal_url;
    assert_eq!(
        metric(base, "reconciliation_mismatches", "saga_and_order_disagree").await,
        2.0
    );
    assert_eq!(metric(base, "reconciliation_mismatches", "stock_drift").await, 1.0);

    let mut browser = Browser::operator(&ops).await;
    let html = section(&mut browser).await;
    assert!(html.contains("Saga and order disagree"), "{html}");
    assert!(
        html.contains(&format!("its order {stray} is placed, not cancelled")),
        "{html}"
    );
    assert!(html.contains("Stock differs from its record"), "{html}");

    // An operator's change records the stock before it as it finds it, so it cannot explain
    // the units that came without a record: the drift stays until someone finds their cause.
    let corrected = operator(&ops)
        .update_product(&tea, json!({"stock_delta": -3, "stock_reason": "found no such units"}))
        .await;
    assert_eq!(corrected.status, StatusCode::OK, "{:?}", corrected.body);
    assert_eq!(of_kind(&check(&ops).await, "stock_drift").len(), 1);
}

#[tokio::test]
async fn an_event_left_unpublished_shows_and_sending_the_order_again_changes_nothing_twice() {
    let ops = operated_shop().await;
    let tea = operator(&ops).create_product("TEA-EVENT", "Hojicha", 900, 5).await;
    let placed = buy(&ops, tea["id"].as_str().unwrap(), 1).await;
    let order = placed["order_id"].as_str().unwrap();
    let moved = operator(&ops).move_order(order, "confirmed").await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    customer_holds(&ops, &[(order, 2)]).await;
    // The status change's event as a relay that never got to it would leave it: written two
    // minutes ago, never sent, and not due for the relay.
    let db = PgPool::connect(&ops.shop.product_order_database_url).await.unwrap();
    let event: Uuid = sqlx::query_scalar(
        "UPDATE outbox SET published_at = NULL, sent_at = NULL, created_at = now() - interval '2 minutes', \
                relay_after = now() + interval '1 hour' \
         WHERE aggregate_id = $1 AND routing_key = 'order.status_changed' RETURNING id",
    )
    .bind(order.parse::<Uuid>().unwrap())
    .fetch_one(&db)
    .await
    .unwrap();

    let own = check(&ops).await;
    let stale = of_kind(&own, "event_not_published");
    assert_eq!(stale.len(), 1, "{own}");
    assert_eq!(stale[0]["order_id"], order);
    assert_eq!(stale[0]["repair"], "republish");
    let cause = stale[0]["cause"].as_str().unwrap();
    assert!(
        cause.starts_with(&format!("order.status_changed {event} was written 1")),
        "{cause}"
    );
    let base = &ops.shop.product_order_internal_url;
    assert_eq!(
        metric(base, "reconciliation_mismatches", "event_not_published").await,
        1.0
    );

    let repaired = operator(&ops)
        .send(
            Method::POST,
            &format!("/api/ops/orders/{order}/republish"),
            json!({"reason": "relay was stuck"}),
        )
        .await;
    assert_eq!(repaired.status, StatusCode::OK, "{:?}", repaired.body);
    let sent: Vec<(String, i64, bool)> = repaired.body["details"]["events_sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["routing_key"].as_str().unwrap().to_owned(),
                e["version"].as_i64().unwrap(),
                e["confirmed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sent,
        [
            ("order.placed".to_owned(), 1, true),
            ("order.status_changed".to_owned(), 2, false)
        ],
        "every event in version order, with whether it had been confirmed"
    );
    assert_eq!(of_kind(&check(&ops).await, "event_not_published"), Vec::<Value>::new());
    assert_eq!(
        metric(base, "reconciliation_mismatches", "event_not_published").await,
        0.0
    );
    // Customer had both (it applies an event id once): its copy stays as it was.
    assert_eq!(copies(&ops, &[order]).await, [(order.to_owned(), 2)]);
    let missing = operator(&ops)
        .send(
            Method::POST,
            &format!("/api/ops/orders/{}/republish", Uuid::now_v7()),
            json!({"reason": "no such order"}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn customer_lacking_an_order_or_lagging_shows_on_the_page_until_it_catches_up_or_is_sent_again() {
    let ops = operated_shop_custom(|c| c.events.workers = false, |_| {}).await;
    let applier = declare_customer_queue_then_stop(&ops.shop).await;
    let tea = operator(&ops).create_product("TEA-LAG", "Kukicha", 900, 5).await;
    let placed = buy(&ops, tea["id"].as_str().unwrap(), 1).await;
    let order = placed["order_id"].as_str().unwrap().to_owned();
    let mut browser = Browser::operator(&ops).await;

    // Customer's events wait in its queue: it has no copy yet.
    let html = section(&mut browser).await;
    assert!(html.contains(r#"data-kind="order_missing_at_customer""#), "{html}");
    assert!(
        html.contains("Customer has no copy of this order; product-order has it placed at version 1."),
        "{html}"
    );
    let web = &ops.shop.web_internal_url;
    assert_eq!(
        metric(web, "web_reconciliation_mismatches", "order_missing_at_customer").await,
        1.0
    );

    // It catches up once it applies its queue again: nothing to repair.
    let replica = testkit::Replica::customer(applier.clone()).await;
    customer_holds(&ops, &[(&order, 1)]).await;
    assert!(section(&mut browser).await.contains(r#"id="no-mismatches""#));
    assert_eq!(
        metric(web, "web_reconciliation_mismatches", "order_missing_at_customer").await,
        0.0
    );

    // Stopped again, it falls behind a status change.
    replica.stop().await;
    let moved = operator(&ops).move_order(&order, "confirmed").await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    let html = section(&mut browser).await;
    assert!(
        html.contains("Customer holds version 1 (placed); product-order is at version 2 (confirmed)."),
        "{html}"
    );
    assert_eq!(
        metric(web, "web_reconciliation_mismatches", "customer_behind").await,
        1.0
    );
    let replica = testkit::Replica::customer(applier).await;
    customer_holds(&ops, &[(&order, 2)]).await;

    // Customer loses its copy and the record of having applied its events, as if they never
    // came: sending the order again from the page brings it back.
    let customer_db = PgPool::connect(&ops.shop.customer_database_url).await.unwrap();
    let product_order_db = PgPool::connect(&ops.shop.product_order_database_url).await.unwrap();
    let events: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM outbox WHERE aggregate_id = $1")
        .bind(order.parse::<Uuid>().unwrap())
        .fetch_all(&product_order_db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM applied_events WHERE event_id = ANY($1)")
        .bind(&events)
        .execute(&customer_db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM orders WHERE id = $1")
        .bind(order.parse::<Uuid>().unwrap())
        .execute(&customer_db)
        .await
        .unwrap();
    let html = section(&mut browser).await;
    assert!(html.contains("Order missing at customer"), "{html}");
    assert!(
        html.contains(&format!(r#"action="/ops/reconciliation/republish/{order}""#)),
        "{html}"
    );
    repair_on_the_page(&mut browser, "republish", &order, "customer lost the order").await;
    customer_holds(&ops, &[(&order, 2)]).await;
    let html = section(&mut browser).await;
    assert!(html.contains(r#"id="no-mismatches""#), "{html}");
    assert!(html.contains("customer lost the order"), "the repair is listed: {html}");
    assert_eq!(
        metric(web, "web_reconciliation_mismatches", "order_missing_at_customer").await,
        0.0
    );
    replica.stop().await;
}
