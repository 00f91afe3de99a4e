//! The API descriptions: what the code generates is what `openapi/` holds (a drift fails
//! here; `SHOP_WRITE_OPENAPI=1` writes the files anew), and each service serves its own at
//! `/openapi.json` on its internal listener only.

use reqwest::StatusCode;
use testkit::TestShop;

/// Each described service, with the description its code generates.
fn descriptions() -> Vec<(&'static str, String)> {
    vec![
        ("customer", platform::openapi::to_file(&customer::app::openapi())),
        (
            "product-order",
            platform::openapi::to_file(&product_order::app::openapi()),
        ),
    ]
}

#[test]
fn the_committed_descriptions_are_what_the_code_generates() {
    let write = std::env::var_os("SHOP_WRITE_OPENAPI").is_some();
    for (service, generated) in descriptions() {
        let path = format!("{}/openapi/{service}.json", env!("CARGO_MANIFEST_DIR"));
        if write {
            std::fs::write(&path, &generated).unwrap_or_else(|e| panic!("writing {path}: {e}"));
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            let line = committed
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
            panic!(
                "{path} differs from what the code generates from line {}:\n  committed: {:?}\n  generated: {:?}\n\
                 Run `SHOP_WRITE_OPENAPI=1 cargo nextest run -E 'test(the_committed_descriptions)'` and commit the file.",
                line + 1,
                committed.lines().nth(line).unwrap_or("(end)"),
                generated.lines().nth(line).unwrap_or("(end)"),
            );
        }
    }
}

#[tokio::test]
async fn each_service_serves_its_description_on_its_internal_listener_only() {
    let shop = TestShop::start().await;
    let http = reqwest::Client::new();
    let services = [
        (
            &shop.customer_internal_url,
            &shop.customer_url,
            customer::app::openapi(),
        ),
        (
            &shop.product_order_internal_url,
            &shop.product_order_url,
            product_order::app::openapi(),
        ),
    ];
    for (internal_url, public_url, generated) in services {
        let internal = http.get(format!("{internal_url}/openapi.json")).send().await.unwrap();
        assert_eq!(internal.status(), StatusCode::OK, "{internal_url}");
        let served: serde_json::Value = internal.json().await.unwrap();
        assert_eq!(served, serde_json::to_value(generated).unwrap(), "{internal_url}");
        assert!(
            served["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            served["openapi"]
        );
        let public = http.get(format!("{public_url}/openapi.json")).send().await.unwrap();
        assert_eq!(public.status(), StatusCode::NOT_FOUND, "{public_url}");
    }
    shop.stop().await;
}
