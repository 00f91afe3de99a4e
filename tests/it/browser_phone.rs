//! On a phone (390 × 844 CSS pixels) no page is wider than the screen (WCAG 1.4.10, reflow):
//! a shopper's pages with a cart line and an order, and the operator's, in headless Chromium.
//! A page that sticks out fails its step, naming the elements past the edge, with a screenshot.

use crate::chromium::{Artifacts, Chromium, ensure};
use crate::helpers::{CustomerApi, ProductOrderApi, email, operated_shop, valid_details};

const PHONE: (u32, u32) = (390, 844);
/// The most of a phone's 844-pixel height the header may take: two short rows.
const MAX_HEADER_PX: f64 = 100.0;
const PASSWORD: &str = "correct horse battery";

/// Whether a table too wide for the phone may scroll sideways in its own box: the operators'
/// data tables may (WCAG 1.4.10 excepts them), a shopper's page shows everything at once.
#[derive(Clone, Copy, PartialEq)]
enum Tables {
    Stacked,
    MayScroll,
}

/// Visits each of `paths` and fails the step of the first one wider than the window (or, for
/// a shopper's page, with anything scrolling sideways inside it).
async fn fits(browser: &Chromium, paths: &[String], tables: Tables) {
    for path in paths {
        browser
            .step(&format!("{path} fits a phone"), async || {
                browser.visit(path).await?;
                let fit = browser.overflow().await?;
                ensure(fit.beyond <= 0, || {
                    format!(
                        "{path} is {} px wider than the phone's 390: {}",
                        fit.beyond, fit.sticking_out
                    )
                })?;
                ensure(tables == Tables::MayScroll || fit.scrolling_boxes.is_empty(), || {
                    format!(
                        "{path} hides some of itself in boxes that scroll sideways: {:?}",
                        fit.scrolling_boxes
                    )
                })?;
                let header = browser.height(".site-header").await?;
                ensure(header <= MAX_HEADER_PX, || {
                    format!("{path}'s header takes {header} px of the phone's height (at most {MAX_HEADER_PX})")
                })
            })
            .await;
    }
}

#[tokio::test]
async fn no_page_needs_sideways_scrolling_on_a_phone() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let product = operator
        .create_product(
            &format!("DARJ-{suffix}"),
            "Darjeeling First Flush Castleton Estate Muscatel",
            2450,
            20,
        )
        .await;
    let product = product["id"].as_str().unwrap().to_owned();

    // A shopper with one order and a line in the cart.
    let address = email("phone");
    let customers = CustomerApi::new(&ops.shop.customer_url);
    let token = customers.signed_up(&address).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let shopper_api = ProductOrderApi::as_user(&ops.shop.product_order_url, &token);
    shopper_api.set_quantity(&product, 2).await;
    let started = shopper_api
        .checkout(&uuid::Uuid::new_v4().to_string(), valid_details())
        .await;
    let checkout = started.body["checkout_id"].as_str().unwrap().to_owned();
    let done = shopper_api.finished_checkout(&checkout).await;
    let order = done["order_id"].as_str().unwrap().to_owned();
    shopper_api.set_quantity(&product, 3).await;

    let artifacts = Artifacts::for_test("no_page_needs_sideways_scrolling_on_a_phone");
    let phone = Chromium::open_sized(&ops.shop.web_url, &artifacts, PHONE).await;
    let public_pages = [
        "/".into(),
        "/products".into(),
        format!("/products/{product}"),
        "/login".into(),
    ];
    fits(&phone, &public_pages, Tables::Stacked).await;
    phone
        .step("the shopper logs in", async || {
            phone.log_in(&address, PASSWORD, "Test Shopper").await
        })
        .await;
    let shopper_pages = [
        "/cart".to_owned(),
        "/checkout".to_owned(),
        format!("/checkouts/{checkout}"),
        "/orders".to_owned(),
        format!("/orders/{order}"),
        "/account/password".to_owned(),
    ];
    fits(&phone, &shopper_pages, Tables::Stacked).await;
    phone.close().await;

    let me = customers.me(&ops.operator_token).await;
    let operator_email = me.body["email"].as_str().unwrap().to_owned();
    let console = Chromium::open_sized(&ops.shop.web_url, &artifacts, PHONE).await;
    console
        .step("the operator logs in", async || {
            console.log_in(&operator_email, "operator password", "Operator").await
        })
        .await;
    let operator_pages = [
        "/ops/products".to_owned(),
        "/ops/products/new".to_owned(),
        format!("/ops/products/{product}"),
        "/ops/orders".to_owned(),
        format!("/ops/orders/{order}"),
        "/ops/sagas".to_owned(),
        format!("/ops/sagas/{checkout}"),
        "/ops/dead-letters".to_owned(),
        "/ops/health".to_owned(),
        "/ops/second-factor".to_owned(),
    ];
    fits(&console, &operator_pages, Tables::MayScroll).await;
    console.close().await;
    ops.shop.stop().await;
}
