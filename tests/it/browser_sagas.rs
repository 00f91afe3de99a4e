//! An operator in a real browser (headless Chromium): opens a checkout saga that failed, retries
//! it with a reason and a confirmation, and watches the saga page reach "Completed" by itself,
//! without reloading.

use reqwest::StatusCode;
use saga::{Phase, StepError};
use testkit::ProductOrderReplica;

use crate::chromium::{Artifacts, Chromium, ensure};
use crate::helpers::{CustomerApi, ProductOrderApi, email, eventually, operated_shop_with, valid_details};

#[tokio::test]
async fn an_operator_retries_a_failed_saga_and_watches_it_complete_without_reloading() {
    // The shop's own product-order serves the API only; the saga work is done by replicas the
    // test starts and stops, so the saga waits while the page is watched.
    let ops = operated_shop_with(|s| s.saga_workers = false).await;
    let shop = &ops.shop;
    let operator_api = ProductOrderApi::as_user(&shop.product_order_url, &ops.operator_token);
    let tea = operator_api.create_product("TEA-RETRY", "Sencha", 1290, 10).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = CustomerApi::new(&shop.customer_url).signed_up(&email("retried")).await;
    let shopper = ProductOrderApi::as_user(&shop.product_order_url, login["access_token"].as_str().unwrap());
    assert_eq!(shopper.set_quantity(&tea, 2).await.status, StatusCode::OK);

    // The order table "is being migrated": placing the order fails for good, the saga undoes
    // the reservation and ends failed.
    let failing = ProductOrderReplica::product_order(shop.product_order_settings()).await;
    failing.saga().faults().fail(
        "place_order",
        Phase::Forward,
        StepError::permanent("the order table is being migrated"),
    );
    let accepted = shopper.checkout("retry-in-browser", valid_details()).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    let checkout_id = accepted.body["checkout_id"].as_str().unwrap().to_owned();
    eventually("the saga failed", std::time::Duration::from_secs(60), async || {
        let saga = operator_api.get(&format!("/api/ops/sagas/{checkout_id}")).await;
        (saga.body["state"] == "failed").then_some(())
    })
    .await;
    // The migration is over; until a worker comes back, a retry only queues the saga.
    failing.stop().await;

    let operator_email = CustomerApi::new(&shop.customer_url).me(&ops.operator_token).await.body["email"]
        .as_str()
        .unwrap()
        .to_owned();
    // The list shows a saga by the last 8 digits of its id, as the pages do.
    let short_id = checkout_id.replace('-', "")[24..].to_owned();
    let artifacts = Artifacts::for_test("operator_retries_a_saga");
    let operator = Chromium::open(&shop.web_url, &artifacts).await;
    operator
        .step("operator logs in", async || {
            operator.log_in(&operator_email, "operator password", "Operator").await
        })
        .await;

    operator
        .step("find the failed saga and open it", async || {
            operator.visit("/ops/sagas?state=failed").await?;
            operator.click_link(&short_id).await?;
            operator.wait_for_text("#saga-state-label", "Failed").await?;
            operator
                .wait_for_text("#saga-status", "the order table is being migrated")
                .await?;
            Ok(())
        })
        .await;

    operator
        .step("retry it with a reason and confirm", async || {
            operator.fill("#reason-retry", "the migration is done").await?;
            operator.click("#action-retry button[type=submit]").await?;
            operator.click("#confirm-button").await?;
            operator.wait_for_text("#saga-state-label", "Running").await?;
            Ok(())
        })
        .await;

    operator
        .step("remember this page", async || operator.mark_page().await)
        .await;
    let worker = ProductOrderReplica::product_order(shop.product_order_settings()).await;

    operator
        .step("watch the saga complete without reloading", async || {
            operator.wait_for_text("#saga-state-label", "Completed").await?;
            operator.same_page().await?;
            let steps = operator.text("#saga-steps").await.unwrap_or_default();
            ensure(steps.matches("succeeded").count() >= 4, || {
                format!("every step succeeded: {steps}")
            })?;
            Ok(())
        })
        .await;
    operator.close().await;
    worker.stop().await;

    let saga = operator_api.get(&format!("/api/ops/sagas/{checkout_id}")).await.body;
    let retries: Vec<&serde_json::Value> = saga["operator_actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "retry")
        .collect();
    assert_eq!(retries.len(), 1, "{saga}");
    assert_eq!(retries[0]["reason"], "the migration is done");
    assert!(
        retries[0]["operator"].as_str().unwrap().starts_with(&operator_email),
        "who retried: {}",
        retries[0]
    );
    assert!(saga["order_id"].is_string(), "the order was placed: {saga}");
}
