//! The catalog over HTTP: operators register and edit products and stock (audited),
//! shoppers browse, page and search.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{CustomerApi, ProductOrderApi, email, operated_shop};

#[tokio::test]
async fn operators_create_edit_and_adjust_stock_with_an_audit_trail() {
    let ops = operated_shop().await;
    let api = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let created = api.create_product(" tea-001 ", "Sencha", 1290, 10).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["sku"], "TEA-001");
    assert_eq!(created["price"], 1290);
    assert_eq!(created["currency"], "EUR");
    assert_eq!(created["availability"], "in_stock");
    assert_eq!(created["active"], true);

    let edited = api
        .update_product(id, json!({"name": "Sencha Superior", "price": 1490}))
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{:?}", edited.body);
    assert_eq!(edited.body["name"], "Sencha Superior");
    assert_eq!(edited.body["price"], 1490);
    assert_eq!(edited.body["stock"], 10, "untouched fields stay");

    let set = api
        .update_product(id, json!({"stock": 4, "stock_reason": "stocktake"}))
        .await;
    assert_eq!(set.body["stock"], 4);
    assert_eq!(set.body["availability"], "low");
    let adjusted = api
        .update_product(id, json!({"stock_delta": -4, "stock_reason": "damaged in storage"}))
        .await;
    assert_eq!(adjusted.body["stock"], 0);
    assert_eq!(adjusted.body["availability"], "out");
    let below_zero = api.update_product(id, json!({"stock_delta": -1})).await;
    assert_eq!(below_zero.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(below_zero.field_error("stock_delta").is_some());

    let history = api.get(&format!("/api/products/{id}/stock-changes")).await;
    let changes = history.body["items"].as_array().unwrap();
    let summary: Vec<(i64, i64, &str)> = changes
        .iter()
        .map(|c| {
            (
                c["from"].as_i64().unwrap(),
                c["to"].as_i64().unwrap(),
                c["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (4, 0, "damaged in storage"),
            (10, 4, "stocktake"),
            (0, 10, "initial stock")
        ]
    );
    assert!(
        changes.iter().all(|c| c["changed_by"] == ops.operator_id.as_str()),
        "who changed it is recorded"
    );
    assert!(changes.iter().all(|c| c["changed_at"].is_string()));
}

#[tokio::test]
async fn product_input_is_validated_field_by_field() {
    let ops = operated_shop().await;
    let api = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let good = json!({"sku": "OK-1", "name": "Fine", "description": "", "price": 100, "currency": "EUR", "stock": 1});
    let cases = [
        ("sku", json!("bad sku!")),
        ("name", json!("   ")),
        ("price", json!(-1)),
        ("price", json!(1_000_000_000_000i64)),
        ("currency", json!("DOGE")),
        ("stock", json!(-3)),
        ("image_url", json!("javascript:alert(1)")),
    ];
    for (field, value) in cases {
        let mut body = good.clone();
        body[field] = value.clone();
        let answer = api.send(Method::POST, "/api/products", body).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}={value}");
        assert!(
            answer.field_error(field).is_some(),
            "{field} named for {value}: {:?}",
            answer.body
        );
    }
    let wrong_type = api
        .send(Method::POST, "/api/products", json!({"sku": "X", "price": "12.90"}))
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNPROCESSABLE_ENTITY);

    api.create_product("DUP-1", "First", 100, 1).await;
    let duplicate = api
        .send(
            Method::POST,
            "/api/products",
            json!({"sku": "dup-1", "name": "Second", "price": 1, "currency": "EUR"}),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert!(duplicate.field_error("sku").is_some());
}

#[tokio::test]
async fn shoppers_and_visitors_cannot_manage_the_catalog() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let id = operator.create_product("SHOP-1", "Teapot", 3000, 5).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shopper_login = CustomerApi::new(&ops.shop.customer_url)
        .signed_up(&email("shopper"))
        .await;
    let shopper = ProductOrderApi::as_user(
        &ops.shop.product_order_url,
        shopper_login["access_token"].as_str().unwrap(),
    );
    let visitor = ProductOrderApi::anonymous(&ops.shop.product_order_url);
    let create = json!({"sku": "NOPE", "name": "x", "price": 1, "currency": "EUR"});

    assert_eq!(
        shopper.send(Method::POST, "/api/products", create.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        shopper.update_product(&id, json!({"stock": 999})).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        shopper.get(&format!("/api/products/{id}/stock-changes")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        shopper.get("/api/products?include_inactive=true").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        visitor.send(Method::POST, "/api/products", create).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        visitor.get(&format!("/api/products/{id}")).await.body["stock"],
        5,
        "nothing changed"
    );
}

#[tokio::test]
async fn inactive_products_are_hidden_from_shoppers() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let id = operator.create_product("GONE-1", "Retired Teapot", 3000, 5).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    operator.update_product(&id, json!({"active": false})).await;
    let visitor = ProductOrderApi::anonymous(&ops.shop.product_order_url);
    assert_eq!(
        visitor.get(&format!("/api/products/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(
        visitor.get("/api/products").await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(operator.get(&format!("/api/products/{id}")).await.body["active"], false);
    let all = operator.get("/api/products?include_inactive=true").await;
    assert_eq!(all.body["items"][0]["id"], id.as_str());
}

/// Pages through the whole listing, returning the ids in order.
async fn walk(api: &ProductOrderApi, query: &str, on_each_page: impl AsyncFn()) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/products?{query}&cursor={c}"),
            None => format!("/api/products?{query}"),
        };
        let page = api.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        ids.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned()),
        );
        on_each_page().await;
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn paging_returns_every_product_exactly_once_while_products_are_added() {
    let ops = operated_shop().await;
    let db = sqlx::PgPool::connect(&ops.shop.product_order_database_url)
        .await
        .unwrap();
    product_order::catalog::demo::generate(&db, 95).await.unwrap();
    let before: HashSet<String> = sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM products")
        .fetch_all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    let api = ProductOrderApi::anonymous(&ops.shop.product_order_url);
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    for sort in ["newest", "name"] {
        let added = std::cell::Cell::new(0);
        let ids = walk(&api, &format!("limit=10&sort={sort}"), async || {
            // Someone adds products while the shopper pages.
            let n = added.get() + 1;
            added.set(n);
            operator
                .create_product(&format!("NEW-{sort}-{n}"), &format!("AAA New {n}"), 100, 1)
                .await;
        })
        .await;
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{sort}: no product twice");
        let seen: HashSet<String> = ids.into_iter().collect();
        assert!(
            before.is_subset(&seen),
            "{sort}: every product present at the start is listed"
        );
    }
}

#[tokio::test]
async fn search_finds_by_name_sku_and_description() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    operator
        .create_product("TEA-SEN-100", "Sencha Green Tea", 1290, 10)
        .await;
    operator.create_product("POT-KYU-300", "Kyusu Teapot", 6900, 2).await;
    operator
        .create_product("CUP-GAI-150", "Porcelain Gaiwan", 1890, 0)
        .await;
    let api = ProductOrderApi::anonymous(&ops.shop.product_order_url);
    let names = |q: &'static str| {
        let api = &api;
        async move {
            let answer = api.get(&format!("/api/products?q={q}")).await;
            assert_eq!(answer.status, StatusCode::OK);
            let mut names: Vec<String> = answer.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(names("sencha").await, ["Sencha Green Tea"]);
    assert_eq!(
        names("SENCH").await,
        ["Sencha Green Tea"],
        "prefixes match, case ignored"
    );
    assert_eq!(names("pot-kyu-300").await, ["Kyusu Teapot"], "by SKU");
    assert_eq!(names("about%20porcelain").await, ["Porcelain Gaiwan"], "by description");
    assert_eq!(names("tea").await, ["Kyusu Teapot", "Sencha Green Tea"]);
    assert!(names("darjeeling").await.is_empty());
    assert!(
        names("%27%3B%20DROP%20TABLE%20products%3B--").await.is_empty(),
        "injection is just words"
    );
    assert_eq!(names("").await.len(), 3, "an empty search lists everything");

    let gaiwan = api.get("/api/products?q=gaiwan").await.body["items"][0].clone();
    assert_eq!(gaiwan["availability"], "out");
    let one = api
        .get(&format!("/api/products/{}", gaiwan["id"].as_str().unwrap()))
        .await;
    assert_eq!(one.body["sku"], "CUP-GAI-150");
}

/// Search pages come from walking the newest (or first by name) rows when the words are
/// common there, and from the search index when they are rare or only in older rows: either
/// way every match comes once, in order.
#[tokio::test]
async fn search_pages_hold_every_match_once_in_order_however_rare() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    for n in 1..=3 {
        operator
            .create_product(&format!("RARE-{n}"), &format!("Darjeeling Reserve {n}"), 100, 1)
            .await;
    }
    let db = sqlx::PgPool::connect(&ops.shop.product_order_database_url)
        .await
        .unwrap();
    // 1,000 newer products: "Kenya" in 100 of them, "Smoky Yunnan" in 10, all among the oldest.
    product_order::catalog::demo::generate(&db, 1000).await.unwrap();
    // Without word statistics (never analysed) every search walks first; with them, the rare
    // ones (darjeeling, rare-2) ask the search index first. A new product-order reads them.
    let api = ProductOrderApi::anonymous(&ops.shop.product_order_url);
    let without_stats = searches_page_by_page(&api).await;
    sqlx::query("ANALYZE products").execute(&db).await.unwrap();
    let analysed: bool = sqlx::query_scalar(
        "SELECT most_common_elems IS NOT NULL FROM pg_stats WHERE tablename = 'products' AND attname = 'search'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(analysed, "ANALYZE gathered the search column's word statistics");
    let replica = testkit::ProductOrderReplica::product_order(ops.shop.product_order_settings()).await;
    let with_stats = searches_page_by_page(&ProductOrderApi::anonymous(&replica.url)).await;
    assert_eq!(with_stats, without_stats, "the same pages however a search runs");
    replica.stop().await;

    let by_name = api.get("/api/products?q=keny&sort=name&limit=100").await;
    let names: Vec<&str> = by_name.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.is_sorted(), "{names:?}");
}

/// Each search's matches, whole and page by page (checked to be the same), in both orders.
async fn searches_page_by_page(api: &ProductOrderApi) -> Vec<Vec<String>> {
    let mut seen = Vec::new();
    for (q, matches) in [("darjeeling", 3), ("smoky%20yunnan", 10), ("keny", 100), ("rare-2", 1)] {
        for sort in ["newest", "name"] {
            // A page of 100 walks far enough to see every product; pages of 2 do not.
            let whole = walk(api, &format!("q={q}&sort={sort}&limit=100"), async || {}).await;
            assert_eq!(whole.len(), matches, "{q} {sort}");
            let paged = walk(api, &format!("q={q}&sort={sort}&limit=2"), async || {}).await;
            assert_eq!(
                paged, whole,
                "{q} {sort}: the same matches in the same order, page by page"
            );
            seen.push(whole);
        }
    }
    seen
}

#[tokio::test]
async fn listing_parameters_are_checked() {
    let ops = operated_shop().await;
    let api = ProductOrderApi::anonymous(&ops.shop.product_order_url);
    let long_search = format!("q={}", "x".repeat(201));
    let cases = [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=garbage", "cursor"),
        (long_search.as_str(), "q"),
    ];
    for (query, field) in cases {
        let answer = api.get(&format!("/api/products?{query}")).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(answer.field_error(field).is_some(), "{query}: {:?}", answer.body);
    }
    assert_eq!(api.get("/api/products?limit=abc").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        api.get("/api/products?sort=price").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(api.get("/api/products/not-a-uuid").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.get(&format!("/api/products/{}", uuid::Uuid::new_v4())).await.status,
        StatusCode::NOT_FOUND
    );
    // A cursor from one order is refused by the other.
    let ops_api = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    for n in 0..3 {
        ops_api
            .create_product(&format!("C-{n}"), &format!("Item {n}"), 100, 1)
            .await;
    }
    let cursor = api.get("/api/products?limit=1&sort=newest").await.body["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        api.get(&format!("/api/products?limit=1&sort=name&cursor={cursor}"))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}
