//! The bad-input sweep over the JSON APIs: every route of customer and product-order (the
//! table `ROUTES`) gets malformed JSON, wrong types, missing and extra fields, huge bodies,
//! unicode edge cases, overflowing numbers and injection strings, in its body, its query,
//! its path and its headers. Each answer must be a 4xx with a clear JSON error (never a 5xx,
//! never a hang), the services must stay ready, and a second shopper's account, cart,
//! checkouts and orders must come through unchanged.

use std::time::Duration;

use proptest::test_runner::TestRunner;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    CustomerApi, OperatedShop, ProductOrderApi, email, eventually, guest_token, operated_shop, valid_details,
};
use crate::hostile::{self, RAW_TOKENS, case_count, draw, encoded, hostile_text, hostile_token, json_value, quoted};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Service {
    Customer,
    ProductOrder,
}

/// Who may call a route.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Auth {
    Public,
    /// A signed-in shopper (bearer token).
    Shopper,
    /// A shopper's bearer token or a guest's `X-Cart-Token`.
    CartHolder,
    /// A shopper's bearer token of a session made for this one call, since the call ends
    /// every session of its account (log out everywhere): the attacker's lives on.
    FreshSession,
    Operator,
}

/// One route: the path's `{product}`, `{order}`, `{checkout}` and `{dead_letter}` are filled
/// from the fixture (the sweeping shopper's own); `body` is a valid body, `query` valid
/// parameters.
struct Route {
    service: Service,
    method: Method,
    path: &'static str,
    auth: Auth,
    query: &'static [(&'static str, &'static str)],
    body: Option<fn(&Fixture) -> Value>,
}

const fn route(
    service: Service,
    method: Method,
    path: &'static str,
    auth: Auth,
    query: &'static [(&'static str, &'static str)],
    body: Option<fn(&Fixture) -> Value>,
) -> Route {
    Route {
        service,
        method,
        path,
        auth,
        query,
        body,
    }
}

use Auth::{CartHolder, FreshSession, Operator, Public, Shopper};
use Service::{Customer, ProductOrder};

/// Every route of the JSON APIs. A new route goes here, and the sweep covers it.
#[rustfmt::skip]
const ROUTES: &[Route] = &[
    // customer
    route(Customer, Method::POST, "/api/auth/register", Public, &[], Some(|_| {
        json!({"email": "new-shopper@example.com", "password": "correct horse battery", "name": "New Shopper"})
    })),
    route(Customer, Method::POST, "/api/auth/login", Public, &[], Some(|f| {
        json!({"email": f.attacker.email, "password": "wrong password"})
    })),
    route(Customer, Method::POST, "/api/auth/refresh", Public, &[], Some(|_| json!({"refresh_token": "x".repeat(43)}))),
    route(Customer, Method::POST, "/api/auth/logout", Public, &[], Some(|_| json!({"refresh_token": "x".repeat(43)}))),
    route(Customer, Method::POST, "/api/auth/logout-everywhere", FreshSession, &[], None),
    route(Customer, Method::GET, "/.well-known/jwks.json", Public, &[], None),
    route(Customer, Method::GET, "/api/me", Shopper, &[], None),
    // A wrong current password: the change never happens, so the attacker's session lives on.
    route(Customer, Method::POST, "/api/me/password", Shopper, &[], Some(|_| {
        json!({"current_password": "not the password", "new_password": "a brand new passphrase"})
    })),
    // No challenge is live: each is refused whatever the code.
    route(Customer, Method::POST, "/api/auth/second-factor", Public, &[], Some(|_| json!({"challenge": "x".repeat(43), "code": "123456"}))),
    route(Customer, Method::POST, "/api/auth/second-factor/enrolment", Public, &[], Some(|_| json!({"challenge": "x".repeat(43)}))),
    route(Customer, Method::POST, "/api/auth/second-factor/enrolment/confirm", Public, &[], Some(|_| {
        json!({"challenge": "x".repeat(43), "code": "123456"})
    })),
    route(Customer, Method::GET, "/api/me/second-factor", Shopper, &[], None),
    route(Customer, Method::POST, "/api/me/second-factor", Shopper, &[], None),
    // A code that is never right (a factor's codes are digits): nothing is enrolled.
    route(Customer, Method::POST, "/api/me/second-factor/confirm", Shopper, &[], Some(|_| json!({"code": "wrong!"}))),
    route(Customer, Method::GET, "/api/orders", Shopper, &[("cursor", ""), ("limit", "20")], None),
    route(Customer, Method::GET, "/api/orders/{order}", Shopper, &[], None),
    route(Customer, Method::GET, "/api/ops/dead-letters", Operator, &[("state", "dead"), ("cursor", ""), ("limit", "50")], None),
    route(Customer, Method::POST, "/api/ops/dead-letters/replay", Operator, &[], Some(|f| {
        json!({"ids": [f.dead_letter], "reason": "fixed the consumer"})
    })),
    route(Customer, Method::POST, "/api/ops/dead-letters/discard", Operator, &[], Some(|f| {
        json!({"ids": [f.dead_letter], "reason": "a test event"})
    })),
    route(Customer, Method::GET, "/api/ops/dead-letters/{dead_letter}", Operator, &[], None),
    route(Customer, Method::POST, "/api/ops/dead-letters/{dead_letter}/replay", Operator, &[], None),
    route(Customer, Method::POST, "/api/ops/dead-letters/{dead_letter}/discard", Operator, &[], Some(|_| json!({"reason": "a test event"}))),
    route(Customer, Method::GET, "/api/ops/health", Operator, &[("window_minutes", "15")], None),
    route(Customer, Method::GET, "/healthz", Public, &[], None),
    // product-order
    route(ProductOrder, Method::GET, "/api/products", Public, &[("q", "tea"), ("sort", "name"), ("limit", "20"), ("cursor", ""), ("include_inactive", "false")], None),
    route(ProductOrder, Method::POST, "/api/products", Operator, &[], Some(|_| {
        json!({"sku": "SWEEP-NEW", "name": "Swept", "description": "Made by the sweep", "price": 100, "currency": "EUR", "stock": 1, "image_url": "https://img.example/t.png", "active": true})
    })),
    route(ProductOrder, Method::GET, "/api/products/{product}", Public, &[], None),
    route(ProductOrder, Method::PATCH, "/api/products/{product}", Operator, &[], Some(|_| {
        json!({"name": "Swept Sencha", "description": "Green", "price": 1290, "currency": "EUR", "image_url": "", "active": true, "stock_delta": 1, "stock_reason": "recount"})
    })),
    route(ProductOrder, Method::GET, "/api/products/{product}/stock-changes", Operator, &[], None),
    route(ProductOrder, Method::GET, "/api/ops/low-stock", Operator, &[("threshold", "5"), ("limit", "20")], None),
    route(ProductOrder, Method::GET, "/api/cart", CartHolder, &[], None),
    route(ProductOrder, Method::POST, "/api/cart/items", CartHolder, &[], Some(|f| json!({"product_id": f.product, "quantity": 1}))),
    route(ProductOrder, Method::PUT, "/api/cart/items/{product}", CartHolder, &[], Some(|_| json!({"quantity": 2}))),
    route(ProductOrder, Method::DELETE, "/api/cart/items/{product}", CartHolder, &[], None),
    route(ProductOrder, Method::POST, "/api/cart/merge", Shopper, &[], Some(|_| json!({"cart_token": guest_token()}))),
    route(ProductOrder, Method::POST, "/api/checkout", Shopper, &[], Some(Fixture::checkout_body)),
    route(ProductOrder, Method::GET, "/api/checkouts", Shopper, &[], None),
    route(ProductOrder, Method::GET, "/api/checkouts/{checkout}", Shopper, &[], None),
    route(ProductOrder, Method::GET, "/api/shipping-countries", Public, &[], None),
    route(ProductOrder, Method::POST, "/api/orders/{order}/cancel", Shopper, &[], None),
    route(ProductOrder, Method::GET, "/api/ops/orders", Operator, &[("status", "placed"), ("cursor", ""), ("limit", "50")], None),
    route(ProductOrder, Method::GET, "/api/ops/orders/{order}", Operator, &[], None),
    route(ProductOrder, Method::PATCH, "/api/ops/orders/{order}/status", Operator, &[], Some(|_| json!({"status": "confirmed", "reason": "paid"}))),
    route(ProductOrder, Method::GET, "/api/ops/sagas", Operator, &[("state", "completed"), ("idle_minutes", "5"), ("owner", ""), ("cursor", ""), ("limit", "50")], None),
    route(ProductOrder, Method::GET, "/api/ops/sagas/{checkout}", Operator, &[], None),
    route(ProductOrder, Method::POST, "/api/ops/sagas/{checkout}/retry", Operator, &[], Some(|_| json!({"reason": "the cause is fixed"}))),
    route(ProductOrder, Method::POST, "/api/ops/sagas/{checkout}/cancel", Operator, &[], Some(|_| json!({"reason": "the shopper asked"}))),
    route(ProductOrder, Method::POST, "/api/ops/sagas/{checkout}/mark-compensated", Operator, &[], Some(|_| json!({"reason": "stock put back by hand"}))),
    route(ProductOrder, Method::GET, "/api/ops/health", Operator, &[("window_minutes", "15"), ("stuck_minutes", "5")], None),
    route(ProductOrder, Method::GET, "/healthz", Public, &[], None),
];

pub struct Account {
    pub email: String,
    pub token: String,
}

/// The price of the product in the attacker's cart, and how many the cart holds while the
/// sweep runs.
const PRICE: i64 = 1290;
pub const ATTACKERS_QUANTITY: i64 = 2;

/// A shop with two shoppers who each have a placed order and a full cart: the attacker sends
/// the hostile requests (on its own order, checkout and cart), the victim must be left as it was.
pub struct Fixture {
    pub ops: OperatedShop,
    pub attacker: Account,
    pub victim: Account,
    /// Whose sessions the `FreshSession` routes end.
    pub leaver: Account,
    /// The product the sweep's paths name (the attacker's).
    pub product: String,
    pub order: String,
    pub checkout: String,
    pub victim_order: String,
    pub victim_checkout: String,
    /// An id no dead letter has (the shop has none).
    pub dead_letter: String,
}

impl Fixture {
    pub async fn start() -> Self {
        let ops = operated_shop().await;
        let shop = &ops.shop;
        let operator = ProductOrderApi::as_user(&shop.product_order_url, &ops.operator_token);
        let product = operator.create_product("SWEEP-1", "Sencha", PRICE, 1000).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        // The victim's product is named in no path of the sweep.
        let victims_product = operator.create_product("SWEEP-2", "Hojicha", 990, 1000).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let customers = CustomerApi::new(&shop.customer_url);
        let (attacker, victim, leaver) = tokio::join!(
            shopper(&customers, "attacker"),
            shopper(&customers, "victim"),
            shopper(&customers, "leaver")
        );
        let (order, checkout) = placed_order(&ops, &attacker, &product).await;
        let (victim_order, victim_checkout) = placed_order(&ops, &victim, &victims_product).await;
        ProductOrderApi::as_user(&shop.product_order_url, &attacker.token)
            .set_quantity(&product, ATTACKERS_QUANTITY)
            .await;
        let victims_cart = ProductOrderApi::as_user(&shop.product_order_url, &victim.token);
        assert_eq!(
            victims_cart.set_quantity(&victims_product, 3).await.status,
            StatusCode::OK
        );
        Self {
            attacker,
            victim,
            leaver,
            product,
            order,
            checkout,
            victim_order,
            victim_checkout,
            dead_letter: uuid::Uuid::new_v4().to_string(),
            ops,
        }
    }

    /// The access token of a new session of the leaver, logged in from an address of its own
    /// (the sweep's failed logins hold back its own address).
    async fn fresh_session_of_leaver(&self, http: &reqwest::Client) -> String {
        let response = http
            .post(format!("{}/api/auth/login", self.ops.shop.customer_url))
            .header("x-forwarded-for", "203.0.113.7")
            .json(&json!({"email": self.leaver.email, "password": "correct horse battery"}))
            .send()
            .await
            .expect("customer answers");
        assert_eq!(response.status(), StatusCode::OK, "the leaver logs in");
        let tokens: Value = response.json().await.expect("tokens");
        tokens["access_token"].as_str().expect("an access token").to_owned()
    }

    /// The total of the attacker's cart, as its checkout page shows it.
    pub fn attackers_total(&self) -> i64 {
        PRICE * ATTACKERS_QUANTITY
    }

    /// A valid checkout of the attacker's cart, as reviewed.
    fn checkout_body(&self) -> Value {
        let mut body = valid_details();
        body["reviewed"] = json!({"total": self.attackers_total(), "currency": "EUR"});
        body
    }

    fn base(&self, service: Service) -> &str {
        match service {
            Customer => &self.ops.shop.customer_url,
            ProductOrder => &self.ops.shop.product_order_url,
        }
    }

    fn path(&self, template: &str) -> String {
        template
            .replace("{product}", &self.product)
            .replace("{order}", &self.order)
            .replace("{checkout}", &self.checkout)
            .replace("{dead_letter}", &self.dead_letter)
    }

    /// What the victim sees of their own data, in both services.
    pub async fn victims_view(&self) -> Value {
        let shop = &self.ops.shop;
        let customer = CustomerApi::new(&shop.customer_url);
        let product_order = ProductOrderApi::as_user(&shop.product_order_url, &self.victim.token);
        let token = &self.victim.token;
        json!({
            "me": customer.me(token).await.body,
            "orders": customer.get_as("/api/orders", token).await.body,
            "order": customer.get_as(&format!("/api/orders/{}", self.victim_order), token).await.body,
            "cart": product_order.get("/api/cart").await.body,
            "checkouts": product_order.get("/api/checkouts").await.body,
            "checkout": product_order.get(&format!("/api/checkouts/{}", self.victim_checkout)).await.body,
        })
    }

    /// Both services still answer `/readyz`.
    pub async fn assert_ready(&self) {
        for base in [
            &self.ops.shop.customer_internal_url,
            &self.ops.shop.product_order_internal_url,
            &self.ops.shop.web_internal_url,
        ] {
            let ready = reqwest::get(format!("{base}/readyz"))
                .await
                .expect("the service answers");
            assert_eq!(ready.status(), StatusCode::OK, "{base} is still ready after the sweep");
        }
    }
}

async fn shopper(customers: &CustomerApi, label: &str) -> Account {
    let email = email(label);
    let login = customers.signed_up(&email).await;
    Account {
        token: login["access_token"].as_str().unwrap().to_owned(),
        email,
    }
}

/// Puts `product` in the shopper's cart and checks out; answers (order id, checkout id) once
/// customer shows the order too.
async fn placed_order(ops: &OperatedShop, shopper: &Account, product: &str) -> (String, String) {
    let api = ProductOrderApi::as_user(&ops.shop.product_order_url, &shopper.token);
    assert_eq!(api.set_quantity(product, 1).await.status, StatusCode::OK);
    let started = api.checkout(&uuid::Uuid::new_v4().to_string(), valid_details()).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    let checkout = started.body["checkout_id"].as_str().unwrap().to_owned();
    let done = api.finished_checkout(&checkout).await;
    assert_eq!(done["state"], "completed", "{done:?}");
    let order = done["order_id"].as_str().unwrap().to_owned();
    let customers = CustomerApi::new(&ops.shop.customer_url);
    eventually("customer to show the order", Duration::from_secs(20), async || {
        (customers
            .get_as(&format!("/api/orders/{order}"), &shopper.token)
            .await
            .status
            == StatusCode::OK)
            .then_some(())
    })
    .await;
    (order, checkout)
}

/// A request of the sweep and its answer.
pub struct Reply {
    pub status: StatusCode,
    pub text: String,
}

/// What a request carries besides its route.
#[derive(Default, Clone)]
struct Extras {
    query: String,
    body: Option<(&'static str, Vec<u8>)>,
    /// Replaces the caller's credentials.
    headers: Vec<(String, Vec<u8>)>,
    anonymous: bool,
    as_shopper: bool,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

async fn send(http: &reqwest::Client, fixture: &Fixture, route: &Route, path: &str, extras: Extras) -> Reply {
    let mut url = format!("{}{path}", fixture.base(route.service));
    if !extras.query.is_empty() {
        url = format!("{url}?{}", extras.query);
    }
    let mut request = http.request(route.method.clone(), &url);
    if !extras.anonymous {
        let fresh;
        let token = match (route.auth, extras.as_shopper) {
            (Operator, false) => Some(&fixture.ops.operator_token),
            (Shopper | CartHolder, _) | (Operator, true) => Some(&fixture.attacker.token),
            (FreshSession, _) => {
                fresh = fixture.fresh_session_of_leaver(http).await;
                Some(&fresh)
            }
            (Public, _) => None,
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
    }
    if route.path == "/api/checkout" && !extras.headers.iter().any(|(name, _)| name == "idempotency-key") {
        request = request.header("idempotency-key", uuid::Uuid::new_v4().to_string());
    }
    for (name, value) in &extras.headers {
        let value = reqwest::header::HeaderValue::from_bytes(value).expect("a header value");
        request = request.header(name.as_str(), value);
    }
    if let Some((content_type, body)) = extras.body {
        request = request.header("content-type", content_type).body(body);
    }
    let what = format!("{} {url}", route.method);
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: no answer within 10 s ({e})"));
    let status = response.status();
    Reply {
        status,
        text: response.text().await.unwrap_or_default(),
    }
}

/// A 4xx with our JSON error body: a code, a message a person can read, and a message per
/// field for a validation error.
pub fn clear_refusal(what: &str, reply: &Reply) -> Result<(), String> {
    let shown = || reply.text.chars().take(300).collect::<String>();
    if !reply.status.is_client_error() {
        return Err(format!("{what}: expected a 4xx, got {} {}", reply.status, shown()));
    }
    let body: Value = serde_json::from_str(&reply.text)
        .map_err(|_| format!("{what}: {} without a JSON error body: {:?}", reply.status, shown()))?;
    let code = body["error"]["code"].as_str().unwrap_or_default();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    if code.is_empty() || message.len() < 8 {
        return Err(format!("{what}: unclear error {body}"));
    }
    let fields = body["error"]["fields"].as_object();
    let named = fields.is_some_and(|f| !f.is_empty() && f.values().all(|m| m.as_str().is_some_and(|m| !m.is_empty())));
    // A field of the wrong type is named too; only a body that is not an object names none.
    let whole_body = code == "invalid_body" && message.contains("JSON object");
    if matches!(code, "validation_failed" | "invalid_body") && !named && !whole_body {
        return Err(format!("{what}: a refused field is named: {body}"));
    }
    Ok(())
}

/// What the sweep found wrong, gathered so one run reports every problem, and how many
/// answers it checked.
#[derive(Default)]
pub struct Findings {
    problems: Vec<String>,
    checked: usize,
}

impl Findings {
    /// The request must be refused clearly.
    pub fn refused(&mut self, what: &str, reply: &Reply) {
        self.checked += 1;
        if let Err(problem) = clear_refusal(what, reply) {
            self.problems.push(problem);
        }
    }

    /// The request may happen to be valid: a 2xx, or a clear 4xx, never a 5xx.
    pub fn handled(&mut self, what: &str, reply: &Reply) {
        if reply.status.is_success() {
            self.checked += 1;
        } else {
            self.refused(what, reply);
        }
    }

    /// The request must be refused clearly with `status`.
    pub fn refused_with(&mut self, what: &str, reply: &Reply, status: StatusCode) {
        if reply.status != status {
            self.problems.push(format!(
                "{what}: expected {status}, got {} {}",
                reply.status,
                reply.text.chars().take(300).collect::<String>()
            ));
        } else {
            self.refused(what, reply);
        }
    }

    pub fn note(&mut self, problem: String) {
        self.problems.push(problem);
    }

    pub fn assert_none(self) {
        let count = self.problems.len();
        let shown: Vec<String> = self.problems.into_iter().take(60).collect();
        assert!(
            count == 0,
            "{count} bad answers, the first {}:\n{}",
            shown.len(),
            shown.join("\n")
        );
    }
}

/// `example` with the value at `path` replaced by the raw JSON `token`, as text.
fn with_token(example: &Value, path: &[String], token: &str) -> String {
    const HOLE: &str = "\u{1}sweep-hole\u{1}";
    let mut body = example.clone();
    let mut slot = &mut body;
    for key in path {
        slot = match slot {
            Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
            other => &mut other[key.as_str()],
        };
    }
    *slot = Value::String(HOLE.to_owned());
    body.to_string().replacen(&quoted(HOLE), token, 1)
}

/// `example` without the value at `path`.
fn without(example: &Value, path: &[String]) -> Value {
    let mut body = example.clone();
    let (last, parents) = path.split_last().expect("a field");
    let mut slot = &mut body;
    for key in parents {
        slot = &mut slot[key.as_str()];
    }
    if let Some(object) = slot.as_object_mut() {
        object.remove(last);
    }
    body
}

/// The paths of every leaf of `value` (`["contact", "email"]`, `["ids", "0"]`).
fn leaves(value: &Value) -> Vec<Vec<String>> {
    match value {
        Value::Object(map) => map
            .iter()
            .flat_map(|(key, child)| {
                let below = leaves(child);
                if below.is_empty() {
                    vec![vec![key.clone()]]
                } else {
                    below
                        .into_iter()
                        .map(|mut path| {
                            path.insert(0, key.clone());
                            path
                        })
                        .collect()
                }
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .flat_map(|(i, child)| {
                let below = leaves(child);
                if below.is_empty() {
                    vec![vec![i.to_string()]]
                } else {
                    below
                }
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn json_body(text: impl Into<Vec<u8>>) -> Option<(&'static str, Vec<u8>)> {
    Some(("application/json", text.into()))
}

/// Bodies of a route with one: malformed, of the wrong type or size, each field wrong in
/// every way, missing or joined by another, and whole generated ones.
async fn sweep_body(
    http: &reqwest::Client,
    fixture: &Fixture,
    route: &Route,
    runner: &mut TestRunner,
    findings: &mut Findings,
) {
    let path = fixture.path(route.path);
    let what = |case: &str| format!("{} {} with {case}", route.method, route.path);
    let Some(example) = route.body else {
        // Routes without a body ignore one or refuse it, but never fail on it.
        for body in [b"{".to_vec(), b"[1,2]".to_vec(), vec![b'x'; 300 * 1024]] {
            let reply = send(
                http,
                fixture,
                route,
                &path,
                Extras {
                    body: json_body(body),
                    ..Extras::default()
                },
            )
            .await;
            if reply.status.is_server_error() {
                findings.note(format!("{}: {}", what("a stray body"), reply.status));
            }
        }
        return;
    };
    let example = example(fixture);
    for body in hostile::malformed_bodies() {
        let case = what(&format!(
            "the malformed body {:?}",
            String::from_utf8_lossy(&body).chars().take(80).collect::<String>()
        ));
        let reply = send(
            http,
            fixture,
            route,
            &path,
            Extras {
                body: json_body(body),
                ..Extras::default()
            },
        )
        .await;
        findings.refused(&case, &reply);
    }
    for token in ["[]", "\"text\"", "42", "null", "true"] {
        let reply = send(
            http,
            fixture,
            route,
            &path,
            Extras {
                body: json_body(token),
                ..Extras::default()
            },
        )
        .await;
        findings.refused(&what(&format!("the body {token}")), &reply);
    }
    let wrong_type = Extras {
        body: Some(("text/plain", example.to_string().into_bytes())),
        ..Extras::default()
    };
    let reply = send(http, fixture, route, &path, wrong_type).await;
    findings.refused_with(&what("text/plain"), &reply, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!("{{\"padding\": \"{}\"}}", "a".repeat(300 * 1024));
    let reply = send(
        http,
        fixture,
        route,
        &path,
        Extras {
            body: json_body(huge),
            ..Extras::default()
        },
    )
    .await;
    findings.refused_with(&what("a 300 KiB body"), &reply, StatusCode::PAYLOAD_TOO_LARGE);

    for field in leaves(&example) {
        let field_name = field.join(".");
        for token in RAW_TOKENS
            .iter()
            .map(|t| (*t).to_owned())
            .chain(hostile::strings().iter().map(|s| quoted(s)))
        {
            let body = with_token(&example, &field, &token);
            let reply = send(
                http,
                fixture,
                route,
                &path,
                Extras {
                    body: json_body(body),
                    ..Extras::default()
                },
            )
            .await;
            findings.handled(
                &what(&format!(
                    "{field_name} = {}",
                    token.chars().take(80).collect::<String>()
                )),
                &reply,
            );
        }
        // Bytes 0xFF 0xFE where the field's string goes: not UTF-8.
        let not_utf8: Vec<u8> = with_token(&example, &field, "\"\u{1}\u{2}\"")
            .into_bytes()
            .into_iter()
            .map(|b| match b {
                1 => 0xff,
                2 => 0xfe,
                b => b,
            })
            .collect();
        let reply = send(
            http,
            fixture,
            route,
            &path,
            Extras {
                body: json_body(not_utf8),
                ..Extras::default()
            },
        )
        .await;
        findings.refused(&what(&format!("{field_name} not UTF-8")), &reply);
        let body = without(&example, &field).to_string();
        let reply = send(
            http,
            fixture,
            route,
            &path,
            Extras {
                body: json_body(body),
                ..Extras::default()
            },
        )
        .await;
        findings.handled(&what(&format!("{field_name} missing")), &reply);
        for token in draw(runner, &hostile_token(), case_count(6)) {
            let body = with_token(&example, &field, &token);
            let reply = send(
                http,
                fixture,
                route,
                &path,
                Extras {
                    body: json_body(body),
                    ..Extras::default()
                },
            )
            .await;
            findings.handled(
                &what(&format!(
                    "{field_name} = {}",
                    token.chars().take(80).collect::<String>()
                )),
                &reply,
            );
        }
    }
    for value in draw(runner, &json_value(), case_count(8)) {
        let mut extra = example.clone();
        extra["unexpected"] = value.clone();
        for body in [extra, value] {
            let text = body.to_string();
            let reply = send(
                http,
                fixture,
                route,
                &path,
                Extras {
                    body: json_body(text.clone()),
                    ..Extras::default()
                },
            )
            .await;
            findings.handled(
                &what(&format!("the body {}", text.chars().take(120).collect::<String>())),
                &reply,
            );
        }
    }
}

/// Texts percent-encoded for an address, at most 16 KiB each (a URL has at most 64 KiB).
fn url_texts(texts: Vec<String>) -> Vec<String> {
    texts
        .iter()
        .map(|s| encoded(s))
        .filter(|s| s.len() <= 16 * 1024)
        .collect()
}

/// Query strings: each parameter given hostile text, numbers past every edge, an encoding
/// that is not UTF-8, twice, and unknown parameters.
async fn sweep_query(
    http: &reqwest::Client,
    fixture: &Fixture,
    route: &Route,
    runner: &mut TestRunner,
    findings: &mut Findings,
) {
    let path = fixture.path(route.path);
    let valid: Vec<String> = route.query.iter().map(|(k, v)| format!("{k}={}", encoded(v))).collect();
    let mut queries = vec![
        "unknown=1".to_owned(),
        "%zz=%zz".to_owned(),
        "a=%ff%fe".to_owned(),
        "&&&==&".to_owned(),
    ];
    for (name, value) in route.query {
        let others: Vec<&String> = valid.iter().filter(|p| !p.starts_with(&format!("{name}="))).collect();
        let with = |raw: &str| {
            let mut parts: Vec<String> = others.iter().map(|p| (*p).clone()).collect();
            parts.push(format!("{name}={raw}"));
            parts.join("&")
        };
        let mut values: Vec<String> = url_texts(hostile::strings());
        values.extend(RAW_TOKENS.iter().map(|t| encoded(t)));
        values.extend(
            [
                "%ff",
                "%00",
                "%zz",
                "4294967296",
                "4294967295",
                "2147483648",
                "-2147483648",
                "1e309",
            ]
            .map(str::to_owned),
        );
        values.extend(url_texts(draw(runner, &hostile_text(), case_count(6))));
        values.push(format!("{}&{name}={}", encoded(value), encoded(value)));
        queries.extend(values.iter().map(|v| with(v)));
    }
    for query in queries {
        let what = format!(
            "{} {}?{}",
            route.method,
            route.path,
            query.chars().take(120).collect::<String>()
        );
        let reply = send(
            http,
            fixture,
            route,
            &path,
            Extras {
                query,
                ..Extras::default()
            },
        )
        .await;
        findings.handled(&what, &reply);
    }
}

/// Paths whose ids are hostile: refused as naming nothing, never failing.
async fn sweep_path(
    http: &reqwest::Client,
    fixture: &Fixture,
    route: &Route,
    runner: &mut TestRunner,
    findings: &mut Findings,
) {
    let Some(start) = route.path.find('{') else {
        return;
    };
    let end = start + route.path[start..].find('}').unwrap() + 1;
    let mut ids: Vec<String> = url_texts(
        hostile::strings()
            .into_iter()
            .filter(|s| !s.trim().is_empty())
            .collect(),
    );
    ids.extend(["%ff", "%00", "..", "%2e%2e", "0", "-1", "9223372036854775808"].map(str::to_owned));
    ids.extend(url_texts(
        draw(runner, &hostile_text(), case_count(6))
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect(),
    ));
    for id in ids {
        let path = fixture.path(&format!("{}{id}{}", &route.path[..start], &route.path[end..]));
        let body = route
            .body
            .map(|example| ("application/json", example(fixture).to_string().into_bytes()));
        let reply = send(
            http,
            fixture,
            route,
            &path,
            Extras {
                body,
                ..Extras::default()
            },
        )
        .await;
        let what = format!("{} {path}", route.method);
        findings.refused(&what, &reply);
    }
    // Ids of the right shape that name nothing of the caller's: refused, or (removing a cart
    // line that is not there) done already.
    for id in [uuid::Uuid::nil(), uuid::Uuid::max(), uuid::Uuid::new_v4()] {
        let path = fixture.path(&format!("{}{id}{}", &route.path[..start], &route.path[end..]));
        let body = route
            .body
            .map(|example| ("application/json", example(fixture).to_string().into_bytes()));
        let reply = send(
            http,
            fixture,
            route,
            &path,
            Extras {
                body,
                ..Extras::default()
            },
        )
        .await;
        findings.handled(&format!("{} {path}", route.method), &reply);
    }
}

/// Methods an address does not take: 405 with our error body.
async fn sweep_methods(http: &reqwest::Client, fixture: &Fixture, findings: &mut Findings) {
    let methods = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
    for route in ROUTES.iter().filter(|r| r.path.starts_with("/api/")) {
        let taken: Vec<&Method> = ROUTES
            .iter()
            .filter(|r| r.path == route.path)
            .map(|r| &r.method)
            .collect();
        for method in methods.iter().filter(|m| !taken.contains(m)) {
            let other = Route {
                method: method.clone(),
                body: None,
                query: &[],
                ..*route
            };
            let path = fixture.path(route.path);
            let reply = send(http, fixture, &other, &path, Extras::default()).await;
            findings.refused_with(
                &format!("{method} {}", route.path),
                &reply,
                StatusCode::METHOD_NOT_ALLOWED,
            );
        }
    }
}

/// Who may call: no credentials is 401, garbage credentials 401, a shopper on an operator
/// route 403 (each with our error body).
async fn sweep_auth(http: &reqwest::Client, fixture: &Fixture, route: &Route, findings: &mut Findings) {
    if route.auth == Public {
        return;
    }
    let path = fixture.path(route.path);
    let body = route
        .body
        .map(|example| ("application/json", example(fixture).to_string().into_bytes()));
    let what = |case: &str| format!("{} {} {case}", route.method, route.path);
    let reply = send(
        http,
        fixture,
        route,
        &path,
        Extras {
            anonymous: true,
            body: body.clone(),
            ..Extras::default()
        },
    )
    .await;
    findings.refused_with(&what("without credentials"), &reply, StatusCode::UNAUTHORIZED);
    let forged = [
        "Bearer ".to_owned(),
        "Bearer not.a.token".to_owned(),
        format!("Bearer {}", "a".repeat(8000)),
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".to_owned(),
        "Basic YWRtaW46YWRtaW4=".to_owned(),
        format!("Bearer {}x", fixture.ops.operator_token),
    ];
    for authorization in forged {
        let headers = vec![("authorization".to_owned(), authorization.into_bytes())];
        let extras = Extras {
            anonymous: true,
            headers,
            body: body.clone(),
            ..Extras::default()
        };
        let reply = send(http, fixture, route, &path, extras).await;
        findings.refused_with(&what("with a forged token"), &reply, StatusCode::UNAUTHORIZED);
    }
    if route.auth == Operator {
        let reply = send(
            http,
            fixture,
            route,
            &path,
            Extras {
                as_shopper: true,
                body,
                ..Extras::default()
            },
        )
        .await;
        findings.refused_with(&what("as a shopper"), &reply, StatusCode::FORBIDDEN);
    }
}

/// Guest cart tokens and idempotency keys of every wrong shape.
async fn sweep_headers(http: &reqwest::Client, fixture: &Fixture, findings: &mut Findings) {
    let mut values: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"short".to_vec(),
        vec![b'a'; 129],
        vec![b'a'; 8000],
        b"../../../etc/passwd-aaaaaaaaaaaaaa".to_vec(),
        b"\xff\xfe\xfd-aaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
        "' OR '1'='1 aaaaaaaaaaaaaaaaaa".as_bytes().to_vec(),
        b"<script>alert(1)</script>aaaaaaaa".to_vec(),
        b"\t \t".to_vec(),
    ];
    values.push(format!("{} ", guest_token()).into_bytes());
    let cart = ROUTES.iter().find(|r| r.path == "/api/cart").unwrap();
    let checkout = ROUTES.iter().find(|r| r.path == "/api/checkout").unwrap();
    for value in values {
        let shown = String::from_utf8_lossy(&value).chars().take(60).collect::<String>();
        let headers = vec![("x-cart-token".to_owned(), value.clone())];
        let reply = send(
            http,
            fixture,
            cart,
            "/api/cart",
            Extras {
                anonymous: true,
                headers,
                ..Extras::default()
            },
        )
        .await;
        findings.handled(&format!("the cart with X-Cart-Token {shown:?}"), &reply);
        let headers = vec![("idempotency-key".to_owned(), value)];
        let body = json_body(fixture.checkout_body().to_string());
        let reply = send(
            http,
            fixture,
            checkout,
            "/api/checkout",
            Extras {
                headers,
                body,
                ..Extras::default()
            },
        )
        .await;
        findings.handled(&format!("a checkout with Idempotency-Key {shown:?}"), &reply);
    }
}

#[tokio::test]
async fn every_json_route_answers_hostile_input_with_a_clear_4xx_and_leaves_other_shoppers_alone() {
    let fixture = Fixture::start().await;
    let victims_view = fixture.victims_view().await;
    let http = client();
    let mut runner = TestRunner::deterministic();
    let mut findings = Findings::default();
    for route in ROUTES {
        sweep_auth(&http, &fixture, route, &mut findings).await;
        sweep_body(&http, &fixture, route, &mut runner, &mut findings).await;
        sweep_query(&http, &fixture, route, &mut runner, &mut findings).await;
        sweep_path(&http, &fixture, route, &mut runner, &mut findings).await;
    }
    sweep_headers(&http, &fixture, &mut findings).await;
    sweep_methods(&http, &fixture, &mut findings).await;
    assert!(
        findings.checked > 5000,
        "the sweep checked {} answers",
        findings.checked
    );
    findings.assert_none();
    fixture.assert_ready().await;
    assert_eq!(
        fixture.victims_view().await,
        victims_view,
        "the victim's data is as it was"
    );
}

/// The attacker names the victim's order and checkout: they do not exist for it.
#[tokio::test]
async fn another_shoppers_ids_name_nothing() {
    let fixture = Fixture::start().await;
    let before = fixture.victims_view().await;
    let shop = &fixture.ops.shop;
    let attacker = ProductOrderApi::as_user(&shop.product_order_url, &fixture.attacker.token);
    let customers = CustomerApi::new(&shop.customer_url);
    let answers = [
        attacker
            .get(&format!("/api/checkouts/{}", fixture.victim_checkout))
            .await,
        attacker
            .send(
                Method::POST,
                &format!("/api/orders/{}/cancel", fixture.victim_order),
                json!({}),
            )
            .await,
        customers
            .get_as(
                &format!("/api/orders/{}", fixture.victim_order),
                &fixture.attacker.token,
            )
            .await,
    ];
    for answer in answers {
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{:?}", answer.body);
    }
    assert_eq!(fixture.victims_view().await, before);
}

/// What the sweep found, kept as plain cases: each was a 500 or an unclear answer.
#[tokio::test]
async fn the_cases_the_sweep_found_are_refused_clearly() {
    let ops = operated_shop().await;
    let shop = &ops.shop;
    let operator = ProductOrderApi::as_user(&shop.product_order_url, &ops.operator_token);
    let product = operator.create_product("TEA-1", "Sencha", 1290, 10).await;
    let product_path = format!("/api/products/{}", product["id"].as_str().unwrap());
    let http = client();
    let mut findings = Findings::default();
    let mut check = async |what: &str, method: Method, url: String, body: Option<&str>, status: StatusCode| {
        let mut request = http.request(method, &url).bearer_auth(&ops.operator_token);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_owned());
        }
        let response = request.send().await.expect("an answer");
        let reply = Reply {
            status: response.status(),
            text: response.text().await.unwrap_or_default(),
        };
        findings.refused_with(what, &reply, status);
        reply
    };
    let (po, customer) = (&shop.product_order_url, &shop.customer_url);
    // A stock adjustment past i64's edge overflowed (a panic, 500).
    for delta in [i64::MAX, i64::MIN] {
        let body = json!({"stock_delta": delta}).to_string();
        let reply = check(
            "stock_delta at i64's edge",
            Method::PATCH,
            format!("{po}{product_path}"),
            Some(&body),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(reply.text.contains("stock_delta"), "{}", reply.text);
    }
    // Text with a NUL character reached PostgreSQL, which refused it (500).
    let login = json!({"email": "a\u{0}@example.com", "password": "whatever it is"}).to_string();
    let reply = check(
        "a login email with NUL",
        Method::POST,
        format!("{customer}/api/auth/login"),
        Some(&login),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(reply.text.contains("\"email\""), "the field is named: {}", reply.text);
    let discard = json!({"ids": [uuid::Uuid::new_v4()], "reason": "bad\u{0}event"}).to_string();
    check(
        "a discard reason with NUL",
        Method::POST,
        format!("{customer}/api/ops/dead-letters/discard"),
        Some(&discard),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    // The same, through a place no validation looks at: a catalog cursor made by hand.
    let cursor = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        json!({"sort": "name", "name": "\u{0}", "id": uuid::Uuid::new_v4()}).to_string(),
    );
    check(
        "a cursor with NUL",
        Method::GET,
        format!("{po}/api/products?sort=name&cursor={cursor}"),
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    check(
        "a saga owner with NUL",
        Method::GET,
        format!("{po}/api/ops/sagas?owner=%00"),
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    // Idle for longer than PostgreSQL's calendar goes back (timestamp out of range, 500):
    // the filter asks about a year at most.
    check(
        "idle_minutes at u32's edge",
        Method::GET,
        format!("{po}/api/ops/sagas?idle_minutes=4294967295"),
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    // A field of the wrong type was refused without naming the field in `fields`.
    let cart_line = format!("{po}/api/cart/items/{}", product["id"].as_str().unwrap());
    for quantity in ["1.5", "9223372036854775808", "1e309", "\"2\""] {
        let body = format!("{{\"quantity\": {quantity}}}");
        let reply = check(
            "a quantity of the wrong type",
            Method::PUT,
            cart_line.clone(),
            Some(&body),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        let refusal: Value = serde_json::from_str(&reply.text).unwrap_or_default();
        assert!(
            refusal["error"]["fields"]["quantity"].is_string(),
            "{quantity}: {}",
            reply.text
        );
    }
    // An array where the body's object goes was read as an empty object (204).
    check(
        "an array for a body",
        Method::POST,
        format!("{customer}/api/auth/logout"),
        Some("[]"),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    // Unknown addresses and methods were answered with an empty body.
    check(
        "an unknown address",
        Method::GET,
        format!("{po}/api/products/x/y/z"),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    check(
        "an unknown address",
        Method::GET,
        format!("{customer}/api/nothing"),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    check(
        "a method the address does not take",
        Method::DELETE,
        format!("{po}/api/checkout"),
        None,
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    // A login email too long for an index entry (PostgreSQL: index row size exceeded, 500).
    let long: String = (0..150).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect();
    let login = json!({"email": format!("{long}@example.com"), "password": "whatever it is"}).to_string();
    let reply = http
        .post(format!("{customer}/api/auth/login"))
        .header("content-type", "application/json")
        .body(login)
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_client_error(), "a long email: {}", reply.status());
    findings.assert_none();
}
