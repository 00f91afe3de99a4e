//! A shopper's whole journey in a real browser (headless Chromium), against the running shop:
//! register, log in, search, fill the cart, check out past an inline error, watch the order
//! get placed, find it in "My orders", and see it shipped by an operator, every update in
//! place without a reload. Each step is named; a failing step leaves its screenshot.

use testkit::ProductOrderReplica;

use crate::chromium::{Artifacts, Chromium, ensure};
use crate::helpers::{CustomerApi, OperatedShop, ProductOrderApi, email, operated_shop_with};

const SHOPPER_NAME: &str = "Ada Shopper";
const PASSWORD: &str = "correct horse battery";

/// The catalog the shopper searches: two green teas and one that does not match.
struct Teas {
    genmaicha_id: String,
}

async fn stock_the_shelves(ops: &OperatedShop) -> Teas {
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    operator
        .create_product(&format!("SEN-{suffix}"), "Sencha Green Tea", 1290, 20)
        .await;
    let genmaicha = operator
        .create_product(&format!("GEN-{suffix}"), "Genmaicha Green Tea", 990, 20)
        .await;
    operator
        .create_product(&format!("EG-{suffix}"), "Earl Grey Black Tea", 850, 20)
        .await;
    Teas {
        genmaicha_id: genmaicha["id"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test]
async fn a_shopper_buys_two_teas_and_sees_the_order_shipped_without_reloading() {
    // Saga work waits for workers the test starts once the status page shows the order being
    // placed, so the page is seen to reach the confirmation by itself.
    let ops = operated_shop_with(|s| s.saga_workers = false).await;
    let teas = stock_the_shelves(&ops).await;
    let artifacts = Artifacts::for_test("shopper_journey");
    let shopper = Chromium::open(&ops.shop.web_url, &artifacts).await;
    let address = email("journey");

    shopper
        .step("register", async || {
            shopper.visit("/register").await?;
            shopper.fill("#email", &address).await?;
            shopper.fill("#name", SHOPPER_NAME).await?;
            shopper.fill("#password", PASSWORD).await?;
            shopper.click("form[action='/register'] button[type=submit]").await?;
            shopper
                .wait_for_text(".account", &format!("Signed in as {SHOPPER_NAME}"))
                .await?;
            Ok(())
        })
        .await;

    shopper
        .step("log out", async || {
            shopper.click(".account form button[type=submit]").await?;
            shopper.wait_for_text(".account", "Log in").await?;
            Ok(())
        })
        .await;

    shopper
        .step("log in", async || {
            shopper.click_link("Log in").await?;
            shopper.wait_for_text("main h1", "Log in").await?;
            shopper.fill("#email", &address).await?;
            shopper.fill("#password", PASSWORD).await?;
            shopper.click("form[action='/login'] button[type=submit]").await?;
            shopper
                .wait_for_text(".account", &format!("Signed in as {SHOPPER_NAME}"))
                .await?;
            Ok(())
        })
        .await;

    shopper
        .step("search the catalog", async || {
            shopper.click_link("Products").await?;
            shopper.fill("#q", "green").await?;
            shopper.click("form[role=search] button[type=submit]").await?;
            shopper.wait_for_text("main h1", "Results for “green”").await?;
            let results = shopper.wait_for_text("#product-list", "Sencha Green Tea").await?;
            ensure(results.contains("Genmaicha Green Tea"), || {
                format!("no Genmaicha in {results:?}")
            })?;
            ensure(!results.contains("Earl Grey"), || {
                format!("a black tea among green ones: {results:?}")
            })
        })
        .await;

    for (tea, count) in [("Sencha Green Tea", "1"), ("Genmaicha Green Tea", "2")] {
        shopper
            .step(&format!("add {tea} to the cart"), async || {
                shopper.click_link(tea).await?;
                shopper.wait_for_text("main h1", tea).await?;
                shopper.mark_page().await?;
                shopper.fill("#quantity", "1").await?;
                shopper.click("#add-to-cart button[type=submit]").await?;
                shopper
                    .wait_for_text("#add-to-cart-status", &format!("Added 1 × {tea} to your cart."))
                    .await?;
                shopper.wait_for_text("#cart-count", count).await?;
                shopper.same_page().await?;
                // Back to the results, whose header counts the tea just added (not the
                // count kept from before).
                shopper.back().await?;
                shopper.wait_for_text("main h1", "Results for “green”").await?;
                shopper.wait_for_text("#cart-count", count).await?;
                Ok(())
            })
            .await;
    }

    shopper
        .step("change a quantity in the cart", async || {
            shopper.click("#cart-link").await?;
            shopper.wait_for_text("#cart-total", "€22.80").await?;
            shopper.mark_page().await?;
            let line = format!("#line-{}", teas.genmaicha_id);
            shopper.fill(&format!("{line} input[name=quantity]"), "3").await?;
            shopper
                .click(&format!("{line} .quantity-form button[type=submit]"))
                .await?;
            shopper.wait_for_text("#cart-total", "€42.60").await?;
            shopper.wait_for_text("#cart-count", "4").await?;
            shopper.same_page().await
        })
        .await;

    shopper
        .step("check out with a wrong postal code", async || {
            shopper.click("#checkout-link").await?;
            shopper.wait_for_text("#checkout-total", "€42.60").await?;
            let name = shopper.value("#contact_name").await?;
            ensure(name == SHOPPER_NAME, || format!("the name is filled in as {name:?}"))?;
            shopper.fill("#contact_phone", "+49 30 1234567").await?;
            shopper.fill("#delivery_line1", "Unter den Linden 1").await?;
            shopper.fill("#delivery_postal_code", "1234").await?;
            shopper.fill("#delivery_city", "Berlin").await?;
            shopper.select("#delivery_country", "DE").await?;
            shopper.mark_page().await?;
            shopper.click("#checkout-form button[type=submit]").await?;
            shopper
                .wait_for_text("#delivery_postal_code-error", "This is not a postal code in Germany")
                .await?;
            shopper
                .wait_for_text("#checkout-errors", "Please check the details marked below.")
                .await?;
            shopper.same_page().await?;
            let city = shopper.value("#delivery_city").await?;
            ensure(city == "Berlin", || {
                format!("what was typed is kept, but the city reads {city:?}")
            })
        })
        .await;

    shopper
        .step("correct the postal code and place the order", async || {
            shopper.fill("#delivery_postal_code", "10115").await?;
            shopper.click("#checkout-form button[type=submit]").await?;
            shopper.wait_for_text("main h1", "Placing your order").await?;
            Ok(())
        })
        .await;

    let saga_workers = shopper
        .step("watch the status page reach the confirmation", async || {
            shopper.mark_page().await?;
            let workers = ProductOrderReplica::product_order(ops.shop.product_order_settings()).await;
            shopper
                .wait_for_text("main h1", "Thank you, your order is placed")
                .await?;
            shopper.wait_for_text("#order-total", "€42.60").await?;
            shopper.wait_for_title("Order placed · Shop").await?;
            shopper.same_page().await?;
            Ok(workers)
        })
        .await;
    // The confirmation shows the order number as order lists do: its last 8 hex digits.
    let short_id = shopper
        .text("#order-id")
        .await
        .expect("the confirmation shows the order number");
    assert_eq!(short_id.len(), 8, "{short_id}");

    shopper
        .step("open the order from the confirmation", async || {
            shopper.click("#my-order-link").await?;
            // The page may first say the order is on its way to the history; it updates itself.
            shopper.wait_for_text("#order-status-label", "Placed").await?;
            Ok(())
        })
        .await;

    shopper
        .step("see the order in My orders", async || {
            shopper.click_link("My orders").await?;
            let row = shopper.wait_for_text("#order-rows", &short_id).await?;
            ensure(row.contains("Placed") && row.contains("€42.60"), || {
                format!("the order's row reads {row:?}")
            })?;
            shopper.click_link(&short_id).await?;
            let lines = shopper.wait_for_text("#order-lines", "Genmaicha Green Tea").await?;
            ensure(
                lines.contains("Sencha Green Tea") && lines.contains("Total (4 items)"),
                || format!("the order's lines read {lines:?}"),
            )?;
            shopper.wait_for_text("#order-status-label", "Placed").await?;
            shopper.mark_page().await
        })
        .await;

    let operator = Chromium::open(&ops.shop.web_url, &artifacts).await;
    let operator_email = CustomerApi::new(&ops.shop.customer_url)
        .me(&ops.operator_token)
        .await
        .body["email"]
        .as_str()
        .unwrap()
        .to_owned();
    operator
        .step("operator logs in", async || {
            operator.log_in(&operator_email, "operator password", "Operator").await
        })
        .await;

    operator
        .step("operator confirms and ships the order", async || {
            operator.click("#ops-orders-link").await?;
            operator.wait_for_text("#ops-order-rows", &short_id).await?;
            operator.click_link(&short_id).await?;
            operator.wait_for_text("#order-status-label", "Placed").await?;
            operator.click("#move-confirmed button[type=submit]").await?;
            operator.wait_for_text("#order-status-label", "Confirmed").await?;
            operator.click("#move-shipped button[type=submit]").await?;
            operator.wait_for_text("#order-status-label", "Shipped").await?;
            Ok(())
        })
        .await;

    shopper
        .step("see the order shipped without reloading", async || {
            shopper.wait_for_text("#order-status-label", "Shipped").await?;
            let history = shopper.wait_for_text("#status-history", "Confirmed").await?;
            ensure(history.contains("Shipped"), || {
                format!("the status history reads {history:?}")
            })?;
            let status = shopper.wait_for_text("#order-status", "Shipped").await?;
            ensure(!status.contains("Cancel order"), || {
                "a shipped order offers to cancel it".to_owned()
            })?;
            shopper.same_page().await
        })
        .await;

    operator.close().await;
    shopper.close().await;
    saga_workers.stop().await;
}
