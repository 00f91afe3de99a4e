//! Dead letters: events customer cannot apply reach the operators' list with their error and
//! attempt count; a replay after the fix applies them once; a discard is audited; and the
//! pages do the same with a confirmation.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::browser::Browser;
use crate::helpers::{
    CustomerApi, OperatedShop, email, eventually, operated_shop, placed_event, publish_to_customer, send_event,
    status_event,
};

/// Broker deliveries of an event that keeps failing before it is dead-lettered (the queue's
/// delivery limit of 5, plus the first delivery).
const DELIVERIES: i64 = 6;

/// A signed-up shopper's id and access token.
async fn a_shopper(customer: &CustomerApi) -> (String, String) {
    let login = customer.signed_up(&email("dead")).await;
    let token = login["access_token"].as_str().unwrap().to_owned();
    let id = customer.me(&token).await.body["id"].as_str().unwrap().to_owned();
    (id, token)
}

/// The dead letter of message `message_id` once it is listed (open ones are listed by default).
async fn dead_letter(ops: &OperatedShop, message_id: &str) -> Value {
    let customer = CustomerApi::new(&ops.shop.customer_url);
    eventually(
        "the event among the dead letters",
        Duration::from_secs(30),
        async || {
            let listed = customer.get_as("/api/ops/dead-letters", &ops.operator_token).await;
            assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
            listed.body["items"]
                .as_array()?
                .iter()
                .find(|letter| letter["message_id"] == message_id)
                .cloned()
        },
    )
    .await
}

/// The ids of the dead letters listed in `state`.
async fn listed_ids(ops: &OperatedShop, state: &str) -> Vec<String> {
    let customer = CustomerApi::new(&ops.shop.customer_url);
    let listed = customer
        .get_as(&format!("/api/ops/dead-letters?state={state}"), &ops.operator_token)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|letter| letter["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The shopper's order once customer has it with `status`.
async fn order_with_status(customer: &CustomerApi, token: &str, order: Uuid, status: &str) -> Value {
    eventually(
        &format!("order {order} {status}"),
        Duration::from_secs(20),
        async || {
            let answer = customer.get_as(&format!("/api/orders/{order}"), token).await;
            (answer.status == StatusCode::OK && answer.body["status"] == status).then_some(answer.body)
        },
    )
    .await
}

#[tokio::test]
async fn an_event_for_an_unknown_order_is_dead_lettered_then_replayed_once_after_its_order_arrives() {
    let ops = operated_shop().await;
    let shop = &ops.shop;
    let customer = CustomerApi::new(&shop.customer_url);
    let operator = ops.operator_token.as_str();
    let (shopper, shopper_token) = a_shopper(&customer).await;

    // Two cancellations for orders whose order.placed customer has not got: they cannot apply.
    let (first_order, second_order) = (Uuid::new_v4(), Uuid::new_v4());
    let (first_id, first) = status_event(first_order, &shopper, 2, "placed", "cancelled");
    let (second_id, second) = status_event(second_order, &shopper, 2, "placed", "cancelled");
    send_event(shop, "order.status_changed", first_id, &first).await;
    send_event(shop, "order.status_changed", second_id, &second).await;
    let letter = dead_letter(&ops, &first_id.to_string()).await;
    assert_eq!(letter["kind"], "order.status_changed");
    assert_eq!(letter["order_id"], first_order.to_string());
    assert_eq!(letter["dead_reason"], "delivery_limit", "{letter}");
    assert_eq!(letter["attempts"], DELIVERIES, "{letter}");
    let error = letter["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("order {first_order} is not known yet")),
        "{error}"
    );
    let first_letter = letter["id"].as_str().unwrap().to_owned();
    let second_letter = dead_letter(&ops, &second_id.to_string()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Replayed before the fix: it fails again and stays, one attempt more.
    let replay_one = format!("/api/ops/dead-letters/{first_letter}/replay");
    let early = customer.post_as(&replay_one, operator, json!({})).await;
    assert_eq!(early.status, StatusCode::OK, "{:?}", early.body);
    assert_eq!(early.body["outcome"], "failed");
    assert!(early.body["error"].as_str().unwrap().contains("not known yet"));
    let still = customer
        .get_as(&format!("/api/ops/dead-letters/{first_letter}"), operator)
        .await;
    assert_eq!(still.body["state"], "dead");
    assert_eq!(still.body["attempts"], DELIVERIES + 1);

    // The fix: both orders' order.placed arrive. The second cancellation also comes again
    // through the queue (product-order publishing it twice) and applies from there.
    for order in [first_order, second_order] {
        let placed_id = Uuid::new_v4();
        send_event(
            shop,
            "order.placed",
            placed_id,
            &placed_event(placed_id, order, &shopper),
        )
        .await;
        order_with_status(&customer, &shopper_token, order, "placed").await;
    }
    send_event(shop, "order.status_changed", second_id, &second).await;
    order_with_status(&customer, &shopper_token, second_order, "cancelled").await;

    // Replayed: the first applies, the second was applied meanwhile and is left as it is.
    let replayed = customer
        .post_as(
            "/api/ops/dead-letters/replay",
            operator,
            json!({"ids": [&first_letter, &second_letter], "reason": "their orders arrived"}),
        )
        .await;
    assert_eq!(replayed.status, StatusCode::OK, "{:?}", replayed.body);
    let outcomes: Vec<(&str, &str)> = replayed.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
        .collect();
    assert!(outcomes.contains(&(first_letter.as_str(), "applied")), "{outcomes:?}");
    assert!(
        outcomes.contains(&(second_letter.as_str(), "already_applied")),
        "{outcomes:?}"
    );
    for order in [first_order, second_order] {
        let body = order_with_status(&customer, &shopper_token, order, "cancelled").await;
        assert_eq!(
            body["status_history"].as_array().unwrap().len(),
            2,
            "placed and cancelled, once each: {body}"
        );
    }

    // Replaying again changes nothing: refused one by one, not touched in a selection.
    let again = customer.post_as(&replay_one, operator, json!({})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{:?}", again.body);
    assert_eq!(again.body["error"]["code"], "dead_letter_closed");
    let bulk = customer
        .post_as(
            "/api/ops/dead-letters/replay",
            operator,
            json!({"ids": [&first_letter]}),
        )
        .await;
    assert_eq!(bulk.body["results"][0]["outcome"], "not_open", "{:?}", bulk.body);
    let body = order_with_status(&customer, &shopper_token, first_order, "cancelled").await;
    assert_eq!(body["status_history"].as_array().unwrap().len(), 2, "{body}");

    assert!(!listed_ids(&ops, "dead").await.contains(&first_letter));
    assert!(listed_ids(&ops, "replayed").await.contains(&first_letter));
    let audited = customer
        .get_as(&format!("/api/ops/dead-letters/{first_letter}"), operator)
        .await;
    let me = customer.me(operator).await.body;
    let actions: Vec<(&str, &str)> = audited.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["action"].as_str().unwrap(), a["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(actions, [("replay", "failed"), ("replay", "applied")]);
    let applied = &audited.body["actions"][1];
    assert!(
        applied["operator"]
            .as_str()
            .unwrap()
            .contains(me["email"].as_str().unwrap()),
        "{applied}"
    );
    assert_eq!(applied["reason"], "their orders arrived");
    assert!(applied["at"].is_string());
}

#[tokio::test]
async fn an_unreadable_event_is_discarded_with_a_reason_and_the_discard_is_audited() {
    let ops = operated_shop().await;
    let customer = CustomerApi::new(&ops.shop.customer_url);
    let operator = ops.operator_token.as_str();
    publish_to_customer(&ops.shop, "order.placed", "garbled-1", b"{ this is not json").await;
    let letter = dead_letter(&ops, "garbled-1").await;
    assert_eq!(letter["dead_reason"], "rejected", "dead-lettered at once: {letter}");
    assert_eq!(letter["attempts"], 1, "{letter}");
    assert!(
        letter["error"].as_str().unwrap().contains("not an order.placed"),
        "{letter}"
    );
    let id = letter["id"].as_str().unwrap().to_owned();

    let without_reason = customer
        .post_as("/api/ops/dead-letters/discard", operator, json!({"ids": [&id]}))
        .await;
    assert_eq!(without_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        without_reason.field_error("reason").is_some(),
        "{:?}",
        without_reason.body
    );
    let neither = customer
        .post_as("/api/ops/dead-letters/discard", operator, json!({"reason": "test"}))
        .await;
    assert!(neither.field_error("ids").is_some(), "{:?}", neither.body);
    assert!(listed_ids(&ops, "dead").await.contains(&id), "nothing discarded yet");

    let discarded = customer
        .post_as(
            "/api/ops/dead-letters/discard",
            operator,
            json!({"ids": [&id], "reason": "a test message, not an event"}),
        )
        .await;
    assert_eq!(discarded.status, StatusCode::OK, "{:?}", discarded.body);
    assert_eq!(discarded.body["results"], json!([{"id": id, "outcome": "discarded"}]));
    assert!(!listed_ids(&ops, "dead").await.contains(&id));
    assert!(listed_ids(&ops, "discarded").await.contains(&id));
    let detail = customer.get_as(&format!("/api/ops/dead-letters/{id}"), operator).await;
    assert_eq!(detail.body["state"], "discarded");
    assert!(detail.body["resolved_at"].is_string());
    let action = &detail.body["actions"][0];
    assert_eq!(action["action"], "discard");
    assert_eq!(action["reason"], "a test message, not an event");
    let me = customer.me(operator).await.body;
    assert!(
        action["operator"]
            .as_str()
            .unwrap()
            .contains(me["email"].as_str().unwrap())
    );
    assert!(action["at"].is_string());
    let replay = customer
        .post_as(&format!("/api/ops/dead-letters/{id}/replay"), operator, json!({}))
        .await;
    assert_eq!(
        replay.status,
        StatusCode::CONFLICT,
        "a discarded letter stays discarded"
    );
}

#[tokio::test]
async fn operators_replay_and_discard_dead_letters_from_the_pages_after_a_confirmation() {
    let ops = operated_shop().await;
    let shop = &ops.shop;
    let customer = CustomerApi::new(&shop.customer_url);
    let (shopper, shopper_token) = a_shopper(&customer).await;
    // An order.placed of the wrong shape (no version) and a status change for it.
    let order = Uuid::new_v4();
    let broken_id = Uuid::new_v4();
    let mut broken = placed_event(broken_id, order, &shopper);
    broken.as_object_mut().unwrap().remove("version");
    send_event(shop, "order.placed", broken_id, &broken).await;
    let (cancel_id, cancel) = status_event(order, &shopper, 2, "placed", "cancelled");
    send_event(shop, "order.status_changed", cancel_id, &cancel).await;
    let broken_letter = dead_letter(&ops, &broken_id.to_string()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancel_letter = dead_letter(&ops, &cancel_id.to_string()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let me = customer.me(&ops.operator_token).await.body;
    let mut browser = Browser::open(&shop.web_url).await;
    browser.log_in(me["email"].as_str().unwrap(), "operator password").await;
    let list = browser.get("/ops/dead-letters").await;
    assert_eq!(list.status, StatusCode::OK);
    for id in [&broken_letter, &cancel_letter] {
        assert!(
            list.html.contains(&format!(r#"name="ids" value="{id}""#)),
            "a checkbox for {id}: {}",
            list.html
        );
    }
    assert!(
        list.html.contains("is not known yet"),
        "errors are shown: {}",
        list.html
    );
    let detail = browser.get(&format!("/ops/dead-letters/{broken_letter}")).await;
    assert!(detail.html.contains("missing field"), "{}", detail.html);
    assert!(
        !detail.html.contains("ada@example.com"),
        "personal details masked: {}",
        detail.html
    );

    // The fix: a correct order.placed arrives. Then the cancellation is replayed.
    let placed_id = Uuid::new_v4();
    send_event(
        shop,
        "order.placed",
        placed_id,
        &placed_event(placed_id, order, &shopper),
    )
    .await;
    order_with_status(&customer, &shopper_token, order, "placed").await;
    let confirm = browser
        .post("/ops/dead-letters/replay", &[("ids", &cancel_letter)])
        .await;
    assert_eq!(confirm.status(), StatusCode::OK);
    let confirm = confirm.text().await.unwrap();
    assert!(confirm.contains("Replay 1 dead letter?"), "{confirm}");
    assert!(confirm.contains(r#"name="confirm" value="yes""#), "{confirm}");
    let done = browser
        .post(
            "/ops/dead-letters/replay",
            &[("ids", &cancel_letter), ("confirm", "yes")],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let location = done.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, "/ops/dead-letters?done=replay&applied=1");
    let after = browser.get(&location).await;
    assert!(after.html.contains("Replayed: 1 applied."), "{}", after.html);
    assert!(!after.html.contains(&cancel_letter), "no longer open: {}", after.html);
    order_with_status(&customer, &shopper_token, order, "cancelled").await;

    // Discarding all asks why first.
    let asked = browser
        .post(
            "/ops/dead-letters/discard",
            &[("all", "yes"), ("confirm", "yes"), ("reason", " ")],
        )
        .await;
    assert_eq!(asked.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(asked.text().await.unwrap().contains("Say why"));
    let discarded = browser
        .post(
            "/ops/dead-letters/discard",
            &[("all", "yes"), ("confirm", "yes"), ("reason", "placed again by hand")],
        )
        .await;
    assert_eq!(discarded.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        discarded.headers()["location"],
        "/ops/dead-letters?done=discard&discarded=1"
    );
    let audited = browser.get(&format!("/ops/dead-letters/{broken_letter}")).await;
    assert!(audited.html.contains(r#"data-state="discarded""#), "{}", audited.html);
    assert!(audited.html.contains("placed again by hand"), "{}", audited.html);
    assert!(audited.html.contains(me["email"].as_str().unwrap()), "{}", audited.html);
    let empty = browser.get("/ops/dead-letters").await;
    assert!(empty.html.contains(r#"id="no-dead-letters""#), "{}", empty.html);
}
