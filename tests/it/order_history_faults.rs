//! Order history under faults: customer down while orders are placed and moved, and the broker
//! unreachable in the middle of a stream of orders.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use testkit::Replica;
use uuid::Uuid;

use crate::helpers::{
    CustomerApi, OperatedShop, ProductOrderApi, broker_behind_proxy, declare_customer_queue_then_stop, email,
    eventually, operated_shop_custom, valid_details,
};

async fn shoppers(shop: &testkit::TestShop, count: usize) -> Vec<ProductOrderApi> {
    let mut shoppers = Vec::with_capacity(count);
    for _ in 0..count {
        let login = CustomerApi::new(&shop.customer_url).signed_up(&email("many")).await;
        shoppers.push(ProductOrderApi::as_user(
            &shop.product_order_url,
            login["access_token"].as_str().unwrap(),
        ));
    }
    shoppers
}

/// Each shopper places `each` orders of one unit, one after the other; returns the order ids.
async fn place_orders(shoppers: &[ProductOrderApi], product_id: &str, each: usize) -> Vec<String> {
    let per_shopper = shoppers.iter().map(|shopper| async move {
        let mut orders = Vec::with_capacity(each);
        for _ in 0..each {
            assert_eq!(shopper.set_quantity(product_id, 1).await.status, StatusCode::OK);
            let accepted = shopper.checkout(&Uuid::new_v4().to_string(), valid_details()).await;
            assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
            let done = shopper
                .finished_checkout(accepted.body["checkout_id"].as_str().unwrap())
                .await;
            assert_eq!(done["state"], "completed", "{done:?}");
            orders.push(done["order_id"].as_str().unwrap().to_owned());
        }
        orders
    });
    futures::future::join_all(per_shopper)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// The orders' statuses by id, in product-order's or customer's database.
async fn statuses(db: &PgPool, orders: &[Uuid]) -> HashMap<Uuid, String> {
    sqlx::query_as::<_, (Uuid, String)>("SELECT id, status FROM orders WHERE id = ANY($1)")
        .bind(orders)
        .fetch_all(db)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

async fn tea(ops: &OperatedShop) -> String {
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    operator.create_product("TEA-1", "Sencha", 1290, 100_000).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn customer_down_while_500_orders_are_placed_and_moved_catches_up_with_every_one() {
    // The shop's own customer serves accounts only; replicas apply the events.
    let ops = operated_shop_custom(|s| s.events.workers = false, |_| {}).await;
    let shop = &ops.shop;
    let product = tea(&ops).await;
    // The first start declares customer's queue; then customer goes away.
    let replica_settings = declare_customer_queue_then_stop(shop).await;

    let shoppers = shoppers(shop, 25).await;
    let orders = place_orders(&shoppers, &product, 20).await;
    assert_eq!(orders.len(), 500);
    let operator = ProductOrderApi::as_user(&shop.product_order_url, &ops.operator_token);
    let moves = orders.iter().enumerate().map(|(n, order)| {
        let operator = operator.clone();
        async move {
            let path = format!("/api/ops/orders/{order}/status");
            let route: &[&str] = match n % 3 {
                0 => &["confirmed", "shipped"],
                1 => &["cancelled"],
                _ => &["confirmed"],
            };
            for status in route {
                let moved = operator.send(Method::PATCH, &path, json!({"status": status})).await;
                assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
            }
        }
    });
    futures::stream::iter(moves)
        .buffer_unordered(25)
        .collect::<Vec<()>>()
        .await;

    let product_order_db = PgPool::connect(&shop.product_order_database_url).await.unwrap();
    let customer_db = PgPool::connect(&shop.customer_database_url).await.unwrap();
    let ids: Vec<Uuid> = orders.iter().map(|id| id.parse().unwrap()).collect();
    let expected = statuses(&product_order_db, &ids).await;
    assert_eq!(expected.len(), 500);
    assert!(
        statuses(&customer_db, &ids).await.is_empty(),
        "nothing applied while customer was down"
    );

    let _back = Replica::customer(replica_settings).await;
    eventually(
        "every order in customer with its final status",
        Duration::from_secs(90),
        async || (statuses(&customer_db, &ids).await == expected).then_some(()),
    )
    .await;
    let histories: i64 = sqlx::query_scalar("SELECT count(*) FROM order_status_history WHERE order_id = ANY($1)")
        .bind(&ids)
        .fetch_one(&customer_db)
        .await
        .unwrap();
    // placed, plus 2, 1 or 1 moves.
    let moves: i64 = (0..500).map(|n| if n % 3 == 0 { 2 } else { 1 }).sum();
    assert_eq!(histories, 500 + moves, "each event applied once");
}

#[tokio::test]
async fn the_broker_going_away_mid_stream_loses_no_order() {
    let (proxy, through_proxy) = broker_behind_proxy().await;
    let (for_customer, for_product_order) = (through_proxy.clone(), through_proxy);
    let ops = operated_shop_custom(|s| s.amqp_url = for_customer, |s| s.amqp_url = for_product_order).await;
    let shop = &ops.shop;
    let product = tea(&ops).await;
    let shoppers = shoppers(shop, 3).await;

    let before = place_orders(&shoppers, &product, 4).await;
    proxy.cut();
    let placing = tokio::spawn({
        let shoppers = shoppers.clone();
        let product = product.clone();
        async move {
            // Accepted while the broker is away; announced once it is back.
            let mut placed = Vec::new();
            for shopper in &shoppers {
                shopper.set_quantity(&product, 1).await;
                let accepted = shopper.checkout(&Uuid::new_v4().to_string(), valid_details()).await;
                assert_eq!(accepted.status, StatusCode::ACCEPTED);
                placed.push((
                    shopper.clone(),
                    accepted.body["checkout_id"].as_str().unwrap().to_owned(),
                ));
            }
            placed
        }
    });
    let accepted_while_away = placing.await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore();
    let mut orders = before;
    for (shopper, checkout_id) in &accepted_while_away {
        let done = shopper.finished_checkout(checkout_id).await;
        assert_eq!(done["state"], "completed", "{done:?}");
        orders.push(done["order_id"].as_str().unwrap().to_owned());
    }
    orders.extend(place_orders(&shoppers, &product, 4).await);
    assert_eq!(orders.len(), 4 * 3 + 3 + 4 * 3);

    let customer_db = PgPool::connect(&shop.customer_database_url).await.unwrap();
    let ids: Vec<Uuid> = orders.iter().map(|id| id.parse().unwrap()).collect();
    eventually("every order in customer", Duration::from_secs(60), async || {
        let known = statuses(&customer_db, &ids).await;
        (known.len() == ids.len() && known.values().all(|s| s == "placed")).then_some(())
    })
    .await;
}
