//! What browsers are told to refuse: every page of the web front carries a policy that lets
//! no inline or foreign script run and no site frame it, and none of its pages needs more;
//! the services' JSON answers say they are data.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::browser::Browser;
use crate::helpers::{CustomerApi, operated_shop};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
        .to_str()
        .unwrap()
}

/// The headers every page answer carries.
fn assert_page_policy(path: &str, headers: &HeaderMap) {
    let policy = header(headers, "content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "object-src 'none'",
        "base-uri 'none'",
    ] {
        assert!(policy.contains(directive), "{path}: {directive} in {policy}");
    }
    assert!(!policy.contains("unsafe"), "{path}: {policy}");
    assert_eq!(header(headers, "x-frame-options"), "DENY", "{path}");
    assert_eq!(header(headers, "referrer-policy"), "same-origin", "{path}");
    assert_eq!(header(headers, "x-content-type-options"), "nosniff", "{path}");
    // Secure cookies (the default) mean the shop is reached over HTTPS or on localhost:
    // browsers keep to HTTPS (they ignore HSTS over plain HTTP, localhost's included).
    let hsts = header(headers, "strict-transport-security");
    assert!(hsts.starts_with("max-age=31536000"), "{path}: {hsts}");
}

/// No script or style the policy would block: no inline script, no style attribute or
/// element, no handler attribute.
fn assert_nothing_inline(path: &str, html: &str) {
    for script in html.split("<script").skip(1) {
        let tag = &script[..script.find('>').unwrap()];
        assert!(tag.contains("src=\"/static/"), "{path}: inline script {tag}");
    }
    for forbidden in [
        "<style",
        " style=",
        " onclick=",
        " onload=",
        " onsubmit=",
        "javascript:",
    ] {
        assert!(!html.contains(forbidden), "{path}: {forbidden} in {html}");
    }
}

#[tokio::test]
async fn pages_forbid_framing_and_any_script_but_their_own() {
    let ops = operated_shop().await;
    let web = &ops.shop.web_url;
    let visitor = Browser::open(web).await;
    for path in ["/", "/products", "/login", "/register", "/cart", "/no-such-page"] {
        let response = visitor.visit(path).await;
        assert_page_policy(path, response.headers());
        let html = response.text().await.unwrap();
        assert_nothing_inline(path, &html);
    }
    // The operator's pages, whose confirmations a framing site would most like to click.
    let operator = Browser::operator(&ops).await;
    for path in [
        "/ops/health",
        "/ops/sagas",
        "/ops/orders",
        "/ops/products",
        "/ops/dead-letters",
    ] {
        let response = operator.visit(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_page_policy(path, response.headers());
        assert_nothing_inline(path, &response.text().await.unwrap());
    }

    // No request header changes what the shop sends: a client saying it came over plain HTTP
    // still gets secure cookies and HSTS.
    let plain = reqwest::Client::new()
        .get(format!("{web}/login"))
        .header("x-forwarded-proto", "http")
        .send()
        .await
        .unwrap();
    assert_page_policy("/login", plain.headers());
    let csrf = plain
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.contains("shop_csrf="))
        .expect("a CSRF cookie for a new visitor");
    assert!(
        csrf.starts_with("__Host-shop_csrf=") && csrf.contains("; Secure"),
        "{csrf}"
    );
}

#[tokio::test]
async fn the_services_answers_say_they_are_data() {
    let ops = operated_shop().await;
    let answers = [
        reqwest::get(format!("{}/api/products", ops.shop.product_order_url))
            .await
            .unwrap(),
        reqwest::get(format!("{}/api/me", ops.shop.customer_url)).await.unwrap(),
        reqwest::get(format!("{}/api/nowhere", ops.shop.customer_url))
            .await
            .unwrap(),
    ];
    for answer in &answers {
        let headers = answer.headers();
        let url = answer.url();
        assert_eq!(
            header(headers, "content-security-policy"),
            "default-src 'none'; frame-ancestors 'none'",
            "{url}"
        );
        assert_eq!(header(headers, "x-content-type-options"), "nosniff", "{url}");
        assert_eq!(header(headers, "x-frame-options"), "DENY", "{url}");
        assert_eq!(header(headers, "referrer-policy"), "no-referrer", "{url}");
    }
    let me = CustomerApi::new(&ops.shop.customer_url).me(&ops.operator_token).await;
    assert_eq!(me.status, StatusCode::OK);
}
