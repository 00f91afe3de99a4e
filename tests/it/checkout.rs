//! The checkout saga over HTTP, against real PostgreSQL and RabbitMQ: orders placed and
//! announced once, validation, idempotency, no oversell, cancellation, stuck compensations.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{
    CustomerApi, EventTap, ProductOrderApi, email, eventually, operated_shop, operated_shop_with, valid_details,
};

async fn shopper(shop: &testkit::TestShop, label: &str) -> ProductOrderApi {
    let login = CustomerApi::new(&shop.customer_url).signed_up(&email(label)).await;
    ProductOrderApi::as_user(&shop.product_order_url, login["access_token"].as_str().unwrap())
}

fn id_of(product: &Value) -> String {
    product["id"].as_str().unwrap().to_owned()
}

async fn stock_of(db: &PgPool, product_id: &str) -> i32 {
    sqlx::query_scalar("SELECT stock FROM products WHERE id = $1::uuid")
        .bind(product_id)
        .fetch_one(db)
        .await
        .unwrap()
}

async fn held_reservations(db: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM stock_reservations WHERE state = 'held'")
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_checkout_places_the_order_clears_the_cart_and_announces_it_once() {
    let ops = operated_shop().await;
    let tap = EventTap::open(&ops.shop).await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let tea = id_of(&operator.create_product("TEA-1", "Sencha", 1290, 10).await);
    let pot = id_of(&operator.create_product("POT-1", "Teapot", 3490, 3).await);
    let shopper = shopper(&ops.shop, "buyer").await;
    shopper.set_quantity(&tea, 2).await;
    shopper.set_quantity(&pot, 1).await;

    let accepted = shopper.checkout("key-1", valid_details()).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    let checkout_id = accepted.body["checkout_id"].as_str().unwrap().to_owned();
    assert_eq!(accepted.body["status_url"], format!("/api/checkouts/{checkout_id}"));

    let done = shopper.finished_checkout(&checkout_id).await;
    assert_eq!(done["state"], "completed", "{done:?}");
    assert_eq!(done["failure"], Value::Null);
    let steps: Vec<(&str, &str)> = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("validate_details", "succeeded"),
            ("reserve_stock", "succeeded"),
            ("place_order", "succeeded"),
            ("publish_order_placed", "succeeded")
        ]
    );
    assert_eq!(done["total"], 2 * 1290 + 3490);
    let order_id = done["order_id"].as_str().expect("an order id").to_owned();

    let db = PgPool::connect(&ops.shop.product_order_database_url).await.unwrap();
    assert_eq!(stock_of(&db, &tea).await, 8);
    assert_eq!(stock_of(&db, &pot).await, 2);
    assert_eq!(held_reservations(&db).await, 0, "the reservation became the order's");
    let cart = shopper.get("/api/cart").await;
    assert_eq!(cart.body["items"], json!([]), "the cart is cleared");

    // The step completes only once the broker confirmed: the event is already on our queue.
    let events = tap.drain().await;
    let placed: Vec<_> = events
        .iter()
        .filter(|(key, _, body)| key == "order.placed" && body["order_id"] == order_id.as_str())
        .collect();
    assert_eq!(placed.len(), 1, "{events:?}");
    let (_, message_id, body) = placed[0];
    assert_eq!(body["event_id"].as_str(), Some(message_id.as_str()));
    assert_eq!(body["total"], 2 * 1290 + 3490);
    assert_eq!(body["status"], "placed");
    assert_eq!(body["version"], 1);
    assert_eq!(body["delivery"]["postal_code"], "SW1Y 4LB");
    assert_eq!(body["lines"].as_array().unwrap().len(), 2);

    // Another shopper cannot see it.
    let stranger = self::shopper(&ops.shop, "stranger").await;
    let hidden = stranger.get(&format!("/api/checkouts/{checkout_id}")).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_requests_are_refused_with_reasons_and_start_nothing() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let tea = id_of(&operator.create_product("TEA-1", "Sencha", 1290, 10).await);
    let shopper = shopper(&ops.shop, "careless").await;

    // Sent from a page that showed the cart before another tab emptied it.
    let mut stale = valid_details();
    stale["reviewed"] = json!({"total": 1290, "currency": "EUR"});
    let empty = shopper.checkout_with("key-empty", &stale).await;
    assert_eq!(empty.status, StatusCode::CONFLICT, "{:?}", empty.body);
    assert_eq!(empty.body["error"]["code"], "empty_cart");

    shopper.set_quantity(&tea, 1).await;
    let unreviewed = shopper.checkout_with("key-unreviewed", &valid_details()).await;
    assert_eq!(
        unreviewed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        unreviewed.body
    );
    assert!(unreviewed.field_error("reviewed").is_some(), "{:?}", unreviewed.body);
    let mut misreviewed = valid_details();
    misreviewed["reviewed"] = json!({"total": -1290, "currency": "ducats"});
    let misreviewed = shopper.checkout_with("key-misreviewed", &misreviewed).await;
    assert_eq!(
        misreviewed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        misreviewed.body
    );
    assert!(misreviewed.field_error("reviewed.total").is_some());
    assert!(misreviewed.field_error("reviewed.currency").unwrap().contains("EUR"));
    let mut wrong = valid_details();
    wrong["delivery"]["country"] = json!("DE");
    wrong["delivery"]["postal_code"] = json!("1234");
    wrong["contact"]["email"] = json!("not an email");
    let invalid = shopper.checkout("key-invalid", wrong).await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", invalid.body);
    assert!(invalid.field_error("delivery.postal_code").unwrap().contains("Germany"));
    assert!(invalid.field_error("contact.email").is_some());

    let mut far = valid_details();
    far["delivery"]["country"] = json!("AQ");
    let refused = shopper.checkout("key-far", far).await;
    assert_eq!(
        refused.field_error("delivery.country"),
        Some("We do not ship to this country yet.")
    );

    let no_key = shopper.send(Method::POST, "/api/checkout", valid_details()).await;
    assert_eq!(no_key.status, StatusCode::BAD_REQUEST, "{:?}", no_key.body);

    let visitor = ProductOrderApi::anonymous(&ops.shop.product_order_url);
    assert_eq!(
        visitor.checkout("key-visitor", valid_details()).await.status,
        StatusCode::UNAUTHORIZED
    );

    let db = PgPool::connect(&ops.shop.product_order_database_url).await.unwrap();
    let instances: i64 = sqlx::query_scalar("SELECT count(*) FROM saga.instances")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(instances, 0, "no refused request started a saga");
    assert_eq!(stock_of(&db, &tea).await, 10);
}

#[tokio::test]
async fn the_same_key_twice_at_once_gives_one_checkout_and_one_order() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let tea = id_of(&operator.create_product("TEA-1", "Sencha", 1290, 10).await);
    let shopper = shopper(&ops.shop, "double-click").await;
    shopper.set_quantity(&tea, 3).await;
    let body = shopper.reviewed(valid_details()).await;

    let (first, second) = tokio::join!(
        shopper.checkout_with("same-key", &body),
        shopper.checkout_with("same-key", &body)
    );
    assert_eq!(first.status, StatusCode::ACCEPTED, "{:?}", first.body);
    assert_eq!(second.status, StatusCode::ACCEPTED, "{:?}", second.body);
    assert_eq!(first.body["checkout_id"], second.body["checkout_id"]);
    let checkout_id = first.body["checkout_id"].as_str().unwrap();
    assert_eq!(shopper.finished_checkout(checkout_id).await["state"], "completed");

    // After the order: the cart is empty, yet the same key still answers with the same checkout.
    let again = shopper.checkout_with("same-key", &body).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.body["checkout_id"], first.body["checkout_id"]);
    // The key with other details is a mistake, not a repeat.
    let mut other = body.clone();
    other["contact"]["name"] = json!("Someone Else");
    let reused = shopper.checkout_with("same-key", &other).await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reused.body["error"]["code"], "idempotency_key_reused");

    let db = PgPool::connect(&ops.shop.product_order_database_url).await.unwrap();
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(orders, 1);
    assert_eq!(stock_of(&db, &tea).await, 7);
}

/// What checkouts recorded: (saga instances, orders).
async fn recorded(db: &PgPool) -> (i64, i64) {
    sqlx::query_as("SELECT (SELECT count(*) FROM saga.instances), (SELECT count(*) FROM orders)")
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_price_raised_after_the_review_is_refused_until_the_new_total_is_reviewed() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let tea = id_of(&operator.create_product("TEA-1", "Sencha", 1290, 10).await);
    let shopper = shopper(&ops.shop, "thrifty").await;
    shopper.set_quantity(&tea, 2).await;
    let seen = shopper.reviewed(valid_details()).await;
    assert_eq!(seen["reviewed"], json!({"total": 2580, "currency": "EUR"}));
    let raised = operator.update_product(&tea, json!({"price": 1500})).await;
    assert_eq!(raised.status, StatusCode::OK, "{:?}", raised.body);

    let refused = shopper.checkout_with("key-1", &seen).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert_eq!(refused.body["error"]["code"], "prices_changed");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("30.00 EUR"), "{message}");
    let db = PgPool::connect(&ops.shop.product_order_database_url).await.unwrap();
    assert_eq!(recorded(&db).await, (0, 0), "a refused checkout records nothing");
    assert_eq!(stock_of(&db, &tea).await, 10);

    // Reviewed again, the same key (unused so far) places the order at the new price.
    let accepted = shopper.checkout("key-1", valid_details()).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    let done = shopper
        .finished_checkout(accepted.body["checkout_id"].as_str().unwrap())
        .await;
    assert_eq!(done["state"], "completed", "{done:?}");
    assert_eq!(
        (done["total"].clone(), done["lines"][0]["unit_price"].clone()),
        (json!(3000), json!(1500))
    );
    let order_id = done["order_id"].as_str().unwrap();
    let customers = CustomerApi::new(&ops.shop.customer_url);
    let token = shopper.bearer.as_deref().unwrap();
    let copy = eventually("customer's copy of the order", Duration::from_secs(20), async || {
        let answer = customers.get_as(&format!("/api/orders/{order_id}"), token).await;
        (answer.status == StatusCode::OK).then_some(answer.body)
    })
    .await;
    assert_eq!(
        (copy["total"].clone(), copy["currency"].clone()),
        (json!(3000), json!("EUR"))
    );
    assert_eq!(stock_of(&db, &tea).await, 8);
}

#[tokio::test]
async fn a_repeat_returns_the_first_checkout_even_after_the_cart_changed() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let tea = id_of(&operator.create_product("TEA-1", "Sencha", 1290, 10).await);
    let pot = id_of(&operator.create_product("POT-1", "Teapot", 3490, 3).await);
    let shopper = shopper(&ops.shop, "retrying").await;
    shopper.set_quantity(&tea, 2).await;
    let body = shopper.reviewed(valid_details()).await;
    let first = shopper.checkout_with("key-1", &body).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{:?}", first.body);
    let checkout_id = first.body["checkout_id"].as_str().unwrap();
    assert_eq!(shopper.finished_checkout(checkout_id).await["state"], "completed");

    // The cart fills again and the price rises: the repeat's review is not this cart's total.
    shopper.set_quantity(&tea, 1).await;
    operator.update_product(&tea, json!({"price": 1500})).await;
    let repeat = shopper.checkout_with("key-1", &body).await;
    assert_eq!(repeat.status, StatusCode::ACCEPTED, "{:?}", repeat.body);
    assert_eq!(repeat.body["checkout_id"], checkout_id);
    // Nor is a cart in two currencies.
    shopper.set_quantity(&pot, 1).await;
    operator.update_product(&pot, json!({"currency": "USD"})).await;
    let repeat = shopper.checkout_with("key-1", &body).await;
    assert_eq!(repeat.status, StatusCode::ACCEPTED, "{:?}", repeat.body);
    assert_eq!(repeat.body["checkout_id"], checkout_id);

    let db = PgPool::connect(&ops.shop.product_order_database_url).await.unwrap();
    assert_eq!(recorded(&db).await, (1, 1));
    assert_eq!(stock_of(&db, &tea).await, 8);
}

#[tokio::test]
async fn a_cart_whose_currencies_differ_is_not_checked_out() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let tea = id_of(&operator.create_product("TEA-1", "Sencha", 1000, 10).await);
    let pot = id_of(&operator.create_product("POT-1", "Teapot", 500, 3).await);
    let shopper = shopper(&ops.shop, "abroad").await;
    shopper.set_quantity(&tea, 1).await;
    shopper.set_quantity(&pot, 1).await;
    let changed = operator.update_product(&pot, json!({"currency": "USD"})).await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);

    let refused = shopper.checkout("key-1", valid_details()).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert_eq!(refused.body["error"]["code"], "mixed_currencies");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Teapot is now priced in USD") && message.contains("EUR"),
        "{message}"
    );
    let db = PgPool::connect(&ops.shop.product_order_database_url).await.unwrap();
    assert_eq!(recorded(&db).await, (0, 0), "a refused checkout records nothing");
    assert_eq!((stock_of(&db, &tea).await, stock_of(&db, &pot).await), (10, 3));

    // Without the line in another currency, the cart is one order in EUR.
    shopper.delete(&format!("/api/cart/items/{pot}")).await;
    let accepted = shopper.checkout("key-1", valid_details()).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    let done = shopper
        .finished_checkout(accepted.body["checkout_id"].as_str().unwrap())
        .await;
    assert_eq!(done["state"], "completed", "{done:?}");
    assert_eq!(
        (done["total"].clone(), done["currency"].clone()),
        (json!(1000), json!("EUR"))
    );
    assert_eq!((stock_of(&db, &tea).await, stock_of(&db, &pot).await), (9, 3));
}

#[tokio::test]
async fn two_hundred_checkouts_for_fifty_units_sell_exactly_fifty() {
    const SHOPPERS: usize = 200;
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let kettle = id_of(&operator.create_product("KETTLE-1", "Kettle", 4900, 50).await);

    // Shoppers sign up a few at a time (each costs two password hashes), then all check out at once.
    let mut shoppers = Vec::with_capacity(SHOPPERS);
    for batch in (0..SHOPPERS).collect::<Vec<_>>().chunks(8) {
        let signed_up = futures::future::join_all(batch.iter().map(|_| shopper(&ops.shop, "racer"))).await;
        shoppers.extend(signed_up);
    }
    for shopper in &shoppers {
        assert_eq!(shopper.set_quantity(&kettle, 1).await.status, StatusCode::OK);
    }
    let accepted = futures::future::join_all(shoppers.iter().map(|s| s.checkout("race", valid_details()))).await;
    let mut checkouts = Vec::new();
    for (shopper, answer) in shoppers.iter().zip(&accepted) {
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.body);
        checkouts.push((shopper, answer.body["checkout_id"].as_str().unwrap().to_owned()));
    }
    let mut completed = 0;
    let mut failed = 0;
    for (shopper, checkout_id) in &checkouts {
        let done = shopper.finished_checkout(checkout_id).await;
        match done["state"].as_str() {
            Some("completed") => completed += 1,
            Some("failed") => {
                failed += 1;
                assert_eq!(done["failure"], "Kettle is out of stock.", "{done:?}");
                assert_eq!(done["order_id"], Value::Null);
            }
            other => panic!("checkout ended {other:?}: {done:?}"),
        }
    }
    assert_eq!((completed, failed), (50, 150));
    let db = PgPool::connect(&ops.shop.product_order_database_url).await.unwrap();
    assert_eq!(stock_of(&db, &kettle).await, 0);
    let ordered: i64 = sqlx::query_scalar("SELECT coalesce(sum(quantity), 0) FROM order_lines")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(ordered, 50);
    assert_eq!(held_reservations(&db).await, 0);
}

#[tokio::test]
async fn a_shopper_cancels_before_shipping_and_the_stock_returns() {
    let ops = operated_shop().await;
    let tap = EventTap::open(&ops.shop).await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let tea = id_of(&operator.create_product("TEA-1", "Sencha", 1290, 10).await);
    let shopper = shopper(&ops.shop, "regret").await;
    shopper.set_quantity(&tea, 4).await;
    let accepted = shopper.checkout("k", valid_details()).await;
    let done = shopper
        .finished_checkout(accepted.body["checkout_id"].as_str().unwrap())
        .await;
    let order_id = done["order_id"].as_str().unwrap().to_owned();
    let db = PgPool::connect(&ops.shop.product_order_database_url).await.unwrap();
    assert_eq!(stock_of(&db, &tea).await, 6);

    let stranger = self::shopper(&ops.shop, "stranger").await;
    let not_theirs = stranger
        .send(Method::POST, &format!("/api/orders/{order_id}/cancel"), json!({}))
        .await;
    assert_eq!(not_theirs.status, StatusCode::NOT_FOUND);

    let cancelled = shopper
        .send(Method::POST, &format!("/api/orders/{order_id}/cancel"), json!({}))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancelled.body["version"], 2);
    assert_eq!(stock_of(&db, &tea).await, 10);
    let again = shopper
        .send(Method::POST, &format!("/api/orders/{order_id}/cancel"), json!({}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body["error"]["message"].as_str().unwrap().contains("cancelled"));

    let mut seen = Vec::new();
    eventually(
        "order.status_changed on the broker",
        Duration::from_secs(10),
        async || {
            seen.extend(tap.drain().await);
            seen.iter()
                .any(|(key, _, body)| {
                    key == "order.status_changed"
                        && body["order_id"] == order_id.as_str()
                        && body["status"] == "cancelled"
                })
                .then_some(())
        },
    )
    .await;
    let change = seen.iter().find(|(key, _, _)| key == "order.status_changed").unwrap();
    assert_eq!(change.2["previous_status"], "placed");
    assert_eq!(change.2["version"], 2);

    // Once shipped, it cannot be cancelled.
    let shipped_order = {
        shopper.set_quantity(&tea, 1).await;
        let accepted = shopper.checkout("k2", valid_details()).await;
        let done = shopper
            .finished_checkout(accepted.body["checkout_id"].as_str().unwrap())
            .await;
        done["order_id"].as_str().unwrap().to_owned()
    };
    for status in ["confirmed", "shipped"] {
        let moved = operator.move_order(&shipped_order, status).await;
        assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    }
    let too_late = shopper
        .send(Method::POST, &format!("/api/orders/{shipped_order}/cancel"), json!({}))
        .await;
    assert_eq!(too_late.status, StatusCode::CONFLICT);
    assert_eq!(stock_of(&db, &tea).await, 9);
}

#[tokio::test]
async fn a_compensation_that_fails_for_good_waits_stuck_until_an_operator_retries_it() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let tea = id_of(&operator.create_product("TEA-1", "Sencha", 1290, 10).await);
    let shopper = shopper(&ops.shop, "unlucky").await;
    shopper.set_quantity(&tea, 2).await;
    let db = PgPool::connect(&ops.shop.product_order_database_url).await.unwrap();
    // Faults of our own making: placing orders breaks a rule, and so does releasing stock.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ \
           BEGIN RAISE EXCEPTION 'refused by test trigger %', TG_NAME; END $$; \
         CREATE TRIGGER no_orders BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION refuse(); \
         CREATE TRIGGER no_release BEFORE UPDATE ON stock_reservations FOR EACH ROW \
           WHEN (NEW.state = 'released') EXECUTE FUNCTION refuse();",
    )
    .execute(&db)
    .await
    .unwrap();

    let accepted = shopper.checkout("k", valid_details()).await;
    let checkout_id = accepted.body["checkout_id"].as_str().unwrap().to_owned();
    let stuck = shopper.finished_checkout(&checkout_id).await;
    assert_eq!(stuck["state"], "stuck", "{stuck:?}");
    assert_eq!(stock_of(&db, &tea).await, 8, "the reservation is still held");

    let saga_path = format!("/api/ops/sagas/{checkout_id}");
    let view = operator.get(&saga_path).await;
    assert_eq!(view.status, StatusCode::OK);
    let reserve = &view.body["steps"][1];
    assert_eq!(reserve["name"], "reserve_stock");
    assert_eq!(reserve["state"], "succeeded");
    assert_eq!(reserve["compensation"]["state"], "failed");
    assert!(
        reserve["compensation"]["error"]
            .as_str()
            .unwrap()
            .contains("no_release"),
        "{reserve:?}"
    );
    let place = &view.body["steps"][2];
    assert_eq!(place["state"], "failed");
    assert!(place["error"].as_str().unwrap().contains("no_orders"));
    let stuck_list = operator.get("/api/ops/sagas?state=stuck").await;
    assert!(
        stuck_list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == checkout_id.as_str())
    );
    // Shoppers are not operators.
    assert_eq!(shopper.get(&saga_path).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        shopper
            .send(Method::POST, &format!("{saga_path}/retry"), json!({"reason": "x"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Fix the cause, then retry the compensation: the stock comes back and the saga fails cleanly.
    sqlx::raw_sql("DROP TRIGGER no_release ON stock_reservations")
        .execute(&db)
        .await
        .unwrap();
    let retried = operator
        .send(
            Method::POST,
            &format!("{saga_path}/retry"),
            json!({"reason": "release trigger removed"}),
        )
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{:?}", retried.body);
    let ended = shopper.finished_checkout(&checkout_id).await;
    assert_eq!(ended["state"], "failed", "{ended:?}");
    // The shopper reads a sentence, never the database's words (trigger names, SQLSTATE
    // text); the operator keeps them.
    let told = ended.to_string();
    assert!(
        ended["failure"]
            .as_str()
            .unwrap()
            .starts_with("We could not complete this checkout")
    );
    assert!(
        !told.contains("no_orders") && !told.contains("database") && !told.contains("refused by test trigger"),
        "{ended:?}"
    );
    let seen_by_operator = operator.get(&saga_path).await;
    assert!(seen_by_operator.body["failure"].as_str().unwrap().contains("no_orders"));
    assert_eq!(stock_of(&db, &tea).await, 10);
    assert_eq!(held_reservations(&db).await, 0);
    let audited = operator.get(&saga_path).await;
    let actions = audited.body["operator_actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0]["action"], "retry");
    assert_eq!(actions[0]["reason"], "release trigger removed");
    assert_eq!(actions[0]["state_before"], "stuck");
    let ids: HashSet<_> = audited.body["attempts_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert!(ids.len() >= 4, "every attempt is on record");
}

#[tokio::test]
async fn a_queued_checkout_takes_the_cart_as_one_that_runs_at_once_does() {
    // This product-order serves the API only: checkouts wait in the queue until a worker
    // comes, as on an instance with no workers or beyond its hand-over capacity.
    let ops = operated_shop_with(|s| s.saga_workers = false).await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let tea = id_of(&operator.create_product("TEA-1", "Sencha", 1290, 10).await);
    let pot = id_of(&operator.create_product("POT-1", "Teapot", 3490, 5).await);
    let shopper = shopper(&ops.shop, "two-tabs").await;
    shopper.set_quantity(&tea, 2).await;
    shopper.set_quantity(&pot, 1).await;

    let first = shopper.checkout("tab-1", valid_details()).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{:?}", first.body);
    let checkout_id = first.body["checkout_id"].as_str().unwrap().to_owned();
    // The same request again is the same checkout; a second tab's is refused.
    let again = shopper.checkout("tab-1", valid_details()).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{:?}", again.body);
    assert_eq!(again.body["checkout_id"], checkout_id.as_str());
    let second_tab = shopper.checkout("tab-2", valid_details()).await;
    assert_eq!(second_tab.status, StatusCode::CONFLICT, "{:?}", second_tab.body);
    assert_eq!(second_tab.body["error"]["code"], "checkout_in_progress");
    // The shopper changes a line after the snapshot: that line is theirs again.
    assert_eq!(shopper.set_quantity(&pot, 3).await.status, StatusCode::OK);

    let worker = testkit::ProductOrderReplica::product_order(ops.shop.product_order_settings()).await;
    let done = shopper.finished_checkout(&checkout_id).await;
    assert_eq!(done["state"], "completed", "{done:?}");
    let ordered: Vec<(&str, i64)> = done["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["product_id"].as_str().unwrap(), l["quantity"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        ordered,
        [(tea.as_str(), 2), (pot.as_str(), 1)],
        "the snapshot is ordered"
    );
    let cart = shopper.get("/api/cart").await;
    let left: Vec<(&str, i64)> = cart.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["product_id"].as_str().unwrap(), l["quantity"].as_i64().unwrap()))
        .collect();
    assert_eq!(left, [(pot.as_str(), 3)], "the changed line stays in the cart");
    let db = PgPool::connect(&ops.shop.product_order_database_url).await.unwrap();
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(orders, 1);
    assert_eq!(stock_of(&db, &tea).await, 8);
    assert_eq!(stock_of(&db, &pot).await, 4);
    worker.stop().await;
}
