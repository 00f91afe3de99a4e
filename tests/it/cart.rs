//! Carts over HTTP: limits and refusals, guests, merging at login, and privacy.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{CustomerApi, ProductOrderApi, email, guest_token, operated_shop};

#[tokio::test]
async fn a_shopper_fills_changes_and_empties_a_cart() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let tea = operator.create_product("TEA-1", "Sencha", 1290, 10).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pot = operator.create_product("POT-1", "Teapot", 3490, 3).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = CustomerApi::new(&ops.shop.customer_url).signed_up(&email("cart")).await;
    let cart = ProductOrderApi::as_user(&ops.shop.product_order_url, login["access_token"].as_str().unwrap());

    let empty = cart.get("/api/cart").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(
        empty.body,
        json!({"items": [], "total": 0, "currency": null, "mixed_currencies": false, "item_count": 0})
    );

    cart.set_quantity(&tea, 2).await;
    let both = cart.set_quantity(&pot, 1).await;
    assert_eq!(both.status, StatusCode::OK, "{:?}", both.body);
    assert_eq!(both.body["total"], 2 * 1290 + 3490);
    assert_eq!(both.body["currency"], "EUR");
    assert_eq!(both.body["item_count"], 3);
    assert_eq!(both.body["items"][0]["name"], "Sencha");
    assert_eq!(both.body["items"][0]["line_total"], 2580);

    let changed = cart.set_quantity(&tea, 5).await;
    assert_eq!(changed.body["items"][0]["quantity"], 5);
    // Current prices, not the price when added.
    operator.update_product(&tea, json!({"price": 1000})).await;
    assert_eq!(cart.get("/api/cart").await.body["total"], 5 * 1000 + 3490);

    let removed = cart.delete(&format!("/api/cart/items/{tea}")).await;
    assert_eq!(removed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(removed.body["total"], 3490);
}

#[tokio::test]
async fn quantities_products_and_stock_are_checked() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let scarce = operator.create_product("RARE-1", "Silver Needle", 2290, 3).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let retired = operator.create_product("OLD-1", "Old Mug", 990, 50).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    operator.update_product(&retired, json!({"active": false})).await;
    let cart = ProductOrderApi::as_guest(&ops.shop.product_order_url, &guest_token());

    for quantity in [0, -1, 100] {
        let answer = cart.set_quantity(&scarce, quantity).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "quantity {quantity}");
        assert!(answer.field_error("quantity").is_some());
    }
    let missing = cart
        .send(Method::PUT, &format!("/api/cart/items/{scarce}"), json!({}))
        .await;
    assert!(missing.field_error("quantity").is_some());

    let too_many = cart.set_quantity(&scarce, 4).await;
    assert_eq!(too_many.status, StatusCode::CONFLICT);
    assert_eq!(too_many.body["error"]["code"], "insufficient_stock");
    assert_eq!(too_many.body["error"]["message"], "Only 3 of Silver Needle left.");
    assert_eq!(cart.set_quantity(&scarce, 3).await.status, StatusCode::OK);

    let inactive = cart.set_quantity(&retired, 1).await;
    assert_eq!(inactive.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(inactive.body["error"]["code"], "product_unavailable");
    let unknown = cart.set_quantity(&uuid::Uuid::new_v4().to_string(), 1).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // Stock drops after the line was added: the cart says so.
    operator
        .update_product(&scarce, json!({"stock": 1, "stock_reason": "breakage"}))
        .await;
    let flagged = cart.get("/api/cart").await;
    assert_eq!(flagged.body["items"][0]["problem"], "Only 1 left.");
}

#[tokio::test]
async fn a_cart_is_in_one_currency_even_when_a_product_changes_its_own() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let id = |product: serde_json::Value| product["id"].as_str().unwrap().to_owned();
    let tea = id(operator.create_product("TEA-1", "Sencha", 1000, 10).await);
    let pot = id(operator.create_product("POT-1", "Teapot", 500, 10).await);
    let mug = id(operator.create_product("MUG-1", "Mug", 700, 10).await);
    let kettle = id(operator.create_product("KETTLE-1", "Kettle", 4900, 10).await);
    operator.update_product(&kettle, json!({"currency": "USD"})).await;
    let cart = ProductOrderApi::as_guest(&ops.shop.product_order_url, &guest_token());
    cart.set_quantity(&tea, 1).await;
    cart.set_quantity(&pot, 1).await;

    let refused = cart.set_quantity(&kettle, 1).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert_eq!(refused.body["error"]["code"], "currency_mismatch");
    assert_eq!(
        refused.body["error"]["message"],
        "Your cart is in EUR; this product is priced in USD. Check out or empty the cart first."
    );

    // The operator prices the teapot in USD while it is in the cart: the cart says so.
    operator.update_product(&pot, json!({"currency": "USD"})).await;
    let mixed = cart.get("/api/cart").await.body;
    assert_eq!(mixed["currency"], "EUR");
    assert_eq!(mixed["mixed_currencies"], true);
    assert_eq!(mixed["total"], 1000, "the total of the lines in EUR: {mixed}");
    assert_eq!(mixed["items"][0]["problem"], serde_json::Value::Null);
    assert_eq!(mixed["items"][1]["currency"], "USD");
    let problem = mixed["items"][1]["problem"].as_str().unwrap();
    assert!(problem.contains("USD") && problem.contains("remove"), "{problem}");
    // Nothing more goes in, in either currency, until the line in USD is gone.
    for (product, quantity) in [(&mug, 1), (&pot, 2), (&tea, 2)] {
        let refused = cart.set_quantity(product, quantity).await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
        assert_eq!(refused.body["error"]["code"], "currency_mismatch");
        let message = refused.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("EUR and USD"), "{message}");
    }
    let one_currency = cart.delete(&format!("/api/cart/items/{pot}")).await.body;
    assert_eq!(one_currency["mixed_currencies"], false);
    assert_eq!(cart.set_quantity(&mug, 1).await.body["total"], 1700);
}

#[tokio::test]
async fn a_guest_cart_joins_the_account_cart_at_login() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let tea = operator.create_product("TEA-1", "Sencha", 1290, 10).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pot = operator.create_product("POT-1", "Teapot", 3490, 5).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = guest_token();
    let guest = ProductOrderApi::as_guest(&ops.shop.product_order_url, &token);
    guest.set_quantity(&tea, 2).await;
    guest.set_quantity(&pot, 4).await;

    let login = CustomerApi::new(&ops.shop.customer_url)
        .signed_up(&email("merge"))
        .await;
    let shopper = ProductOrderApi::as_user(&ops.shop.product_order_url, login["access_token"].as_str().unwrap());
    shopper.set_quantity(&pot, 3).await;
    let merged = shopper
        .send(Method::POST, "/api/cart/merge", json!({"cart_token": token}))
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{:?}", merged.body);
    let lines: Vec<(String, i64)> = merged.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap().to_owned(), i["quantity"].as_i64().unwrap()))
        .collect();
    assert!(lines.contains(&("Sencha".into(), 2)), "{lines:?}");
    assert!(
        lines.contains(&("Teapot".into(), 5)),
        "3 + 4 capped at the 5 in stock: {lines:?}"
    );
    assert!(
        guest.get("/api/cart").await.body["items"]
            .as_array()
            .unwrap()
            .is_empty(),
        "the guest cart is emptied"
    );

    let bad = shopper
        .send(Method::POST, "/api/cart/merge", json!({"cart_token": "short"}))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn carts_belong_to_their_owner_only() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let tea = operator.create_product("TEA-1", "Sencha", 1290, 10).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let customers = CustomerApi::new(&ops.shop.customer_url);
    let alice = customers.signed_up(&email("alice")).await;
    let bob = customers.signed_up(&email("bob")).await;
    let alice = ProductOrderApi::as_user(&ops.shop.product_order_url, alice["access_token"].as_str().unwrap());
    let bob = ProductOrderApi::as_user(&ops.shop.product_order_url, bob["access_token"].as_str().unwrap());
    alice.set_quantity(&tea, 2).await;

    assert!(
        bob.get("/api/cart").await.body["items"].as_array().unwrap().is_empty(),
        "bob sees his own cart"
    );
    bob.delete(&format!("/api/cart/items/{tea}")).await;
    assert_eq!(
        alice.get("/api/cart").await.body["items"][0]["quantity"],
        2,
        "bob cannot touch alice's cart"
    );
    let guest = ProductOrderApi::as_guest(&ops.shop.product_order_url, &guest_token());
    assert!(
        guest.get("/api/cart").await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let nobody = ProductOrderApi::anonymous(&ops.shop.product_order_url);
    assert_eq!(nobody.get("/api/cart").await.status, StatusCode::UNAUTHORIZED);
    let weak = ProductOrderApi::as_guest(&ops.shop.product_order_url, "guessable");
    assert_eq!(weak.get("/api/cart").await.status, StatusCode::UNAUTHORIZED);
    let forged = ProductOrderApi::as_user(&ops.shop.product_order_url, "not-a-token");
    assert_eq!(forged.get("/api/cart").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn adding_counts_every_concurrent_add() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let tea = operator.create_product("TEA-1", "Sencha", 1290, 50).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cart = ProductOrderApi::as_guest(&ops.shop.product_order_url, &crate::helpers::guest_token());
    // Ten tabs add one each at the same moment: all ten count.
    let mut tabs = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (cart, tea) = (cart.clone(), tea.clone());
        tabs.spawn(async move {
            cart.send(
                Method::POST,
                "/api/cart/items",
                json!({"product_id": tea, "quantity": 1}),
            )
            .await
        });
    }
    for answer in tabs.join_all().await {
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    }
    assert_eq!(cart.get("/api/cart").await.body["items"][0]["quantity"], 10);
    let over = cart
        .send(
            Method::POST,
            "/api/cart/items",
            json!({"product_id": tea, "quantity": 90}),
        )
        .await;
    assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        over.field_error("quantity"),
        Some("Your cart can hold at most 99 of this product; it already has 10.")
    );
    let no_product = cart.send(Method::POST, "/api/cart/items", json!({"quantity": 1})).await;
    assert!(no_product.field_error("product_id").is_some());
}
