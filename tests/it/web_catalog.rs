//! The catalog, cart and operator pages as a browser gets them, htmx swaps included.

use reqwest::StatusCode;
use serde_json::json;

use crate::browser::Browser;
use crate::helpers::{CustomerApi, ProductOrderApi, email, operated_shop};

fn cart_count(html: &str) -> Option<String> {
    let start = html.find(r#"id="cart-count""#)?;
    let tag_end = start + html[start..].find('>')?;
    let text_end = tag_end + html[tag_end..].find("</span>")?;
    Some(html[tag_end + 1..text_end].to_owned())
}

/// The address the "Load more" link under a listing opens.
fn load_more_url(html: &str) -> String {
    let link = r#"id="load-more-link" class="button secondary" href=""#;
    let start = html.find(link).map(|i| i + link.len()).expect("a load-more link");
    html[start..].split('"').next().unwrap().replace("&amp;", "&")
}

#[tokio::test]
async fn the_catalog_pages_list_search_and_load_more() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let db = sqlx::PgPool::connect(&ops.shop.product_order_database_url)
        .await
        .unwrap();
    product_order::catalog::demo::generate(&db, 30).await.unwrap();
    let sencha = operator.create_product("TEA-SEN", "Sencha <Superior>", 1290, 3).await;
    let mut browser = Browser::open(&ops.shop.web_url).await;

    let home = browser.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.html.contains(r#"id="featured-products""#));
    assert!(
        home.html.contains("Sencha &#60;Superior&#62;") || home.html.contains("Sencha &lt;Superior&gt;"),
        "names are escaped"
    );
    assert!(!home.html.contains("<Superior>"));

    let list = browser.get("/products").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.html.contains(r#"id="product-list""#) && list.html.contains(r#"id="load-more-link""#));
    let next = load_more_url(&list.html);
    let more = browser.htmx_get(&next).await;
    assert_eq!(more.status, StatusCode::OK);
    assert!(!more.html.contains("<html"), "htmx gets a fragment, not a page");
    assert!(more.html.contains(r#"class="product-card""#), "{}", more.html);
    let first_ids: Vec<&str> = list
        .html
        .match_indices(r#"id="product-"#)
        .map(|(i, _)| &list.html[i..i + 48])
        .collect();
    assert!(
        first_ids.iter().all(|id| !more.html.contains(id)),
        "the next page holds other products"
    );
    let plain = browser.get(&next).await;
    assert!(
        plain.html.contains("<html"),
        "without htmx the same link loads a whole page"
    );

    let search = browser.get("/products?q=sencha").await;
    assert!(search.html.contains("Only 3 left"), "availability shows");
    assert!(
        search
            .html
            .contains(&format!(r#"id="product-{}""#, sencha["id"].as_str().unwrap()))
    );
    let none = browser.get("/products?q=zzzzunknown").await;
    assert!(none.html.contains(r#"id="no-products""#));
}

#[tokio::test]
async fn a_guest_adds_with_htmx_and_the_cart_joins_the_account() {
    let ops = operated_shop().await;
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let tea = operator.create_product("TEA-1", "Sencha", 1290, 10).await;
    let tea_id = tea["id"].as_str().unwrap();
    let mut browser = Browser::open(&ops.shop.web_url).await;
    let detail = browser.get(&format!("/products/{tea_id}")).await;
    assert!(detail.html.contains(r#"id="add-to-cart""#));
    assert_eq!(
        cart_count(&detail.html).as_deref(),
        Some(""),
        "an empty badge before adding"
    );

    let added = browser
        .htmx_post("/cart/items", &[("product_id", tea_id), ("quantity", "2")])
        .await;
    assert_eq!(added.status(), StatusCode::OK);
    assert!(
        added
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("__Host-shop_cart=")),
        "a guest cart cookie"
    );
    let fragment = added.text().await.unwrap();
    assert!(!fragment.contains("<html"));
    assert!(
        fragment.contains(r#"id="cart-count" class="cart-count" hx-swap-oob="true""#),
        "the badge swaps out of band: {fragment}"
    );
    assert_eq!(cart_count(&fragment).as_deref(), Some("2"));

    let too_many = browser
        .htmx_post("/cart/items", &[("product_id", tea_id), ("quantity", "9")])
        .await;
    let refusal = too_many.text().await.unwrap();
    assert!(
        refusal.contains(r#"id="quantity-error""#) && refusal.contains("Only 10 of Sencha left."),
        "{refusal}"
    );

    let cart = browser.get("/cart").await;
    assert!(cart.html.contains(&format!(r#"id="line-{tea_id}""#)));
    assert!(cart.html.contains("€25.80"), "the total: {}", cart.html);

    browser.register(&email("guest-joins"), "Page Shopper").await;
    let cart = browser.get("/cart").await;
    assert!(
        cart.html.contains(&format!(r#"id="line-{tea_id}""#)),
        "the guest's line is in the account's cart"
    );
    assert_eq!(cart_count(&cart.html).as_deref(), Some("2"));

    let changed = browser
        .htmx_post(&format!("/cart/items/{tea_id}"), &[("quantity", "5")])
        .await;
    assert_eq!(cart_count(&changed.text().await.unwrap()).as_deref(), Some("5"));
    let removed = browser.htmx_post(&format!("/cart/items/{tea_id}/remove"), &[]).await;
    let html = removed.text().await.unwrap();
    assert!(html.contains(r#"id="cart-empty""#), "{html}");
}

#[tokio::test]
async fn operator_pages_are_for_operators_and_show_field_errors() {
    let ops = operated_shop().await;
    let mut visitor = Browser::open(&ops.shop.web_url).await;
    let redirected = visitor.visit("/ops/products").await;
    assert_eq!(redirected.status(), StatusCode::SEE_OTHER);
    assert!(
        redirected.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login?next=")
    );

    visitor.register(&email("not-ops"), "Page Shopper").await;
    assert_eq!(visitor.get("/ops/products").await.status, StatusCode::FORBIDDEN);

    let operator_email = {
        let me: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/api/me", ops.shop.customer_url))
            .bearer_auth(&ops.operator_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        me["email"].as_str().unwrap().to_owned()
    };
    let mut operator = Browser::open(&ops.shop.web_url).await;
    operator.log_in(&operator_email, "operator password").await;
    operator.get("/ops/products/new").await;
    let fields = [
        ("sku", "MUG-9"),
        ("name", "Stoneware Mug"),
        ("description", ""),
        ("price", "twelve"),
        ("currency", "EUR"),
        ("stock", "4"),
        ("image_url", ""),
        ("active", "true"),
    ];
    let invalid = operator.post("/ops/products", &fields).await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = invalid.text().await.unwrap();
    assert!(html.contains(r#"id="price-error""#), "{html}");
    assert!(html.contains(r#"value="Stoneware Mug""#), "what was typed is kept");

    let mut valid = fields;
    valid[3] = ("price", "15.90");
    let created = operator.post("/ops/products", &valid).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let product_path = location.split('?').next().unwrap().to_owned();
    let page = operator.get(&location).await;
    assert!(page.html.contains(r#"id="stock-form""#));
    let adjusted = operator
        .post(
            &format!("{product_path}/stock"),
            &[("stock_delta", "-3"), ("stock_reason", "dropped a box")],
        )
        .await;
    assert_eq!(adjusted.status(), StatusCode::SEE_OTHER);
    let page = operator.get(&product_path).await;
    assert!(
        page.html.contains("dropped a box"),
        "the stock change is in the history"
    );
    let api = ProductOrderApi::anonymous(&ops.shop.product_order_url);
    let listed = api.get("/api/products?q=stoneware").await;
    assert_eq!(listed.body["items"][0]["stock"], json!(1));
    assert_eq!(listed.body["items"][0]["price"], json!(1590));
}

#[tokio::test]
async fn the_operators_product_table_appends_its_next_rows_and_then_ends() {
    let ops = operated_shop().await;
    let db = sqlx::PgPool::connect(&ops.shop.product_order_database_url)
        .await
        .unwrap();
    product_order::catalog::demo::generate(&db, 30).await.unwrap();
    let me = CustomerApi::new(&ops.shop.customer_url).me(&ops.operator_token).await;
    let mut browser = Browser::open(&ops.shop.web_url).await;
    browser
        .log_in(me.body["email"].as_str().unwrap(), "operator password")
        .await;

    let table = browser.get("/ops/products").await;
    assert_eq!(table.status, StatusCode::OK);
    let rows = |html: &str| -> Vec<String> {
        html.match_indices(r#"<tr id="ops-product-"#)
            .map(|(i, _)| html[i..i + 56].to_owned())
            .collect()
    };
    let first = rows(&table.html);
    assert_eq!(first.len(), 25, "a page of the table");
    let more = browser.htmx_get(&load_more_url(&table.html)).await;
    assert_eq!(more.status, StatusCode::OK);
    assert!(!more.html.contains("<html"), "htmx gets a fragment, not a page");
    let next = rows(&more.html);
    assert_eq!(next.len(), 5, "the rest of the 30: {}", more.html);
    assert!(
        next.iter().all(|row| !first.contains(row)),
        "the next rows are other products"
    );
    assert!(
        more.html
            .contains(r#"id="load-more" class="load-more" hx-swap-oob="true""#),
        "the link is replaced out of band: {}",
        more.html
    );
    assert!(!more.html.contains("load-more-link"), "the last page offers no more");
}
