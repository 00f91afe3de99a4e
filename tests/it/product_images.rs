//! Product pictures: operators upload an image (over the API or the product's operator page),
//! product-order keeps it and serves it by its content address, and the shop's pages show it.

use reqwest::StatusCode;
use serde_json::json;

use crate::browser::Browser;
use crate::helpers::{CustomerApi, OperatedShop, ProductOrderApi, email, operated_shop};

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53, 0xde, 0x00, 0x00, 0x00, 0x0c, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x38, 0x10, 0x60, 0x00, 0x00, 0x03, 0x14, 0x01, 0x41, 0xf2, 0x99, 0x36, 0xe4,
    0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];
/// The start of a JPEG (JFIF) file: what product-order looks at.
const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00 rest of the picture";

/// Sends `body` as a product's image with a `Content-Type` that says otherwise: only the
/// bytes count.
async fn upload(api: &ProductOrderApi, product_id: &str, body: Vec<u8>) -> (StatusCode, serde_json::Value) {
    let mut request = api
        .http
        .put(format!("{}/api/products/{product_id}/image", api.base))
        .header("content-type", "text/plain")
        .body(body);
    if let Some(token) = &api.bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("product-order answers");
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

/// An image as a browser fetches it: status, content type, the other headers that matter, bytes.
struct Fetched {
    status: StatusCode,
    content_type: String,
    nosniff: bool,
    cache_control: String,
    bytes: Vec<u8>,
}

async fn fetch(url: &str) -> Fetched {
    let response = reqwest::get(url).await.expect("the image answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (content_type, nosniff, cache_control) = (
        header("content-type"),
        header("x-content-type-options") == "nosniff",
        header("cache-control"),
    );
    Fetched {
        status: response.status(),
        content_type,
        nosniff,
        cache_control,
        bytes: response.bytes().await.unwrap().to_vec(),
    }
}

fn assert_served_as(fetched: &Fetched, bytes: &[u8], content_type: &str) {
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.bytes, bytes, "the same bytes come back");
    assert_eq!(fetched.content_type, content_type);
    assert!(fetched.nosniff, "browsers must not guess another type");
    assert!(
        fetched.cache_control.contains("max-age=31536000") && fetched.cache_control.contains("immutable"),
        "{}",
        fetched.cache_control
    );
}

async fn product_with_operator(ops: &OperatedShop, sku: &str) -> (ProductOrderApi, String) {
    let operator = ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token);
    let product = operator.create_product(sku, "Celadon Teapot", 4900, 3).await;
    (operator, product["id"].as_str().unwrap().to_owned())
}

async fn images_stored(ops: &OperatedShop) -> i64 {
    let db = sqlx::PgPool::connect(&ops.shop.product_order_database_url)
        .await
        .unwrap();
    sqlx::query_scalar("SELECT count(*) FROM product_images")
        .fetch_one(&db)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_uploaded_image_comes_back_byte_for_byte_at_an_address_that_changes_with_it() {
    let ops = operated_shop().await;
    let (operator, id) = product_with_operator(&ops, "POT-CEL-1").await;
    let base = &ops.shop.product_order_url;

    let (status, product) = upload(&operator, &id, PNG.to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{product}");
    let png_path = product["uploaded_image"]["path"].as_str().unwrap().to_owned();
    let sha256 = product["uploaded_image"]["sha256"].as_str().unwrap();
    assert_eq!(png_path, format!("/api/products/{id}/images/{sha256}"));
    assert_served_as(&fetch(&format!("{base}{png_path}")).await, PNG, "image/png");
    let anyone = ProductOrderApi::anonymous(base);
    assert_eq!(
        anyone.get(&format!("/api/products/{id}")).await.body["uploaded_image"]["path"],
        png_path.as_str()
    );

    let (status, product) = upload(&operator, &id, JPEG.to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{product}");
    let jpeg_path = product["uploaded_image"]["path"].as_str().unwrap().to_owned();
    assert_ne!(jpeg_path, png_path, "a new image, a new address");
    assert_served_as(&fetch(&format!("{base}{jpeg_path}")).await, JPEG, "image/jpeg");
    assert_eq!(fetch(&format!("{base}{png_path}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(images_stored(&ops).await, 1, "the replaced image is deleted");

    // An image address replaces the upload, and the other way round.
    let with_url = operator
        .update_product(&id, json!({"image_url": "https://img.example/teapot.png"}))
        .await;
    assert_eq!(with_url.status, StatusCode::OK, "{:?}", with_url.body);
    assert_eq!(with_url.body["uploaded_image"], json!(null));
    assert_eq!(fetch(&format!("{base}{jpeg_path}")).await.status, StatusCode::NOT_FOUND);
    let (_, product) = upload(&operator, &id, PNG.to_vec()).await;
    assert_eq!(product["image_url"], json!(null));
    assert_eq!(
        product["uploaded_image"]["path"],
        png_path.as_str(),
        "the same bytes, the same address"
    );

    let removed = operator.delete(&format!("/api/products/{id}/image")).await;
    assert_eq!(removed.status, StatusCode::OK);
    assert_eq!(removed.body["uploaded_image"], json!(null));
    assert_eq!(images_stored(&ops).await, 0);
}

#[tokio::test]
async fn non_images_and_files_over_2_mib_are_refused_and_nothing_is_stored() {
    let ops = operated_shop().await;
    let (operator, id) = product_with_operator(&ops, "POT-CEL-2").await;

    let mut too_large = PNG.to_vec();
    too_large.resize(2 * 1024 * 1024 + 1, 0);
    let (status, refused) = upload(&operator, &id, too_large).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{refused}");
    assert_eq!(refused["error"]["code"], "image_too_large");
    let message = refused["error"]["fields"]["image"].as_str().unwrap();
    assert!(message.contains("2 MiB"), "{message}");

    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec();
    for (not_an_image, expected) in [
        (svg, "JPEG, PNG or WebP"),
        (b"GIF89a\x01\x00\x01\x00".to_vec(), "JPEG, PNG or WebP"),
        (Vec::new(), "Choose an image"),
    ] {
        let (status, refused) = upload(&operator, &id, not_an_image).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        let message = refused["error"]["fields"]["image"].as_str().unwrap();
        assert!(message.contains(expected), "{message}");
    }
    let product = operator.get(&format!("/api/products/{id}")).await.body;
    assert_eq!(product["uploaded_image"], json!(null));
    assert_eq!(images_stored(&ops).await, 0);

    let (status, _) = upload(&operator, &uuid::Uuid::now_v7().to_string(), PNG.to_vec()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no such product");
}

#[tokio::test]
async fn shoppers_and_visitors_cannot_upload_or_remove_images() {
    let ops = operated_shop().await;
    let (_, id) = product_with_operator(&ops, "POT-CEL-3").await;
    let customers = CustomerApi::new(&ops.shop.customer_url);
    let shopper = customers.signed_up(&email("shopper")).await;
    let shopper = ProductOrderApi::as_user(&ops.shop.product_order_url, shopper["access_token"].as_str().unwrap());
    assert_eq!(upload(&shopper, &id, PNG.to_vec()).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        shopper.delete(&format!("/api/products/{id}/image")).await.status,
        StatusCode::FORBIDDEN
    );
    let visitor = ProductOrderApi::anonymous(&ops.shop.product_order_url);
    assert_eq!(upload(&visitor, &id, PNG.to_vec()).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(images_stored(&ops).await, 0);
}

/// The `src` of the first `<img>` whose `class` starts with `class`.
fn image_src(html: &str, class: &str) -> Option<String> {
    let marker = format!(r#"<img class="{class}"#);
    let start = html.find(&marker)?;
    let src = html[start..].find(r#"src=""#)? + start + r#"src=""#.len();
    html[src..].split('"').next().map(str::to_owned)
}

#[tokio::test]
async fn an_image_uploaded_on_the_operator_page_shows_on_the_shop_pages() {
    let ops = operated_shop().await;
    let (_, id) = product_with_operator(&ops, "POT-CEL-4").await;
    let web = &ops.shop.web_url;
    let edit_path = format!("/ops/products/{id}");
    let upload_path = format!("{edit_path}/image");

    let mut operator = Browser::operator(&ops).await;
    let page = operator.get(&edit_path).await;
    assert!(page.html.contains(r#"enctype="multipart/form-data""#), "{}", page.html);
    assert!(page.html.contains(r#"id="no-picture""#));

    let not_an_image = operator
        .upload(&upload_path, "image", "notes.txt", b"just some text", true)
        .await;
    assert_eq!(not_an_image.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = not_an_image.text().await.unwrap();
    assert!(html.contains(r#"id="image-error""#), "{html}");
    assert!(html.contains("JPEG, PNG or WebP"), "{html}");

    let mut too_large = PNG.to_vec();
    too_large.resize(3 * 1024 * 1024, 0);
    let refused = operator
        .upload(&upload_path, "image", "big.png", &too_large, true)
        .await;
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains(r#"id="image-error""#) && html.contains("at most 2 MiB"),
        "{html}"
    );

    let forged = operator.upload(&upload_path, "image", "pot.png", PNG, false).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN, "no CSRF token, no upload");

    let uploaded = operator.upload(&upload_path, "image", "pot.png", PNG, true).await;
    assert_eq!(uploaded.status(), StatusCode::SEE_OTHER);
    let page = operator.get(uploaded.headers()["location"].to_str().unwrap()).await;
    assert!(page.html.contains("Picture uploaded."));
    assert!(image_src(&page.html, "product-image").is_some());

    let visitor = Browser::open(web).await;
    let product_page = visitor.load(&format!("/products/{id}")).await;
    let src = image_src(&product_page.html, "product-image").expect("the product page shows the picture");
    assert!(
        src.starts_with(&format!("/products/{id}/images/")),
        "served by the shop itself: {src}"
    );
    assert_served_as(&fetch(&format!("{web}{src}")).await, PNG, "image/png");
    let list = visitor.load("/products?q=celadon").await;
    assert_eq!(image_src(&list.html, "thumb").as_deref(), Some(src.as_str()));
    let unknown = src.replace(&id, &uuid::Uuid::now_v7().to_string());
    assert_eq!(fetch(&format!("{web}{unknown}")).await.status, StatusCode::NOT_FOUND);

    let mut shopper = Browser::open(web).await;
    shopper.register(&email("page-shopper"), "Page Shopper").await;
    shopper.get("/products").await;
    let refused = shopper.upload(&upload_path, "image", "pot.png", JPEG, true).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    operator.get(&edit_path).await;
    let removed = operator.post(&format!("{edit_path}/image/remove"), &[]).await;
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    let product_page = visitor.load(&format!("/products/{id}")).await;
    assert_eq!(image_src(&product_page.html, "product-image"), None);
    assert_eq!(images_stored(&ops).await, 0);
}
