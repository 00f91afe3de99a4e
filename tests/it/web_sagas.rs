//! The operator's saga pages as a browser uses them: the list by state, a saga with its steps,
//! attempts and masked details, and acting on a saga by hand.

use reqwest::StatusCode;
use serde_json::json;

use crate::browser::{Browser, PASSWORD};
use crate::helpers::{CustomerApi, OperatedShop, ProductOrderApi, email, operated_shop, valid_details};

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// A new product of the operator's with `stock` units, by id.
async fn a_product(ops: &OperatedShop, name: &str, stock: i64) -> String {
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let sku = format!("TEA-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    operator.create_product(&sku, name, 1290, stock).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A new shopper's API client.
async fn a_shopper(ops: &OperatedShop) -> ProductOrderApi {
    let login = CustomerApi::new(&ops.shop.customer_url)
        .signed_up(&email("sagas"))
        .await;
    ProductOrderApi::as_user(&ops.shop.product_order_url, login["access_token"].as_str().unwrap())
}

/// Puts `quantity` of `product_id` in `shopper`'s cart.
async fn put_in_cart(shopper: &ProductOrderApi, product_id: &str, quantity: i64) {
    let set = shopper.set_quantity(product_id, quantity).await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
}

/// Checks out `shopper`'s cart; answers the checkout (and saga) id and how it ended.
async fn check_out(shopper: &ProductOrderApi) -> (String, serde_json::Value) {
    let accepted = shopper
        .checkout(&uuid::Uuid::new_v4().to_string(), valid_details())
        .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    let id = accepted.body["checkout_id"].as_str().unwrap().to_owned();
    let done = shopper.finished_checkout(&id).await;
    (id, done)
}

/// The operator, logged in through the pages, and their email.
async fn operator_browser(ops: &OperatedShop) -> (Browser, String) {
    let me = CustomerApi::new(&ops.shop.customer_url).me(&ops.operator_token).await;
    let address = me.body["email"].as_str().unwrap().to_owned();
    let mut browser = Browser::open(&ops.shop.web_url).await;
    browser.log_in(&address, "operator password").await;
    (browser, address)
}

#[tokio::test]
async fn a_completed_checkout_is_listed_and_shows_its_steps_attempts_and_masked_details() {
    let ops = operated_shop().await;
    let tea = a_product(&ops, "Sencha", 20).await;
    let shopper = a_shopper(&ops).await;
    put_in_cart(&shopper, &tea, 1).await;
    let (saga_id, done) = check_out(&shopper).await;
    assert_eq!(done["state"], "completed", "{done:?}");

    let (mut operator, _) = operator_browser(&ops).await;
    let list = operator.get("/ops/sagas").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.html.contains(r#"href="/ops/sagas""#), "the operator navigation");
    let row = format!(r#"id="ops-saga-{saga_id}""#);
    assert!(list.html.contains(&row), "{}", list.html);
    assert!(list.html.contains(&format!(r#"href="/ops/sagas/{saga_id}""#)));
    let completed = operator.get("/ops/sagas?state=completed").await;
    let listed = completed.html.split(&row).nth(1).expect("listed as completed");
    assert!(
        listed
            .split("</tr>")
            .next()
            .unwrap()
            .contains(r#"data-state="completed""#),
        "{listed}"
    );
    let failed = operator.get("/ops/sagas?state=failed").await;
    assert!(!failed.html.contains(&row), "{}", failed.html);
    let idle = operator.get("/ops/sagas?idle_minutes=60").await;
    assert_eq!(idle.status, StatusCode::OK);
    assert!(!idle.html.contains(&row), "not idle for an hour yet");

    let path = format!("/ops/sagas/{saga_id}");
    let page = operator.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains(r#"data-state="completed""#), "{}", page.html);
    let succeeded_rows = page
        .html
        .split(r#"id="saga-step-"#)
        .skip(1)
        .filter(|row| row.split('>').next().unwrap().contains(r#"data-state="succeeded""#))
        .count();
    assert_eq!(succeeded_rows, 4, "four steps succeeded: {}", page.html);
    assert!(
        page.html
            .matches(r#"class="saga-attempt" data-outcome="succeeded""#)
            .count()
            >= 4,
        "the attempts timeline: {}",
        page.html
    );
    assert!(page.html.contains("a***@example.com"), "{}", page.html);
    for secret in ["Ada Lovelace", "ada@example.com", "7946"] {
        assert!(!page.html.contains(secret), "{secret} is masked: {}", page.html);
    }
    assert!(!page.html.contains("hx-trigger"), "a completed saga stops polling");
    assert!(
        !page.html.contains(&format!(r#"action="{path}/retry""#))
            && !page.html.contains(&format!(r#"action="{path}/cancel""#)),
        "nothing to retry or cancel: {}",
        page.html
    );
    assert!(
        page.html.contains(r#"id="action-retry-publish""#),
        "its event can be sent again"
    );

    let part = operator.htmx_get_part(&path, "saga-status").await;
    assert_eq!(part.status, StatusCode::OK);
    assert!(part.html.starts_with(r#"<section id="saga-status""#), "{}", part.html);
    assert!(!part.html.contains("<html"), "htmx gets the part, not the page");
}

#[tokio::test]
async fn a_failed_checkout_is_retried_with_a_reason_and_cannot_be_cancelled() {
    let ops = operated_shop().await;
    let tea = a_product(&ops, "Gyokuro", 2).await;
    let shopper = a_shopper(&ops).await;
    // The cart takes no more than the stock: the stock drops after the cart is filled.
    put_in_cart(&shopper, &tea, 2).await;
    let operator_api = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let sold = operator_api
        .update_product(&tea, json!({"stock_delta": -1, "stock_reason": "sold in the shop"}))
        .await;
    assert_eq!(sold.status, StatusCode::OK, "{:?}", sold.body);
    let (saga_id, done) = check_out(&shopper).await;
    assert_eq!(done["state"], "failed", "{done:?}");
    let failure = done["failure"].as_str().unwrap().to_owned();

    let (mut operator, address) = operator_browser(&ops).await;
    let failed = operator.get("/ops/sagas?state=failed").await;
    assert!(
        failed.html.contains(&format!(r#"id="ops-saga-{saga_id}""#)),
        "{}",
        failed.html
    );
    let path = format!("/ops/sagas/{saga_id}");
    let page = operator.get(&path).await;
    assert!(
        page.html.contains(r#"id="saga-state-label" data-state="failed""#),
        "{}",
        page.html
    );
    assert!(failure.contains("Gyokuro"), "failed for want of stock: {failure}");
    assert!(
        page.html.contains(r#"id="saga-failure""#) && page.html.contains(&failure),
        "{}",
        page.html
    );
    assert!(page.html.contains(&format!(r#"action="{path}/retry""#)));
    assert!(!page.html.contains(&format!(r#"action="{path}/cancel""#)));
    assert!(!page.html.contains("hx-trigger"), "a failed saga does not poll");

    // Cancelling applies to running sagas only: product-order's reason shows by the form.
    let refused = operator
        .post(&format!("{path}/cancel"), &[("reason", "no longer wanted")])
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let html = refused.text().await.unwrap();
    assert!(html.contains(r#"id="action-error""#), "{html}");
    assert!(
        html.contains(r#"value="no longer wanted""#),
        "the reason is kept: {html}"
    );

    let no_reason = operator.post(&format!("{path}/retry"), &[("reason", " ")]).await;
    assert_eq!(no_reason.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_reason.text().await.unwrap().contains(r#"id="action-error""#));

    // A reason first brings the confirmation, which carries it.
    let confirm = operator
        .post(&format!("{path}/retry"), &[("reason", "stock <restocked>")])
        .await;
    assert_eq!(confirm.status(), StatusCode::OK);
    let html = confirm.text().await.unwrap();
    assert!(html.contains(r#"id="confirm-button""#), "{html}");
    assert!(html.contains(r#"name="confirmed" value="yes""#), "{html}");
    let retried = operator
        .post(
            &format!("{path}/retry"),
            &[("reason", "stock <restocked>"), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(retried.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&retried), format!("{path}?done=retry"));
    let page = operator.get(&location(&retried)).await;
    assert!(page.html.contains(r#"id="notice""#), "{}", page.html);
    let audit = page
        .html
        .split(r#"class="operator-action""#)
        .nth(1)
        .expect("the operator action is recorded");
    assert!(audit.contains(&address) && audit.contains(">retry<"), "{audit}");
    assert!(
        audit.contains("stock &#60;restocked&#62;") || audit.contains("stock &lt;restocked&gt;"),
        "{audit}"
    );
    assert!(audit.contains("failed →"), "{audit}");

    let reopened = operator.visit(&format!("{path}/retry")).await;
    assert_eq!(reopened.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&reopened), path, "the form's address leads to the saga");
}

#[tokio::test]
async fn saga_pages_refuse_shoppers_and_send_visitors_to_log_in() {
    let ops = operated_shop().await;
    let visitor = Browser::open(&ops.shop.web_url).await;
    let response = visitor.visit("/ops/sagas").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login?next=%2Fops%2Fsagas");

    let address = email("sagas");
    CustomerApi::new(&ops.shop.customer_url).signed_up(&address).await;
    let mut shopper = Browser::open(&ops.shop.web_url).await;
    shopper.log_in(&address, PASSWORD).await;
    let saga = uuid::Uuid::new_v4();
    for path in [
        "/ops/sagas".to_owned(),
        "/ops/sagas?state=failed".to_owned(),
        format!("/ops/sagas/{saga}"),
    ] {
        let page = shopper.load(&path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
    }
    let attempt = shopper
        .post(&format!("/ops/sagas/{saga}/retry"), &[("reason", "mine")])
        .await;
    assert_eq!(attempt.status(), StatusCode::FORBIDDEN);
}
