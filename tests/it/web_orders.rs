//! The order pages as a browser uses them: the shopper's list and order page (with the htmx
//! poll of its status), and the operator's order pages that move an order on.

use std::time::Duration;

use reqwest::StatusCode;

use testkit::Replica;

use crate::browser::{Browser, PASSWORD, hidden_value};
use crate::helpers::{
    CustomerApi, OperatedShop, ProductOrderApi, declare_customer_queue_then_stop, email, eventually, operated_shop,
    operated_shop_custom, valid_details,
};

/// How long an order may take to reach the shopper's history (or a status to follow it).
const HISTORY_DEADLINE: Duration = Duration::from_secs(30);

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// A shopper signed up at customer and logged in through the pages, with their API client.
struct Shopper {
    browser: Browser,
    api: ProductOrderApi,
}

impl Shopper {
    async fn sign_up(ops: &OperatedShop) -> Self {
        let address = email("orders");
        let login = CustomerApi::new(&ops.shop.customer_url).signed_up(&address).await;
        let token = login["access_token"].as_str().unwrap();
        let mut browser = Browser::open(&ops.shop.web_url).await;
        browser.log_in(&address, PASSWORD).await;
        Self {
            browser,
            api: ProductOrderApi::as_user(&ops.shop.product_order_url, token),
        }
    }

    /// Orders `quantity` of `product_id`; answers the checkout's and the order's ids.
    async fn place_order(&self, product_id: &str, quantity: i64) -> (String, String) {
        let set = self.api.set_quantity(product_id, quantity).await;
        assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
        let accepted = self
            .api
            .checkout(&uuid::Uuid::new_v4().to_string(), valid_details())
            .await;
        assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
        let checkout_id = accepted.body["checkout_id"].as_str().unwrap().to_owned();
        let done = self.api.finished_checkout(&checkout_id).await;
        assert_eq!(done["state"], "completed", "{done:?}");
        (checkout_id, done["order_id"].as_str().unwrap().to_owned())
    }

    /// Waits until the order's page (as htmx polls its status part) shows `status`; answers
    /// that part.
    async fn order_status_part(&self, order_id: &str, status: &str) -> String {
        let path = format!("/orders/{order_id}");
        let marker = format!(r#"data-status="{status}""#);
        eventually(
            &format!("order {order_id} {status} on its page"),
            HISTORY_DEADLINE,
            async || {
                let part = self.browser.htmx_get_part(&path, "order-status").await;
                (part.status == StatusCode::OK && part.html.contains(&marker)).then_some(part.html)
            },
        )
        .await
    }
}

/// A new product of the operator's, by id.
async fn a_product(ops: &OperatedShop, name: &str, price: i64) -> String {
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let sku = format!("TEA-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    operator.create_product(&sku, name, price, 20).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_placed_order_reaches_my_orders_and_follows_the_operators_moves() {
    let ops = operated_shop().await;
    let tea = a_product(&ops, "Sencha <green>", 1290).await;
    let mut shopper = Shopper::sign_up(&ops).await;

    let empty = shopper.browser.get("/orders").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.html.contains(r#"id="no-orders""#), "{}", empty.html);
    assert!(empty.html.contains(r#"id="orders-link""#), "My orders in the header");

    let (checkout_id, order_id) = shopper.place_order(&tea, 2).await;
    // Right after the checkout the order is listed: as processing until the history has it.
    let list = shopper.browser.get("/orders").await;
    assert_eq!(list.status, StatusCode::OK);
    let listed = list.html.contains(&format!(r#"id="order-{order_id}""#));
    let processing = list.html.contains(&format!(r#"href="/checkouts/{checkout_id}""#));
    assert!(listed || processing, "{}", list.html);
    assert!(!list.html.contains(r#"id="no-orders""#));
    let confirmation = shopper.browser.get(&format!("/checkouts/{checkout_id}")).await;
    assert!(
        confirmation.html.contains(&format!(r#"href="/orders/{order_id}""#)),
        "the confirmation links the order: {}",
        confirmation.html
    );

    let browser = &shopper.browser;
    let row = format!(r#"id="order-{order_id}""#);
    let list = eventually("the order in the history", HISTORY_DEADLINE, async || {
        let page = browser.load("/orders").await;
        page.html.contains(&row).then_some(page.html)
    })
    .await;
    assert!(list.contains("status-placed"), "{list}");
    assert!(list.contains(&format!(r#"href="/orders/{order_id}""#)) && list.contains("€25.80"));

    let page = shopper.browser.get(&format!("/orders/{order_id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains(r#"data-status="placed""#), "{}", page.html);
    assert!(
        page.html.contains("Sencha &#60;green&#62;") || page.html.contains("Sencha &lt;green&gt;"),
        "lines, escaped: {}",
        page.html
    );
    assert!(page.html.contains("€25.80") && page.html.contains("London"));
    assert!(page.html.contains(r#"id="cancel-order-form""#));
    let part = shopper
        .browser
        .htmx_get_part(&format!("/orders/{order_id}"), "order-status")
        .await;
    assert_eq!(part.status, StatusCode::OK);
    assert!(!part.html.contains("<html"), "htmx gets the part, not the page");
    assert!(part.html.starts_with(r#"<section id="order-status""#), "{}", part.html);
    assert!(part.html.contains(r#"hx-trigger="every 2s""#), "{}", part.html);
    assert!(part.html.contains(r#"hx-swap="outerHTML""#));

    // The operator confirms it on the order's page, which offers only the allowed moves.
    let mut operator = Browser::operator(&ops).await;
    let orders = operator.get("/ops/orders").await;
    assert_eq!(orders.status, StatusCode::OK);
    assert!(orders.html.contains(r#"href="/ops/orders""#), "the operator navigation");
    assert!(
        orders.html.contains(&format!(r#"href="/ops/orders/{order_id}""#)),
        "{}",
        orders.html
    );
    let placed = operator.get("/ops/orders?status=placed").await;
    assert!(placed.html.contains(&format!(r#"id="ops-order-{order_id}""#)));
    let shipped = operator.get("/ops/orders?status=shipped").await;
    assert!(!shipped.html.contains(&format!(r#"id="ops-order-{order_id}""#)));

    let order_path = format!("/ops/orders/{order_id}");
    let page = operator.get(&order_path).await;
    assert_eq!(page.status, StatusCode::OK);
    for (status, offered) in [
        ("confirmed", true),
        ("cancelled", true),
        ("shipped", false),
        ("delivered", false),
        ("placed", false),
    ] {
        let field = format!(r#"name="status" value="{status}""#);
        assert_eq!(page.html.contains(&field), offered, "{status}: {}", page.html);
    }
    let status_path = format!("{order_path}/status");
    let moved = operator
        .post(&status_path, &[("status", "confirmed"), ("reason", "paid <in full>")])
        .await;
    assert_eq!(moved.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&moved), format!("{order_path}?done=confirmed"));
    let page = operator.get(&location(&moved)).await;
    assert!(page.html.contains(r#"id="notice""#), "{}", page.html);
    assert!(page.html.contains(r#"data-status="confirmed""#));
    assert!(
        page.html.contains("paid &#60;in full&#62;") || page.html.contains("paid &lt;in full&gt;"),
        "who and why are in the history: {}",
        page.html
    );
    assert!(page.html.contains(">You<"));
    assert!(page.html.contains(r#"name="status" value="shipped""#));

    let reopened = operator.visit(&status_path).await;
    assert_eq!(reopened.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&reopened), order_path, "the form's address leads to the order");

    let refused = operator
        .post(&status_path, &[("status", "delivered"), ("reason", "")])
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let html = refused.text().await.unwrap();
    assert!(html.contains(r#"id="move-error""#), "{html}");
    let unknown = operator.post(&status_path, &[("status", "lost")]).await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.text().await.unwrap().contains(r#"id="move-error""#));

    // The shopper's order page follows.
    let part = shopper.order_status_part(&order_id, "confirmed").await;
    assert!(
        part.contains(r#"hx-trigger="every 2s""#),
        "confirmed still moves: {part}"
    );
    assert!(
        part.contains(r#"id="cancel-order-form""#),
        "confirmed can still be cancelled"
    );
    assert!(part.contains("paid"), "the move's reason is in the history: {part}");
}

#[tokio::test]
async fn operator_pages_refuse_shoppers_and_send_visitors_to_log_in() {
    let ops = operated_shop().await;
    let visitor = Browser::open(&ops.shop.web_url).await;
    for (path, next) in [
        ("/ops/orders", "/login?next=%2Fops%2Forders"),
        ("/orders", "/login?next=%2Forders"),
    ] {
        let response = visitor.visit(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&response), next);
    }

    let tea = a_product(&ops, "Genmaicha", 900).await;
    let shopper = Shopper::sign_up(&ops).await;
    let (_, order_id) = shopper.place_order(&tea, 1).await;
    for path in [
        "/ops/orders".to_owned(),
        "/ops/orders?status=placed".to_owned(),
        format!("/ops/orders/{order_id}"),
    ] {
        let page = shopper.browser.load(&path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
    }
    let attempt = shopper
        .browser
        .post(&format!("/ops/orders/{order_id}/status"), &[("status", "confirmed")])
        .await;
    assert_eq!(attempt.status(), StatusCode::FORBIDDEN);

    // Another shopper's order is no page of theirs.
    let mut other = Shopper::sign_up(&ops).await;
    let page = other.browser.get(&format!("/orders/{order_id}")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_delivered_order_stops_polling_and_a_placed_one_is_cancelled_from_its_page() {
    let ops = operated_shop().await;
    let tea = a_product(&ops, "Hojicha", 1100).await;
    let mut shopper = Shopper::sign_up(&ops).await;
    let (_, delivered) = shopper.place_order(&tea, 1).await;
    let (_, cancelled) = shopper.place_order(&tea, 3).await;

    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    for status in ["confirmed", "shipped", "delivered"] {
        let moved = operator.move_order(&delivered, status).await;
        assert_eq!(moved.status, StatusCode::OK, "{status}: {:?}", moved.body);
    }
    let part = shopper.order_status_part(&delivered, "delivered").await;
    assert!(!part.contains("hx-trigger"), "a delivered order stops polling: {part}");
    assert!(!part.contains("cancel-order-form"), "nothing to cancel: {part}");
    let page = shopper.browser.get(&format!("/orders/{delivered}")).await;
    assert!(!page.html.contains("hx-trigger"), "{}", page.html);
    assert!(!page.html.contains(r#"id="cancel-order-form""#));
    for status in ["Placed", "Confirmed", "Shipped", "Delivered"] {
        assert!(page.html.contains(status), "{status} in the history: {}", page.html);
    }

    shopper.order_status_part(&cancelled, "placed").await;
    let page = shopper.browser.get(&format!("/orders/{cancelled}")).await;
    let order_path = format!("/orders/{cancelled}");
    assert_eq!(
        hidden_value(&page.html, "return_to").as_deref(),
        Some(order_path.as_str())
    );
    let response = shopper
        .browser
        .post(&format!("{order_path}/cancel"), &[("return_to", &order_path)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), format!("{order_path}?done=cancelled"));
    let page = shopper.browser.get(&location(&response)).await;
    assert!(page.html.contains("Your order is cancelled"), "{}", page.html);
    assert!(!page.html.contains(r#"id="cancel-order-form""#));
    let part = shopper.order_status_part(&cancelled, "cancelled").await;
    assert!(!part.contains("hx-trigger"), "{part}");

    let again = shopper
        .browser
        .post(
            &format!("/orders/{delivered}/cancel"),
            &[("return_to", &format!("/orders/{delivered}"))],
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let html = again.text().await.unwrap();
    assert!(html.contains("Your order was not cancelled"), "{html}");
    assert!(
        html.contains(&format!(r#"href="/orders/{delivered}""#)),
        "the way back: {html}"
    );
}

#[tokio::test]
async fn an_order_on_its_way_to_the_history_shows_as_processing_until_it_arrives() {
    // The shop's own customer serves accounts and history only; a replica applies the events,
    // and is away while the order is placed.
    let ops = operated_shop_custom(|s| s.events.workers = false, |_| {}).await;
    let shop = &ops.shop;
    let applier = declare_customer_queue_then_stop(shop).await;

    let tea = a_product(&ops, "Bancha", 700).await;
    let mut shopper = Shopper::sign_up(&ops).await;
    let (checkout_id, order_id) = shopper.place_order(&tea, 1).await;

    let list = shopper.browser.get("/orders").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.html.contains(&format!(r#"id="checkout-{checkout_id}""#)),
        "{}",
        list.html
    );
    assert!(list.html.contains(&format!(r#"href="/checkouts/{checkout_id}""#)));
    assert!(list.html.contains("Processing"));
    assert!(
        !list.html.contains(r#"id="no-orders""#),
        "a just-placed order never seems missing"
    );

    let order_path = format!("/orders/{order_id}");
    let page = shopper.browser.get(&order_path).await;
    assert_eq!(page.status, StatusCode::OK, "processing, not missing: {}", page.html);
    assert!(
        page.html
            .contains("Processing: your order is on its way to your history"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains(r#"hx-trigger="every 2s""#),
        "it keeps polling: {}",
        page.html
    );
    let poll = shopper.browser.htmx_get_part(&order_path, "order").await;
    assert_eq!(poll.status, StatusCode::OK);
    assert!(
        after_title(&poll.html).starts_with(r#"<section id="order""#),
        "the part, after the title htmx puts on the tab: {}",
        poll.html
    );
    assert!(poll.html.contains("Processing"), "{}", poll.html);
    let unknown = shopper.browser.load(&format!("/orders/{}", uuid::Uuid::new_v4())).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // Customer comes back and applies the event: the poll brings the order itself.
    let _back = Replica::customer(applier).await;
    let browser = &shopper.browser;
    let arrived = eventually("the order in the history", HISTORY_DEADLINE, async || {
        let poll = browser.htmx_get_part(&order_path, "order").await;
        (poll.status == StatusCode::OK && poll.html.contains(r#"id="order-lines""#)).then_some(poll.html)
    })
    .await;
    assert!(!arrived.contains("<html"), "htmx gets the part, not the page");
    assert!(after_title(&arrived).starts_with(r#"<section id="order""#), "{arrived}");
    assert!(
        arrived.contains(r#"data-status="placed""#) && arrived.contains("Bancha"),
        "{arrived}"
    );
    let list = shopper.browser.get("/orders").await;
    assert!(
        list.html.contains(&format!(r#"id="order-{order_id}""#)),
        "{}",
        list.html
    );
    assert!(
        !list.html.contains(&format!(r#"id="checkout-{checkout_id}""#)),
        "no longer processing"
    );
}

/// A page's part for htmx without the `<title>` it starts with (htmx puts it on the tab).
fn after_title(part: &str) -> &str {
    assert!(
        part.starts_with("<title>"),
        "a part for htmx carries the page's title: {part}"
    );
    part.split_once("</title>\n").map_or(part, |(_, rest)| rest)
}
