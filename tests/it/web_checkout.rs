//! The checkout pages as a browser uses them: the details form, the page that follows the
//! checkout (and its htmx poll), cancelling the order.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use testkit::{TestShop, wait_until};

use crate::browser::{Browser, hidden_value};
use crate::helpers::{CustomerApi, ProductOrderApi, email, operated_shop};

/// How long a checkout may take to finish in a test.
const CHECKOUT_DEADLINE: Duration = Duration::from_secs(30);

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// The hidden fields of a checkout form as a page showed it: its idempotency key, and the
/// cart's total and currency it showed.
struct ShownForm {
    key: String,
    total: String,
    currency: String,
}

impl ShownForm {
    fn of(html: &str) -> Self {
        let hidden = |name| hidden_value(html, name).unwrap_or_else(|| panic!("the form's {name}: {html}"));
        Self {
            key: hidden("idempotency_key"),
            total: hidden("reviewed_total"),
            currency: hidden("reviewed_currency"),
        }
    }
}

/// `form` sent with valid details for Germany with `postal_code`.
fn details<'a>(form: &'a ShownForm, postal_code: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("idempotency_key", &form.key),
        ("contact_name", "Ada Lovelace"),
        ("contact_email", "ada@example.com"),
        ("contact_phone", "+49 30 1234567"),
        ("delivery_line1", "Hauptstraße 1"),
        ("delivery_line2", ""),
        ("delivery_city", "Berlin"),
        ("delivery_postal_code", postal_code),
        ("delivery_country", "DE"),
        ("reviewed_total", &form.total),
        ("reviewed_currency", &form.currency),
    ]
}

/// A shopper signed in through the pages with `quantity` of a new product (of `stock`) in
/// their cart; answers the browser, the operator's API and the product's id.
async fn shopper_with_a_cart(
    ops: &crate::helpers::OperatedShop,
    quantity: &str,
    stock: i64,
) -> (Browser, ProductOrderApi, String) {
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let sku = format!("TEA-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let tea = operator.create_product(&sku, "Sencha", 1290, stock).await;
    let tea_id = tea["id"].as_str().unwrap().to_owned();
    let mut browser = Browser::open(&ops.shop.web_url).await;
    browser.register(&email("checkout"), "Ada Lovelace").await;
    browser.add_to_cart(&tea_id, quantity).await;
    (browser, operator, tea_id)
}

#[tokio::test]
async fn a_visitor_is_sent_to_log_in_and_back_to_the_checkout() {
    let shop = TestShop::start().await;
    let mut browser = Browser::open(&shop.web_url).await;
    let response = browser.visit("/checkout").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let login = location(&response);
    assert_eq!(login, "/login?next=%2Fcheckout");

    let address = email("visitor");
    let registered = CustomerApi::new(&shop.customer_url)
        .register(&address, "correct horse battery", "Visiting Shopper")
        .await;
    assert_eq!(registered.status, StatusCode::CREATED, "{:?}", registered.body);
    let page = browser.get(&login).await;
    assert_eq!(hidden_value(&page.html, "next").as_deref(), Some("/checkout"));
    let logged_in = browser
        .post(
            "/login",
            &[
                ("email", &address),
                ("password", "correct horse battery"),
                ("next", "/checkout"),
            ],
        )
        .await;
    assert_eq!(logged_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&logged_in), "/checkout");
}

#[tokio::test]
async fn an_empty_cart_shows_the_empty_state_instead_of_the_form() {
    let shop = TestShop::start().await;
    let mut browser = Browser::open(&shop.web_url).await;
    browser.register(&email("empty"), "Ada Lovelace").await;
    let page = browser.get("/checkout").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains(r#"id="checkout-empty""#), "{}", page.html);
    assert!(page.html.contains(r#"href="/products""#));
    assert!(
        !page.html.contains(r#"id="checkout-form""#),
        "no form for an empty cart"
    );

    // A form sent from another tab after the cart was emptied.
    let shown = ShownForm {
        key: uuid::Uuid::new_v4().to_string(),
        total: "2580".into(),
        currency: "EUR".into(),
    };
    let response = browser.post("/checkout", &details(&shown, "10115")).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"id="checkout-empty""#), "{html}");
    assert!(html.contains("Your cart is empty"), "{html}");
}

#[tokio::test]
async fn wrong_details_come_back_by_their_fields_with_what_was_typed() {
    let ops = operated_shop().await;
    let (mut browser, _, tea_id) = shopper_with_a_cart(&ops, "2", 10).await;
    let cart = browser.get("/cart").await;
    assert!(
        cart.html.contains(r#"href="/checkout""#),
        "the cart offers checking out"
    );

    let page = browser.get("/checkout").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains(r#"id="checkout-form""#), "{}", page.html);
    assert!(page.html.contains(&format!(r#"id="summary-{tea_id}""#)));
    assert!(page.html.contains("€25.80"), "the cart's total");
    assert!(page.html.contains(r#"<option value="DE">Germany</option>"#));
    assert!(
        page.html.contains(r#"value="Ada Lovelace""#) && page.html.contains("@example.com"),
        "name and email come from the session"
    );
    let shown = ShownForm::of(&page.html);
    assert!(uuid::Uuid::parse_str(&shown.key).is_ok(), "{}", shown.key);
    assert_eq!((shown.total.as_str(), shown.currency.as_str()), ("2580", "EUR"));

    let mut fields = details(&shown, "1234");
    fields[1] = ("contact_name", "Ada <Lovelace>");
    let response = browser.post("/checkout", &fields).await;
    assert!(
        [StatusCode::OK, StatusCode::UNPROCESSABLE_ENTITY].contains(&response.status()),
        "{}",
        response.status()
    );
    let html = response.text().await.unwrap();
    let error_start = html
        .find(r#"id="delivery_postal_code-error">"#)
        .expect("a message by the postal code");
    let message = html[error_start..].split("</p>").next().unwrap();
    assert!(message.contains("postal code"), "{message}");
    assert!(html.contains(r#"aria-describedby="delivery_postal_code-error""#));
    for typed in [
        r#"value="1234""#,
        r#"value="Hauptstraße 1""#,
        r#"value="Berlin""#,
        r#"value="+49 30 1234567""#,
        r#"<option value="DE" selected>Germany</option>"#,
    ] {
        assert!(html.contains(typed), "{typed} kept: {html}");
    }
    assert!(
        html.contains("Ada &#60;Lovelace&#62;") || html.contains("Ada &lt;Lovelace&gt;"),
        "typed text is escaped"
    );
    assert!(!html.contains("Ada <Lovelace>"));
    assert_eq!(
        hidden_value(&html, "idempotency_key").as_deref(),
        Some(shown.key.as_str()),
        "the form keeps its key"
    );
}

#[tokio::test]
async fn a_checkout_is_followed_until_placed_and_its_order_can_be_cancelled() {
    let ops = operated_shop().await;
    let (mut browser, _, _) = shopper_with_a_cart(&ops, "2", 10).await;
    let page = browser.get("/checkout").await;
    let shown = ShownForm::of(&page.html);

    let response = browser.post("/checkout", &details(&shown, "10115")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let status_path = location(&response);
    assert!(status_path.starts_with("/checkouts/"), "{status_path}");
    let again = browser.post("/checkout", &details(&shown, "10115")).await;
    assert_eq!(
        location(&again),
        status_path,
        "the same form sent twice is one checkout"
    );

    let first = browser.get(&status_path).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(
        first.html.contains("Placing your order") || first.html.contains("Thank you, your order is placed"),
        "{}",
        first.html
    );
    if first.html.contains("Placing your order") {
        assert!(first.html.contains(r#"hx-trigger="every 1s""#), "{}", first.html);
        assert!(
            first.html.contains(r#"id="refresh-link""#),
            "a way to refresh without JavaScript"
        );
        assert!(
            first
                .html
                .contains(r#"<noscript><meta http-equiv="refresh" content="2"></noscript>"#),
            "without JavaScript the page reloads itself while the order is placed: {}",
            first.html
        );
    }

    let browser_ref = &browser;
    let path = status_path.as_str();
    wait_until("the order to be placed", CHECKOUT_DEADLINE, move || async move {
        let page = browser_ref.load(path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        assert!(!page.html.contains("Your order was not placed"), "{}", page.html);
        page.html.contains("Thank you, your order is placed")
    })
    .await;

    let partial = browser.htmx_get(&status_path).await;
    assert_eq!(partial.status, StatusCode::OK);
    assert!(!partial.html.contains("<html"), "htmx gets the part, not the page");
    assert!(partial.html.contains(r#"id="checkout-status""#));
    assert!(
        !partial.html.contains("hx-trigger") && !partial.html.contains(r#"http-equiv="refresh""#),
        "a finished checkout stops polling, and reloading: {}",
        partial.html
    );
    assert!(partial.html.contains("€25.80") && partial.html.contains("Sencha"));

    let placed = browser.get(&status_path).await;
    let marker = r#"id="order-id" data-order-id=""#;
    let start = placed.html.find(marker).expect("the order number") + marker.len();
    let order_id = placed.html[start..].split('"').next().unwrap().to_owned();
    let shown = format!(
        r#"title="{order_id}">{}</strong>"#,
        order_id.replace('-', "")[24..].to_owned()
    );
    assert!(
        placed.html.contains(&shown),
        "the number as My orders shows it: {}",
        placed.html
    );
    assert!(placed.html.contains(&format!(r#"action="/orders/{order_id}/cancel""#)));
    assert_eq!(
        hidden_value(&placed.html, "return_to").as_deref(),
        Some(status_path.as_str())
    );
    let cart = browser.get("/cart").await;
    assert!(cart.html.contains(r#"id="cart-empty""#), "the order emptied the cart");

    let cancel_path = format!("/orders/{order_id}/cancel");
    let cancelled = browser.post(&cancel_path, &[("return_to", &status_path)]).await;
    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    let back = location(&cancelled);
    assert_eq!(back, format!("{status_path}?done=cancelled"));
    let page = browser.get(&back).await;
    assert!(page.html.contains("Your order is cancelled"), "{}", page.html);
    assert!(
        !page.html.contains(r#"id="cancel-order-form""#),
        "nothing left to cancel"
    );

    let refused = browser
        .post(&cancel_path, &[("return_to", "https://evil.example/checkouts/x")])
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Your order was not cancelled"), "{html}");
    assert!(
        !html.contains("evil.example"),
        "only checkout pages are gone back to: {html}"
    );
}

#[tokio::test]
async fn a_checkout_that_runs_out_of_stock_says_why_and_what_to_do() {
    let ops = operated_shop().await;
    let (mut browser, operator, tea_id) = shopper_with_a_cart(&ops, "3", 3).await;
    let taken = operator
        .send(
            reqwest::Method::PATCH,
            &format!("/api/products/{tea_id}"),
            json!({"stock_delta": -1, "stock_reason": "a broken pack"}),
        )
        .await;
    assert_eq!(taken.status, StatusCode::OK, "{:?}", taken.body);

    let page = browser.get("/checkout").await;
    let response = browser
        .post("/checkout", &details(&ShownForm::of(&page.html), "10115"))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let status_path = location(&response);

    let browser_ref = &browser;
    let path = status_path.as_str();
    wait_until("the checkout to fail", CHECKOUT_DEADLINE, move || async move {
        let page = browser_ref.htmx_get(path).await;
        assert!(!page.html.contains("Thank you"), "{}", page.html);
        page.html.contains("Your order was not placed")
    })
    .await;
    let page = browser.get(&status_path).await;
    assert!(
        page.html.contains("Only 2 of Sencha left (you asked for 3)."),
        "{}",
        page.html
    );
    assert!(page.html.contains(r#"href="/cart""#) && page.html.contains("Change your cart and check out again"));
    assert!(
        !page.html.contains("hx-trigger=\"every"),
        "a failed checkout stops polling"
    );
}

/// What checkouts recorded in product-order: (saga instances, orders).
async fn recorded(shop: &TestShop) -> (i64, i64) {
    let db = sqlx::PgPool::connect(&shop.product_order_database_url).await.unwrap();
    sqlx::query_as("SELECT (SELECT count(*) FROM saga.instances), (SELECT count(*) FROM orders)")
        .fetch_one(&db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_price_raised_after_the_form_was_shown_is_noticed_before_the_order_is_placed() {
    let ops = operated_shop().await;
    let (mut browser, operator, tea_id) = shopper_with_a_cart(&ops, "2", 10).await;
    let page = browser.get("/checkout").await;
    let shown = ShownForm::of(&page.html);
    assert_eq!(shown.total, "2580");
    let raised = operator
        .send(
            reqwest::Method::PATCH,
            &format!("/api/products/{tea_id}"),
            json!({"price": 1500}),
        )
        .await;
    assert_eq!(raised.status, StatusCode::OK, "{:?}", raised.body);

    let mut fields = details(&shown, "10115");
    fields[1] = ("contact_name", "Grace Hopper");
    let response = browser.post("/checkout", &fields).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(
            "Prices changed since you reviewed your cart: the total is now €30.00; please check and place the order again."
        ),
        "{html}"
    );
    assert!(
        html.contains(r#"id="checkout-total">€30.00"#),
        "the cart as it is now: {html}"
    );
    for typed in [
        r#"value="Grace Hopper""#,
        r#"value="Hauptstraße 1""#,
        r#"value="10115""#,
    ] {
        assert!(html.contains(typed), "{typed} kept: {html}");
    }
    let again = ShownForm::of(&html);
    assert_eq!((again.key.as_str(), again.total.as_str()), (shown.key.as_str(), "3000"));
    assert_eq!(recorded(&ops.shop).await, (0, 0), "nothing is recorded");

    // Sent again as now shown, the order is placed at the price the page showed.
    let response = browser.post("/checkout", &details(&again, "10115")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let status_path = location(&response);
    let browser_ref = &browser;
    let path = status_path.as_str();
    wait_until("the order to be placed", CHECKOUT_DEADLINE, move || async move {
        let page = browser_ref.load(path).await;
        assert!(!page.html.contains("Your order was not placed"), "{}", page.html);
        page.html.contains("Thank you, your order is placed")
    })
    .await;
    let placed = browser.get(&status_path).await;
    assert!(placed.html.contains("€30.00"), "{}", placed.html);
    assert_eq!(recorded(&ops.shop).await, (1, 1));
}

#[tokio::test]
async fn a_cart_in_two_currencies_says_so_and_is_not_checked_out() {
    let ops = operated_shop().await;
    let (mut browser, operator, _) = shopper_with_a_cart(&ops, "1", 10).await;
    let pot = operator.create_product("POT-W1", "Teapot", 3490, 5).await;
    let pot_id = pot["id"].as_str().unwrap();
    let mug = operator.create_product("MUG-W1", "Mug", 990, 5).await;
    let mug_id = mug["id"].as_str().unwrap();
    browser.add_to_cart(pot_id, "1").await;
    let changed = operator
        .send(
            reqwest::Method::PATCH,
            &format!("/api/products/{pot_id}"),
            json!({"currency": "USD"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);

    let cart = browser.get("/cart").await;
    assert!(
        cart.html.contains("$34.90"),
        "the teapot in its own currency: {}",
        cart.html
    );
    assert!(
        cart.html
            .contains(&format!(r#"id="line-{pot_id}-problem">Now priced in USD"#)),
        "{}",
        cart.html
    );
    assert!(cart.html.contains(r#"id="cart-total">€12.90"#), "{}", cart.html);

    browser.get(&format!("/products/{mug_id}")).await;
    let refused = browser
        .post("/cart/items", &[("product_id", mug_id), ("quantity", "1")])
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Your cart already holds items in EUR and USD"), "{html}");

    let page = browser.get("/checkout").await;
    assert!(
        page.html
            .contains(r#"<button type="submit" disabled aria-describedby="place-order-blocked">Place order</button>"#),
        "the page knows this order would fail and does not offer it: {}",
        page.html
    );
    assert!(page.html.contains(r#"id="place-order-blocked""#));
    // A form sent anyway (an old tab, a script) is refused all the same.
    let response = browser
        .post("/checkout", &details(&ShownForm::of(&page.html), "10115"))
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("One order takes one currency: your cart is in EUR, but Teapot is now priced in USD."),
        "{html}"
    );
    assert!(html.contains(r#"value="Hauptstraße 1""#), "what was typed is kept");
    assert_eq!(recorded(&ops.shop).await, (0, 0), "nothing is recorded");
}
