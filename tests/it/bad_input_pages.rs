//! The bad-input sweep over the web front: every form (the table `FORMS`, each sent with its
//! CSRF token as a browser would) and every page's query parameters get hostile values. The
//! answer is never a 5xx, never raw serde or Rust text, and a refusal is a page with a
//! message a person can read. Stored text (product names, shopper names, contact and
//! delivery details, reasons, dead-letter bodies) comes back escaped on every page showing it.

use proptest::test_runner::TestRunner;
use reqwest::StatusCode;
use serde_json::json;

use crate::bad_input::{ATTACKERS_QUANTITY, Fixture};
use crate::browser::{Browser, PASSWORD, hidden_value};
use crate::helpers::{CustomerApi, ProductOrderApi, email, eventually, operated_shop, publish_to_customer};
use crate::hostile::{self, MARKUP, case_count, draw, encoded, hostile_text};

/// Who sends a form.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    Visitor,
    Shopper,
    Operator,
}

/// Names and valid values, of a form's fields or a page's query.
type Fields = &'static [(&'static str, &'static str)];

/// One form: where it is posted (`{product}`, `{order}`, `{checkout}` filled from the
/// fixture), the page it is on (for the CSRF token), who sends it and valid fields.
struct Form {
    path: &'static str,
    page: &'static str,
    who: Who,
    fields: Fields,
}

const fn form(path: &'static str, page: &'static str, who: Who, fields: Fields) -> Form {
    Form {
        path,
        page,
        who,
        fields,
    }
}

const PRODUCT_FIELDS: Fields = &[
    ("sku", "SWEEP-WEB"),
    ("name", "Swept on the web"),
    ("description", "Made by the sweep"),
    ("price", "12.90"),
    ("currency", "EUR"),
    ("stock", "5"),
    ("image_url", ""),
    ("active", "true"),
];

/// Every form of the web front. A new form goes here, and the sweep covers it.
#[rustfmt::skip]
const FORMS: &[Form] = &[
    form("/register", "/register", Who::Visitor, &[("email", "new-web@example.com"), ("name", "New Shopper"), ("password", PASSWORD)]),
    form("/login", "/login", Who::Visitor, &[("email", "nobody@example.com"), ("password", "wrong password"), ("next", "/orders")]),
    form("/logout", "/", Who::Visitor, &[]),
    form("/logout-everywhere", "/", Who::Visitor, &[]),
    // A wrong current password: the change never happens, so the shopper's session lives on.
    form("/account/password", "/account/password", Who::Shopper, &[("current_password", "not the password"), ("new_password", "a brand new passphrase")]),
    // No login waits for its second step: the page says to log in again.
    form("/login/second-factor", "/login", Who::Visitor, &[("code", "123456"), ("next", "/ops")]),
    // A code that is never right (a factor's codes are digits): nothing is enrolled.
    form("/ops/second-factor", "/ops/second-factor", Who::Operator, &[("code", "wrong!")]),
    form("/cart/items", "/products/{product}", Who::Shopper, &[("product_id", "{product}"), ("quantity", "1")]),
    form("/cart/items/{product}", "/cart", Who::Shopper, &[("quantity", "2")]),
    form("/cart/items/{product}/remove", "/cart", Who::Shopper, &[]),
    form("/checkout", "/checkout", Who::Shopper, &[
        ("idempotency_key", "{key}"),
        ("contact_name", "Ada Lovelace"),
        ("contact_email", "ada@example.com"),
        ("contact_phone", "+44 20 7946 0958"),
        ("delivery_line1", "12 St James's Square"),
        ("delivery_line2", ""),
        ("delivery_city", "London"),
        ("delivery_postal_code", "SW1Y 4LB"),
        ("delivery_country", "GB"),
        ("reviewed_total", "{attackers_total}"),
        ("reviewed_currency", "EUR"),
    ]),
    form("/orders/{order}/cancel", "/orders/{order}", Who::Shopper, &[("return_to", "/orders/{order}")]),
    form("/ops/products", "/ops/products/new", Who::Operator, PRODUCT_FIELDS),
    form("/ops/products/{product}", "/ops/products/{product}", Who::Operator, PRODUCT_FIELDS),
    form("/ops/products/{product}/stock", "/ops/products/{product}", Who::Operator, &[("stock_delta", "1"), ("stock_reason", "recount")]),
    form("/ops/orders/{order}/status", "/ops/orders/{order}", Who::Operator, &[("status", "confirmed"), ("reason", "paid")]),
    form("/ops/sagas/{checkout}/retry", "/ops/sagas/{checkout}", Who::Operator, &[("reason", "the cause is fixed")]),
    form("/ops/sagas/{checkout}/cancel", "/ops/sagas/{checkout}", Who::Operator, &[("reason", "the shopper asked")]),
    form("/ops/sagas/{checkout}/mark-compensated", "/ops/sagas/{checkout}", Who::Operator, &[("reason", "done by hand")]),
    form("/ops/sagas/{checkout}/{hostile}", "/ops/sagas/{checkout}", Who::Operator, &[("reason", "why not")]),
    form("/ops/dead-letters/replay", "/ops/dead-letters", Who::Operator, &[("ids", "{dead_letter}"), ("confirm", "yes"), ("reason", "fixed")]),
    form("/ops/dead-letters/discard", "/ops/dead-letters", Who::Operator, &[("ids", "{dead_letter}"), ("confirm", "yes"), ("reason", "a test")]),
];

/// Pages and their query parameters (with valid values).
#[rustfmt::skip]
const PAGES: &[(&str, Who, Fields)] = &[
    ("/", Who::Visitor, &[]),
    ("/login", Who::Visitor, &[("next", "/orders")]),
    ("/register", Who::Visitor, &[]),
    ("/account/password", Who::Shopper, &[("changed", "true")]),
    ("/login/second-factor", Who::Visitor, &[("next", "/ops")]),
    ("/ops/second-factor", Who::Operator, &[]),
    ("/products", Who::Visitor, &[("q", "tea"), ("sort", "name"), ("cursor", "")]),
    ("/products/{product}", Who::Visitor, &[]),
    ("/cart", Who::Shopper, &[]),
    ("/checkout", Who::Shopper, &[]),
    ("/checkouts/{checkout}", Who::Shopper, &[("done", "cancelled")]),
    ("/orders", Who::Shopper, &[("cursor", "")]),
    ("/orders/{order}", Who::Shopper, &[("done", "cancelled")]),
    ("/ops/products", Who::Operator, &[("q", "tea"), ("sort", "name"), ("cursor", "")]),
    ("/ops/products/new", Who::Operator, &[]),
    ("/ops/products/{product}", Who::Operator, &[("done", "saved")]),
    ("/ops/orders", Who::Operator, &[("status", "placed"), ("cursor", "")]),
    ("/ops/orders/{order}", Who::Operator, &[("done", "confirmed")]),
    ("/ops/sagas", Who::Operator, &[("state", "failed"), ("idle_minutes", "5"), ("cursor", "")]),
    ("/ops/sagas/{checkout}", Who::Operator, &[("done", "retry")]),
    // `applied` stands for the outcome's counters (already, failed, skipped, discarded, remaining).
    ("/ops/dead-letters", Who::Operator, &[("state", "dead"), ("cursor", ""), ("done", "replay"), ("applied", "1")]),
    ("/ops/dead-letters/{dead_letter}", Who::Operator, &[]),
    ("/ops/health", Who::Operator, &[]),
];

/// What a page may never show: raw markup from input, or the insides of the program.
const NEVER_SHOWN: [&str; 9] = [
    "Failed to deserialize",
    "invalid type:",
    "missing field",
    "duplicate field",
    "unknown variant",
    "panicked at",
    "RUST_BACKTRACE",
    "sqlx::",
    "Internal Server Error",
];

/// An answer of the web front.
struct Answer {
    status: StatusCode,
    content_type: String,
    html: String,
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Answer {
        status,
        content_type,
        html: response.text().await.unwrap_or_default(),
    }
}

/// The problem with a page answered to bad input, if any.
fn page_problem(what: &str, answer: &Answer) -> Option<String> {
    let main = answer
        .html
        .find("<main")
        .map_or(answer.html.as_str(), |at| &answer.html[at..]);
    let shown = || main.chars().take(300).collect::<String>().replace('\n', " ");
    if answer.status.is_server_error() {
        return Some(format!("{what}: {} {}", answer.status, shown()));
    }
    if answer.status.is_redirection() {
        return None;
    }
    if !answer.content_type.starts_with("text/html") {
        return Some(format!(
            "{what}: {} as {:?}, not a page: {}",
            answer.status,
            answer.content_type,
            shown()
        ));
    }
    if let Some(text) = NEVER_SHOWN.iter().find(|t| answer.html.contains(*t)) {
        return Some(format!(
            "{what}: the page shows {text:?}: {}",
            excerpt(&answer.html, text)
        ));
    }
    if let Some(markup) = MARKUP.iter().find(|m| answer.html.contains(*m)) {
        return Some(format!(
            "{what}: raw markup on the page: {}",
            excerpt(&answer.html, markup)
        ));
    }
    let explained = [
        "class=\"field-error\"",
        "role=\"alert\"",
        "class=\"notice\"",
        "class=\"empty-state\"",
    ]
    .iter()
    .any(|marker| answer.html.contains(marker));
    if answer.status.is_client_error() && !explained {
        return Some(format!(
            "{what}: {} without a message on the page: {}",
            answer.status,
            shown()
        ));
    }
    None
}

fn excerpt(html: &str, needle: &str) -> String {
    let at = html.find(needle).unwrap_or(0);
    let start = html.floor_char_boundary(at.saturating_sub(150));
    let end = html.ceil_char_boundary((at + needle.len() + 150).min(html.len()));
    html[start..end].to_owned()
}

/// The fixture with a browser for each kind of user.
struct Browsers {
    visitor: Browser,
    shopper: Browser,
    operator: Browser,
}

impl Browsers {
    async fn open(fixture: &Fixture) -> Self {
        let web = &fixture.ops.shop.web_url;
        let operator_email = CustomerApi::new(&fixture.ops.shop.customer_url)
            .me(&fixture.ops.operator_token)
            .await
            .body["email"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut shopper = Browser::open(web).await;
        shopper.log_in(&fixture.attacker.email, PASSWORD).await;
        let mut operator = Browser::open(web).await;
        operator.log_in(&operator_email, "operator password").await;
        Self {
            visitor: Browser::open(web).await,
            shopper,
            operator,
        }
    }

    fn of(&mut self, who: Who) -> &mut Browser {
        match who {
            Who::Visitor => &mut self.visitor,
            Who::Shopper => &mut self.shopper,
            Who::Operator => &mut self.operator,
        }
    }
}

fn fill(fixture: &Fixture, text: &str) -> String {
    text.replace("{product}", &fixture.product)
        .replace("{order}", &fixture.order)
        .replace("{checkout}", &fixture.checkout)
        .replace("{dead_letter}", &fixture.dead_letter)
        .replace("{key}", &uuid::Uuid::new_v4().to_string())
        .replace("{attackers_total}", &fixture.attackers_total().to_string())
}

/// Values a form field gets: hostile text of every class, numbers past every edge, and
/// generated text.
fn field_values(runner: &mut TestRunner) -> Vec<String> {
    let mut values: Vec<String> = hostile::strings()
        .into_iter()
        .filter(|s| s.len() <= 32 * 1024)
        .collect();
    values.extend(
        [
            "9223372036854775808",
            "-9223372036854775809",
            "2147483648",
            "-1",
            "0",
            "1.5",
            "1e309",
            "NaN",
            "0x10",
            "１２",
            "99999999999999999999.99",
            "-0.001",
        ]
        .map(str::to_owned),
    );
    values.extend(
        draw(runner, &hostile_text(), case_count(6))
            .into_iter()
            .filter(|s| s.len() <= 32 * 1024),
    );
    values
}

#[tokio::test]
async fn every_form_and_page_answers_hostile_input_with_a_friendly_page() {
    let fixture = Fixture::start().await;
    let victims_view = fixture.victims_view().await;
    let mut browsers = Browsers::open(&fixture).await;
    let attackers_cart = ProductOrderApi::as_user(&fixture.ops.shop.product_order_url, &fixture.attacker.token);
    let mut runner = TestRunner::deterministic();
    let mut problems = Vec::new();
    let mut checked = 0usize;

    for form in FORMS {
        let browser = browsers.of(form.who);
        browser.get(&fill(&fixture, form.page)).await;
        let path = fill(&fixture, form.path).replace("{hostile}", "%3Cscript%3E");
        let valid: Vec<(String, String)> = form
            .fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), fill(&fixture, v)))
            .collect();
        let mut bodies: Vec<(String, Vec<(String, String)>)> = Vec::new();
        for (index, (name, _)) in valid.iter().enumerate() {
            for value in field_values(&mut runner) {
                let mut fields = valid.clone();
                fields[index].1 = value.clone();
                bodies.push((
                    format!("{name} = {:?}", value.chars().take(60).collect::<String>()),
                    fields,
                ));
            }
            let mut twice = valid.clone();
            twice.push(valid[index].clone());
            bodies.push((format!("{name} twice"), twice));
            let without: Vec<(String, String)> = valid.iter().filter(|(k, _)| k != name).cloned().collect();
            bodies.push((format!("{name} missing"), without));
        }
        let mut extra = valid.clone();
        extra.push(("unexpected".into(), "<script>alert(1)</script>".into()));
        bodies.push(("an unknown field".into(), extra));
        for (case, fields) in bodies {
            // A new idempotency key each time, and a full cart, so each checkout is checked anew.
            let key = uuid::Uuid::new_v4().to_string();
            let fields: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str(),
                        if k == "idempotency_key" && v.len() == 36 {
                            key.as_str()
                        } else {
                            v.as_str()
                        },
                    )
                })
                .collect();
            let reply = answer(browser.post(&path, &fields).await).await;
            checked += 1;
            problems.extend(page_problem(&format!("POST {} with {case}", form.path), &reply));
            if form.path == "/checkout" && reply.status.is_redirection() {
                attackers_cart.set_quantity(&fixture.product, ATTACKERS_QUANTITY).await;
            }
        }
        for raw in ["%zz=%zz", "a=%ff%fe", "&&==&", "csrf_token"] {
            let reply = answer(browser.post_raw(&path, raw).await).await;
            checked += 1;
            problems.extend(page_problem(
                &format!("POST {} with the body {raw:?}", form.path),
                &reply,
            ));
        }
    }

    for (page, who, params) in PAGES {
        let browser = browsers.of(*who);
        let path = fill(&fixture, page);
        let valid: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", encoded(v))).collect();
        let mut queries = vec!["unknown=1".to_owned(), "%zz=%zz".to_owned(), "a=%ff".to_owned()];
        for (name, value) in *params {
            let mut values: Vec<String> = field_values(&mut runner)
                .iter()
                .map(|v| encoded(v))
                .filter(|v| v.len() <= 16 * 1024)
                .collect();
            values.extend(["%ff", "%00", "4294967296"].map(str::to_owned));
            values.push(format!("{}&{name}={}", encoded(value), encoded(value)));
            for value in values {
                let mut parts: Vec<String> = valid
                    .iter()
                    .filter(|p| !p.starts_with(&format!("{name}=")))
                    .cloned()
                    .collect();
                parts.push(format!("{name}={value}"));
                queries.push(parts.join("&"));
            }
        }
        // Every other query as htmx asks for it (a partial instead of the page).
        for (index, query) in queries.iter().enumerate() {
            let address = format!("{path}?{query}");
            let htmx = index % 2 == 1;
            let reply = if htmx {
                browser.htmx_get(&address).await
            } else {
                browser.load(&address).await
            };
            let reply = Answer {
                status: reply.status,
                content_type: "text/html".into(),
                html: reply.html,
            };
            checked += 1;
            let what = format!(
                "GET {page}?{}{}",
                query.chars().take(100).collect::<String>(),
                if htmx { " (htmx)" } else { "" }
            );
            problems.extend(page_problem(&what, &reply));
        }
    }
    for id in [
        "%3Cscript%3E",
        "..%2F..",
        "%00",
        "%ff",
        "9223372036854775808",
        &"a".repeat(5000),
    ] {
        for page in [
            "/products/",
            "/orders/",
            "/checkouts/",
            "/ops/products/",
            "/ops/orders/",
            "/ops/sagas/",
            "/ops/dead-letters/",
        ] {
            let browser = browsers.of(if page.starts_with("/ops") {
                Who::Operator
            } else {
                Who::Shopper
            });
            let reply = browser.load(&format!("{page}{id}")).await;
            let reply = Answer {
                status: reply.status,
                content_type: "text/html".into(),
                html: reply.html,
            };
            checked += 1;
            problems.extend(page_problem(
                &format!("GET {page}{}", id.chars().take(40).collect::<String>()),
                &reply,
            ));
        }
    }

    for base in [
        &fixture.ops.shop.web_internal_url,
        &fixture.ops.shop.customer_internal_url,
        &fixture.ops.shop.product_order_internal_url,
    ] {
        let ready = reqwest::get(format!("{base}/readyz")).await.expect("an answer");
        assert_eq!(ready.status(), StatusCode::OK, "{base} is ready after the sweep");
    }
    assert!(checked > 2000, "the sweep checked {checked} answers");
    let count = problems.len();
    assert!(
        problems.is_empty(),
        "{count} bad pages, the first:\n{}",
        problems.into_iter().take(2000).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(
        fixture.victims_view().await,
        victims_view,
        "the victim's data is as it was"
    );
}

/// The two ways a template may escape `<`.
fn escaped(markup: &str) -> [String; 2] {
    let named = markup
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;");
    let numeric = markup
        .replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;");
    [named, numeric]
}

fn shows_escaped(html: &str, markup: &str) -> bool {
    escaped(markup).iter().any(|e| html.contains(e.as_str()))
}

#[tokio::test]
async fn stored_markup_comes_back_escaped_on_every_page() {
    let ops = operated_shop().await;
    let shop = &ops.shop;
    let [script, img, svg, attribute] = MARKUP;
    let operator = ProductOrderApi::as_user(&shop.product_order_url, &ops.operator_token);
    let created = operator
        .send(
            reqwest::Method::POST,
            "/api/products",
            json!({"sku": "XSS-1", "name": script, "description": img, "price": 500, "currency": "EUR", "stock": 10,
                   "image_url": "https://img.example/x.png?\"><script>alert(1)</script>"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let product = created.body["id"].as_str().unwrap().to_owned();
    // A second product that runs out before its checkout, so the failure names it.
    let scarce = operator.create_product("XSS-2", svg, 700, 1).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let customers = CustomerApi::new(&shop.customer_url);
    let shopper_email = email("xss");
    assert_eq!(
        customers.register(&shopper_email, PASSWORD, attribute).await.status,
        StatusCode::CREATED
    );
    let token = customers.login(&shopper_email, PASSWORD).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = ProductOrderApi::as_user(&shop.product_order_url, &token);
    let details = json!({
        "contact": {"name": script, "email": "ada@example.com", "phone": "+44 20 7946 0958"},
        "delivery": {"line1": img, "line2": svg, "city": attribute, "postal_code": "SW1Y 4LB", "country": "GB"}
    });
    assert_eq!(api.set_quantity(&product, 2).await.status, StatusCode::OK);
    let placed = api.checkout("xss-1", details.clone()).await;
    let placed = api
        .finished_checkout(placed.body["checkout_id"].as_str().unwrap())
        .await;
    assert_eq!(placed["state"], "completed", "{placed:?}");
    let order = placed["order_id"].as_str().unwrap().to_owned();
    let moved = operator
        .send(
            reqwest::Method::PATCH,
            &format!("/api/ops/orders/{order}/status"),
            json!({"status": "confirmed", "reason": script}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    assert_eq!(api.set_quantity(&scarce, 1).await.status, StatusCode::OK);
    operator
        .send(
            reqwest::Method::PATCH,
            &format!("/api/products/{scarce}"),
            json!({"stock": 0, "stock_reason": img}),
        )
        .await;
    let failed = api.checkout("xss-2", details).await;
    let failed = api
        .finished_checkout(failed.body["checkout_id"].as_str().unwrap())
        .await;
    assert_eq!(failed["state"], "failed", "{failed:?}");
    let failed_checkout = failed["checkout_id"].as_str().unwrap().to_owned();
    assert_eq!(api.set_quantity(&product, 1).await.status, StatusCode::OK);
    // An event customer cannot read, kept as a dead letter with its body.
    publish_to_customer(
        shop,
        "order.placed",
        &uuid::Uuid::new_v4().to_string(),
        script.as_bytes(),
    )
    .await;
    let dead_letter = eventually("the dead letter", std::time::Duration::from_secs(20), async || {
        let list = customers.get_as("/api/ops/dead-letters", &ops.operator_token).await;
        list.body["items"][0]["id"].as_str().map(str::to_owned)
    })
    .await;
    eventually(
        "customer to show the order",
        std::time::Duration::from_secs(20),
        async || {
            (customers.get_as(&format!("/api/orders/{order}"), &token).await.status == StatusCode::OK).then_some(())
        },
    )
    .await;

    let mut shopper = Browser::open(&shop.web_url).await;
    shopper.log_in(&shopper_email, PASSWORD).await;
    let operator_email = customers.me(&ops.operator_token).await.body["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut operator_browser = Browser::open(&shop.web_url).await;
    operator_browser.log_in(&operator_email, "operator password").await;
    let search = format!("/products?q={}", encoded(script));
    let shopper_pages = [
        "/".to_owned(),
        "/products".to_owned(),
        search,
        format!("/products/{product}"),
        "/cart".to_owned(),
        "/checkout".to_owned(),
        format!("/checkouts/{failed_checkout}"),
        "/orders".to_owned(),
        format!("/orders/{order}"),
        format!("/login?next={}", encoded(script)),
    ];
    let operator_pages = [
        "/ops/products".to_owned(),
        format!("/ops/products/{product}"),
        format!("/ops/products/{scarce}"),
        "/ops/orders".to_owned(),
        format!("/ops/orders/{order}"),
        "/ops/sagas".to_owned(),
        format!("/ops/sagas/{failed_checkout}"),
        "/ops/health".to_owned(),
        "/ops/dead-letters".to_owned(),
        format!("/ops/dead-letters/{dead_letter}"),
    ];
    let mut problems = Vec::new();
    for (browser, pages) in [(&mut shopper, &shopper_pages), (&mut operator_browser, &operator_pages)] {
        for page in pages {
            let loaded = browser.get(page).await;
            assert_eq!(loaded.status, StatusCode::OK, "{page}");
            if let Some(markup) = MARKUP.iter().find(|m| loaded.html.contains(*m)) {
                problems.push(format!("{page}: raw markup: {}", excerpt(&loaded.html, markup)));
            }
            // The login page keeps `next` in a hidden field only when it is a local path; the
            // dead-letter list shows each letter's error, not its body.
            let shows_stored_text = !page.starts_with("/login") && page != "/ops/dead-letters";
            if shows_stored_text && !MARKUP.iter().any(|m| shows_escaped(&loaded.html, m)) {
                problems.push(format!("{page}: shows none of the stored text"));
            }
            let partial = browser.htmx_get(page).await;
            if let Some(markup) = MARKUP.iter().find(|m| partial.html.contains(*m)) {
                problems.push(format!("{page} (htmx): raw markup: {}", excerpt(&partial.html, markup)));
            }
        }
    }
    // A form sent back with an error shows what was typed, escaped.
    let form = shopper.get("/checkout").await;
    let hidden = |name| hidden_value(&form.html, name).unwrap_or_else(|| panic!("the checkout form's {name}"));
    let (key, total, currency) = (
        hidden("idempotency_key"),
        hidden("reviewed_total"),
        hidden("reviewed_currency"),
    );
    let fields = [
        ("idempotency_key", key.as_str()),
        ("reviewed_total", total.as_str()),
        ("reviewed_currency", currency.as_str()),
        ("contact_name", script),
        ("contact_email", img),
        ("delivery_city", attribute),
    ];
    let refused = shopper.post("/checkout", &fields).await;
    let refused = answer(refused).await;
    assert!(refused.status.is_client_error(), "{}", refused.status);
    problems.extend(page_problem("the checkout form sent back", &refused));
    assert!(
        shows_escaped(&refused.html, script),
        "the checkout form keeps the name typed"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What the page sweep found, kept as plain cases: each was a 500, or a bare text answer
/// showing serde's words instead of a page.
#[tokio::test]
async fn the_page_cases_the_sweep_found_get_a_friendly_page() {
    let ops = operated_shop().await;
    let shop = &ops.shop;
    let product = ProductOrderApi::as_user(&shop.product_order_url, &ops.operator_token)
        .create_product("TEA-1", "Sencha", 1290, 10)
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut browser = Browser::open(&shop.web_url).await;
    let mut problems = Vec::new();
    // A NUL in the login email or password: customer refuses it (422), which web took for a failure (500).
    browser.get("/login").await;
    for fields in [
        [("email", "a\0b@example.com"), ("password", "a password")],
        [("email", "ada@example.com"), ("password", "pass\0word")],
    ] {
        let reply = answer(browser.post("/login", &fields).await).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.html);
        assert!(reply.html.contains("Email or password is incorrect."), "{}", reply.html);
    }
    // A query parameter given twice or of the wrong type, an id that is not UTF-8: axum's
    // plain-text rejection ("Failed to deserialize query string: duplicate field `q`").
    for address in ["/products?q=tea&q=tea", "/login?next=/&next=/", "/products/%ff"] {
        let loaded = browser.load(address).await;
        assert_eq!(loaded.status, StatusCode::BAD_REQUEST, "{address}");
        let reply = Answer {
            status: loaded.status,
            content_type: "text/html".into(),
            html: loaded.html,
        };
        problems.extend(page_problem(address, &reply));
        assert!(
            reply.html.contains("something we cannot read"),
            "{address}: {}",
            reply.html
        );
    }
    // A form field sent twice is refused with a page saying where forms come from.
    browser.get(&format!("/products/{product}")).await;
    let twice = [("product_id", product.as_str()), ("quantity", "1"), ("quantity", "2")];
    let reply = answer(browser.post("/cart/items", &twice).await).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    problems.extend(page_problem("a field sent twice", &reply));
    assert!(
        reply.html.contains("Send the form from the page it belongs to."),
        "{}",
        reply.html
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
