//! Order history in customer, kept from product-order's events: placed orders arrive, status
//! moves follow, and the consumer is idempotent, ordered and survives bad messages.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    CustomerApi, ProductOrderApi, email, eventually, operated_shop, placed_event, publish_to_customer, send_event,
    status_event, valid_details,
};

/// A signed-up shopper: their product-order client, customer base URL, token and id.
struct Shopper {
    api: ProductOrderApi,
    customer: String,
    token: String,
    id: String,
}

impl Shopper {
    async fn sign_up(shop: &testkit::TestShop) -> Self {
        let customer = CustomerApi::new(&shop.customer_url);
        let login = customer.signed_up(&email("history")).await;
        let token = login["access_token"].as_str().unwrap().to_owned();
        let id = customer.me(&token).await.body["id"].as_str().unwrap().to_owned();
        Self {
            api: ProductOrderApi::as_user(&shop.product_order_url, &token),
            customer: shop.customer_url.clone(),
            token,
            id,
        }
    }

    async fn orders(&self, path: &str) -> (StatusCode, Value) {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.customer))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("customer answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits until customer shows the order with `status`, and returns it.
    async fn order_with_status(&self, order_id: &str, status: &str) -> Value {
        let path = format!("/api/orders/{order_id}");
        eventually(
            &format!("order {order_id} {status} in customer"),
            Duration::from_secs(20),
            async || {
                let (code, body) = self.orders(&path).await;
                (code == StatusCode::OK && body["status"] == status).then_some(body)
            },
        )
        .await
    }
}

async fn place_order(shopper: &Shopper, product_id: &str, quantity: i64) -> String {
    shopper.api.set_quantity(product_id, quantity).await;
    let accepted = shopper.api.checkout(&Uuid::new_v4().to_string(), valid_details()).await;
    let done = shopper
        .api
        .finished_checkout(accepted.body["checkout_id"].as_str().unwrap())
        .await;
    assert_eq!(done["state"], "completed", "{done:?}");
    done["order_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn placed_orders_and_every_status_move_reach_the_shoppers_history() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let tea = operator.create_product("TEA-1", "Sencha", 1290, 10).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shopper = Shopper::sign_up(&ops.shop).await;
    let order_id = place_order(&shopper, &tea, 2).await;

    let order = shopper.order_with_status(&order_id, "placed").await;
    assert_eq!(order["total"], 2580);
    assert_eq!(order["currency"], "EUR");
    assert_eq!(order["lines"][0]["name"], "Sencha");
    assert_eq!(order["lines"][0]["quantity"], 2);
    assert_eq!(order["delivery"]["city"], "London");
    assert_eq!(order["contact"]["name"], "Ada Lovelace");
    let (_, list) = shopper.orders("/api/orders").await;
    assert_eq!(list["items"][0]["id"], order_id.as_str());
    assert_eq!(list["items"][0]["item_count"], 2);

    let stranger = Shopper::sign_up(&ops.shop).await;
    assert_eq!(
        stranger.orders(&format!("/api/orders/{order_id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(stranger.orders("/api/orders").await.1["items"], json!([]));

    for status in ["confirmed", "shipped", "delivered"] {
        let moved = operator.move_order(&order_id, status).await;
        assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    }
    let refused = operator.move_order(&order_id, "cancelled").await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("delivered"));

    // Operators list orders by status and see what each may move to.
    let delivered_list = operator.get("/api/ops/orders?status=delivered").await;
    assert_eq!(delivered_list.status, StatusCode::OK, "{:?}", delivered_list.body);
    assert_eq!(delivered_list.body["items"][0]["id"], order_id.as_str());
    assert_eq!(delivered_list.body["items"][0]["allowed_moves"], json!([]));
    assert_eq!(
        operator.get("/api/ops/orders?status=placed").await.body["items"],
        json!([])
    );
    let detail = operator.get(&format!("/api/ops/orders/{order_id}")).await;
    assert_eq!(detail.body["lines"][0]["sku"], "TEA-1");
    assert_eq!(detail.body["history"].as_array().unwrap().len(), 4);
    assert_eq!(shopper.api.get("/api/ops/orders").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        operator.get("/api/ops/orders?status=lost").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // The shopper's recent checkouts name the order they placed.
    let checkouts = shopper.api.get("/api/checkouts").await;
    assert_eq!(checkouts.body["items"][0]["order_id"], order_id.as_str());
    assert_eq!(checkouts.body["items"][0]["state"], "completed");

    let delivered = shopper.order_with_status(&order_id, "delivered").await;

    // The other allowed ending: cancelled once confirmed, its stock back on sale.
    let second = place_order(&shopper, &tea, 3).await;
    for status in ["confirmed", "cancelled"] {
        let moved = operator
            .send(
                Method::PATCH,
                &format!("/api/ops/orders/{second}/status"),
                json!({"status": status, "reason": "customer called"}),
            )
            .await;
        assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    }
    let cancelled = shopper.order_with_status(&second, "cancelled").await;
    assert_eq!(cancelled["status_history"][2]["reason"], "customer called");
    let stock = operator.get(&format!("/api/products/{tea}")).await.body["stock"].clone();
    assert_eq!(stock, 8, "10 - 2 delivered; the cancelled 3 are back");
    let history: Vec<&str> = delivered["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["placed", "confirmed", "shipped", "delivered"]);
}

#[tokio::test]
async fn events_apply_once_in_version_order_and_a_status_change_waits_for_its_order() {
    let ops = operated_shop().await;
    let shop = &ops.shop;
    let shopper = Shopper::sign_up(shop).await;

    // Delivered twice, applied once; a change that overtook an earlier one waits for it, so
    // an order's changes apply in version order.
    let order = Uuid::new_v4();
    let placed_id = Uuid::new_v4();
    let placed = placed_event(placed_id, order, &shopper.id);
    send_event(shop, "order.placed", placed_id, &placed).await;
    send_event(shop, "order.placed", placed_id, &placed).await;
    let (confirmed_id, confirmed) = status_event(order, &shopper.id, 2, "placed", "confirmed");
    let (shipped_id, shipped) = status_event(order, &shopper.id, 3, "confirmed", "shipped");
    send_event(shop, "order.status_changed", shipped_id, &shipped).await;
    send_event(shop, "order.status_changed", confirmed_id, &confirmed).await;
    send_event(shop, "order.status_changed", shipped_id, &shipped).await;
    let history = eventually("both changes in the history", Duration::from_secs(20), async || {
        let (_, body) = shopper.orders(&format!("/api/orders/{order}")).await;
        (body["status"] == "shipped" && body["status_history"].as_array().map_or(0, Vec::len) == 3).then_some(body)
    })
    .await;
    let customer_db = sqlx::PgPool::connect(&shop.customer_database_url).await.unwrap();
    let applied: Vec<Uuid> = sqlx::query_scalar(
        "SELECT event_id FROM applied_events WHERE event_id = ANY($1) ORDER BY applied_at, event_id",
    )
    .bind([confirmed_id, shipped_id])
    .fetch_all(&customer_db)
    .await
    .unwrap();
    assert_eq!(applied, [confirmed_id, shipped_id], "applied in version order");
    let statuses: Vec<&str> = history["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["placed", "confirmed", "shipped"]);
    let (_, list) = shopper.orders("/api/orders").await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "the duplicate made no second order"
    );

    // A status change that arrives before its order.placed is not lost.
    let early_order = Uuid::new_v4();
    let (early_id, early) = status_event(early_order, &shopper.id, 2, "placed", "cancelled");
    send_event(shop, "order.status_changed", early_id, &early).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late_placed = Uuid::new_v4();
    send_event(
        shop,
        "order.placed",
        late_placed,
        &placed_event(late_placed, early_order, &shopper.id),
    )
    .await;
    shopper.order_with_status(&early_order.to_string(), "cancelled").await;
}

#[tokio::test]
async fn a_poison_message_is_dead_lettered_with_its_error_and_the_next_one_still_applies() {
    let ops = operated_shop().await;
    let shop = &ops.shop;
    let shopper = Shopper::sign_up(shop).await;

    publish_to_customer(shop, "order.placed", "poison-1", b"{ this is not json").await;
    let good = Uuid::new_v4();
    let order = Uuid::new_v4();
    send_event(shop, "order.placed", good, &placed_event(good, order, &shopper.id)).await;
    shopper.order_with_status(&order.to_string(), "placed").await;

    // Dead-lettered at once, and listed for operators with its error.
    let listed = eventually(
        "the poison message among the dead letters",
        Duration::from_secs(10),
        async || {
            let answer = CustomerApi::new(&shop.customer_url)
                .get_as("/api/ops/dead-letters", &ops.operator_token)
                .await;
            answer.body["items"]
                .as_array()?
                .iter()
                .find(|letter| letter["message_id"] == "poison-1")
                .cloned()
        },
    )
    .await;
    assert!(
        listed["error"].as_str().unwrap().contains("not an order.placed"),
        "{listed}"
    );
    assert_eq!(listed["dead_reason"], "rejected", "{listed}");
    assert_eq!(listed["attempts"], 1, "{listed}");
}
