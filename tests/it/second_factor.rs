//! Operators sign in with a second factor (TOTP): enrolling one ends every other session and
//! from then on a password alone earns only a challenge; codes work once and only near now,
//! recovery codes once each; wrong codes are limited; a setting makes it required for every
//! operator, and the operator from settings can be given its secret.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use customer::second_factor::totp::{self, Secret};
use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::TestShop;

use crate::browser::Browser;
use crate::helpers::{Answer, CustomerApi, ProductOrderApi, email, eventually, operated_shop};

const OPERATOR_PASSWORD: &str = "operator password";

fn now_step() -> u64 {
    totp::step_at(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs())
}

/// The code an authenticator holding `secret` shows in `step`.
fn code_at(secret: &str, step: u64) -> String {
    totp::code_text(&Secret::parse(secret).expect("a base32 secret"), step)
}

/// The code an authenticator holding `secret` shows now.
fn code(secret: &str) -> String {
    code_at(secret, now_step())
}

/// A code other than every one accepted now.
fn wrong_code(secret: &str) -> String {
    let now = now_step();
    let accepted: Vec<String> = (now - 2..=now + 2).map(|step| code_at(secret, step)).collect();
    (0..)
        .map(|n| format!("{:06}", (n * 7919) % 1_000_000))
        .find(|c| !accepted.contains(c))
        .unwrap()
}

async fn operator_email(api: &CustomerApi, token: &str) -> String {
    api.me(token).await.body["email"].as_str().unwrap().to_owned()
}

/// Whether product-order lets `token` act as an operator.
async fn acts_as_operator(shop: &TestShop, token: &str) -> StatusCode {
    ProductOrderApi::as_user(&shop.product_order_url, token)
        .get("/api/ops/orders")
        .await
        .status
}

/// Enrols the caller of `token`: answers the secret, the step of the code that confirmed it,
/// and the confirmation's body.
async fn enrol(api: &CustomerApi, token: &str) -> (String, u64, Value) {
    let enrolment = api.post_as("/api/me/second-factor", token, json!({})).await;
    assert_eq!(enrolment.status, StatusCode::OK, "{:?}", enrolment.body);
    let secret = enrolment.body["secret"].as_str().unwrap().to_owned();
    let uri = enrolment.body["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Shop:") && uri.contains(&secret),
        "{uri}"
    );
    // Asking again shows the same secret (a reloaded page still matches the scanned code).
    let again = api.post_as("/api/me/second-factor", token, json!({})).await;
    assert_eq!(again.body["secret"], secret.as_str());
    let step = now_step();
    let confirmed = api
        .post_as(
            "/api/me/second-factor/confirm",
            token,
            json!({"code": code_at(&secret, step)}),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{:?}", confirmed.body);
    (secret, step, confirmed.body)
}

async fn second_step(api: &CustomerApi, challenge: &str, code: &str) -> Answer {
    api.post("/api/auth/second-factor", json!({"challenge": challenge, "code": code}))
        .await
}

#[tokio::test]
async fn once_enrolled_an_operator_signs_in_only_with_a_code_that_works_once() {
    let operated = operated_shop().await;
    let api = CustomerApi::new(&operated.shop.customer_url);
    let old_token = operated.operator_token.clone();
    let operator = operator_email(&api, &old_token).await;

    // A wrong first code confirms nothing.
    let enrolment = api.post_as("/api/me/second-factor", &old_token, json!({})).await;
    let secret = enrolment.body["secret"].as_str().unwrap().to_owned();
    let refused = api
        .post_as(
            "/api/me/second-factor/confirm",
            &old_token,
            json!({"code": wrong_code(&secret)}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.field_error("code").is_some(), "{:?}", refused.body);
    assert_eq!(
        api.login(&operator, OPERATOR_PASSWORD).await.body["second_factor"],
        Value::Null
    );

    let (secret, step, enrolled) = enrol(&api, &old_token).await;
    let codes: Vec<String> = serde_json::from_value(enrolled["recovery_codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10);
    let new_token = enrolled["access_token"].as_str().unwrap().to_owned();
    assert_eq!(acts_as_operator(&operated.shop, &new_token).await, StatusCode::OK);
    // Every session from before the enrolment is over, in every service.
    eventually(
        "the pre-enrolment token is refused",
        Duration::from_secs(5),
        async || (acts_as_operator(&operated.shop, &old_token).await == StatusCode::UNAUTHORIZED).then_some(()),
    )
    .await;
    let twice = api.post_as("/api/me/second-factor", &new_token, json!({})).await;
    assert_eq!(
        twice.status,
        StatusCode::CONFLICT,
        "a stolen session cannot replace the factor"
    );

    // The password alone earns a challenge, no token.
    let login = api.login(&operator, OPERATOR_PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK);
    assert_eq!(login.body["second_factor"], "code");
    assert!(login.body.get("access_token").is_none(), "{:?}", login.body);
    let challenge = login.body["challenge"].as_str().unwrap().to_owned();

    let wrong = second_step(&api, &challenge, &wrong_code(&secret)).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.field_error("code").is_some());
    // The code used to confirm the enrolment is spent: the next one works.
    let spent = second_step(&api, &challenge, &code_at(&secret, step)).await;
    assert_eq!(spent.status, StatusCode::UNPROCESSABLE_ENTITY, "a code works once");
    let signed_in = second_step(&api, &challenge, &code_at(&secret, step + 1)).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{:?}", signed_in.body);
    let token = signed_in.body["access_token"].as_str().unwrap();
    assert_eq!(acts_as_operator(&operated.shop, token).await, StatusCode::OK);
    let reused = second_step(&api, &challenge, &code_at(&secret, step + 1)).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED, "a challenge serves one login");
    assert_eq!(reused.body["error"]["code"], "invalid_challenge");

    // A recovery code signs in once, typed however.
    let challenge = api.login(&operator, OPERATOR_PASSWORD).await.body["challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    let typed = codes[0].to_uppercase().replace('-', " ");
    let recovered = second_step(&api, &challenge, &typed).await;
    assert_eq!(recovered.status, StatusCode::OK, "{:?}", recovered.body);
    let status = api
        .get_as(
            "/api/me/second-factor",
            recovered.body["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(
        status.body,
        json!({"enrolled": true, "required": true, "recovery_codes_left": 9})
    );
    let challenge = api.login(&operator, OPERATOR_PASSWORD).await.body["challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        second_step(&api, &challenge, &codes[0]).await.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a recovery code works once"
    );
    operated.shop.stop().await;
}

#[tokio::test]
async fn a_challenge_dies_after_five_wrong_codes_and_a_right_password_buys_no_new_guesses() {
    let operated = operated_shop().await;
    let api = CustomerApi::new(&operated.shop.customer_url);
    let operator = operator_email(&api, &operated.operator_token).await;
    let (secret, step, _) = enrol(&api, &operated.operator_token).await;

    let challenge = api.login(&operator, OPERATOR_PASSWORD).await.body["challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    for attempt in 1..=5 {
        let wrong = second_step(&api, &challenge, &wrong_code(&secret)).await;
        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "attempt {attempt}");
    }
    let dead = second_step(&api, &challenge, &code_at(&secret, step + 1)).await;
    assert_eq!(dead.status, StatusCode::UNAUTHORIZED, "{:?}", dead.body);

    // Five wrong codes count as five failed logins of the account from this address: the
    // password, right as it is, does not start a fresh round of guesses at once.
    let again = api.login(&operator, OPERATOR_PASSWORD).await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", again.body);
    operated.shop.stop().await;
}

#[tokio::test]
async fn shoppers_get_no_challenge_and_an_unknown_challenge_is_refused() {
    let shop = TestShop::start().await;
    let api = CustomerApi::new(&shop.customer_url);
    let body = api.signed_up(&email("shopper")).await;
    assert!(
        body["access_token"].is_string() && body.get("challenge").is_none(),
        "{body:?}"
    );
    let unknown = second_step(&api, "not-a-challenge", "123456").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let enrolment = api
        .post(
            "/api/auth/second-factor/enrolment",
            json!({"challenge": "not-a-challenge"}),
        )
        .await;
    assert_eq!(enrolment.status, StatusCode::UNAUTHORIZED);
    shop.stop().await;
}

#[tokio::test]
async fn when_required_an_operator_enrols_at_login_and_older_sessions_are_not_refreshed() {
    // An operator signed in on a password alone, before the second factor was required.
    let operated = operated_shop().await;
    let api = CustomerApi::new(&operated.shop.customer_url);
    let operator = operator_email(&api, &operated.operator_token).await;
    let before = api.login(&operator, OPERATOR_PASSWORD).await;
    let old_refresh = before.body["refresh_token"].as_str().unwrap().to_owned();

    // Another customer instance on the same database, now with the requirement.
    let mut settings = operated.shop.customer_settings();
    settings.require_operator_second_factor = true;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let tasks = tokio_util::task::TaskTracker::new();
    let strict = customer::start(settings, shutdown.clone(), &tasks)
        .await
        .expect("customer starts");
    let strict_api = CustomerApi::new(&format!("http://{}", strict.addr));

    let refresh = strict_api.refresh(&old_refresh).await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED, "{:?}", refresh.body);

    let login = strict_api.login(&operator, OPERATOR_PASSWORD).await;
    assert_eq!(login.body["second_factor"], "enrolment", "{:?}", login.body);
    assert!(login.body.get("access_token").is_none());
    let challenge = login.body["challenge"].as_str().unwrap().to_owned();
    // Not enrolled, so no code can complete the login: only an enrolment can.
    assert_eq!(
        second_step(&strict_api, &challenge, "123456").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let enrolment = strict_api
        .post("/api/auth/second-factor/enrolment", json!({"challenge": challenge}))
        .await;
    assert_eq!(enrolment.status, StatusCode::OK, "{:?}", enrolment.body);
    let secret = enrolment.body["secret"].as_str().unwrap().to_owned();
    let enrolled = strict_api
        .post(
            "/api/auth/second-factor/enrolment/confirm",
            json!({"challenge": challenge, "code": code(&secret)}),
        )
        .await;
    assert_eq!(enrolled.status, StatusCode::OK, "{:?}", enrolled.body);
    assert_eq!(enrolled.body["recovery_codes"].as_array().map(Vec::len), Some(10));
    let token = enrolled.body["access_token"].as_str().unwrap();
    assert_eq!(acts_as_operator(&operated.shop, token).await, StatusCode::OK);
    let refreshed = strict_api
        .refresh(enrolled.body["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(
        refreshed.status,
        StatusCode::OK,
        "a session that showed the factor goes on"
    );

    // Shoppers are not asked for one.
    let shopper = strict_api.signed_up(&email("shopper")).await;
    assert!(shopper["access_token"].is_string());

    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
    operated.shop.stop().await;
}

#[tokio::test]
async fn the_operator_from_settings_can_be_given_its_secret() {
    let secret = Secret::generate().unwrap().to_base32();
    let operator = email("ops");
    let configured = secret.clone();
    let shop = TestShop::start_with(|s| {
        s.operator = Some((operator.clone(), OPERATOR_PASSWORD.to_owned().into()));
        s.operator_totp_secret = Some(configured.into());
    })
    .await;
    let api = CustomerApi::new(&shop.customer_url);
    let login = api.login(&operator, OPERATOR_PASSWORD).await;
    assert_eq!(login.body["second_factor"], "code", "{:?}", login.body);
    let challenge = login.body["challenge"].as_str().unwrap();
    let signed_in = second_step(&api, challenge, &code(&secret)).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{:?}", signed_in.body);
    let token = signed_in.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(acts_as_operator(&shop, &token).await, StatusCode::OK);

    // Another instance starting with the same settings changes nothing and ends no session
    // (ending one revokes its refresh token at once).
    let shutdown = tokio_util::sync::CancellationToken::new();
    let tasks = tokio_util::task::TaskTracker::new();
    customer::start(shop.customer_settings(), shutdown.clone(), &tasks)
        .await
        .expect("a second customer starts");
    let refreshed = api.refresh(signed_in.body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{:?}", refreshed.body);
    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
    shop.stop().await;
}

/// The text of the element with `id` (up to its first tag).
fn text_of(html: &str, id: &str) -> String {
    let marker = format!(r#"id="{id}">"#);
    let start = html.find(&marker).unwrap_or_else(|| panic!("no #{id} in {html}")) + marker.len();
    html[start..].split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn an_operator_enrols_from_the_console_and_then_signs_in_with_a_code_through_the_pages() {
    let operated = operated_shop().await;
    let api = CustomerApi::new(&operated.shop.customer_url);
    let operator = operator_email(&api, &operated.operator_token).await;
    let mut console = Browser::operator(&operated).await;

    let form = console.get("/ops/second-factor").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.html.contains(r#"id="ops-second-factor-nav-link""#));
    assert!(
        form.html.contains(r#"<svg role="img" aria-label="QR code"#),
        "{}",
        form.html
    );
    let secret = text_of(&form.html, "second-factor-secret").replace(' ', "");
    let again = console.get("/ops/second-factor").await;
    assert_eq!(
        text_of(&again.html, "second-factor-secret").replace(' ', ""),
        secret,
        "a reload keeps the secret"
    );

    let wrong = console
        .post("/ops/second-factor", &[("code", &wrong_code(&secret))])
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = wrong.text().await.unwrap();
    assert!(html.contains(r#"id="code-error">This code is not right."#), "{html}");
    assert!(html.contains(&secret[..4]), "the same secret is shown again");

    let step = now_step();
    let enrolled = console
        .post("/ops/second-factor", &[("code", &code_at(&secret, step))])
        .await;
    assert_eq!(enrolled.status(), StatusCode::OK);
    let html = enrolled.text().await.unwrap();
    assert!(html.contains(r#"id="recovery-codes""#), "{html}");
    assert_eq!(html.matches("<li><code>").count(), 10, "{html}");
    let status = console.get("/ops/second-factor").await;
    assert!(
        status.html.contains(r#"id="second-factor-enrolled""#) && status.html.contains("10 unused recovery codes"),
        "this browser goes on, in the new session: {}",
        status.html
    );

    // Another browser: the password leads to the second step, which the code completes.
    let mut laptop = Browser::open(&operated.shop.web_url).await;
    laptop.get("/login?next=/ops/orders").await;
    let login = laptop
        .post(
            "/login",
            &[
                ("email", &operator),
                ("password", OPERATOR_PASSWORD),
                ("next", "/ops/orders"),
            ],
        )
        .await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let location = login.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/login/second-factor"), "{location}");
    assert_eq!(
        laptop.load("/ops/orders").await.status,
        StatusCode::SEE_OTHER,
        "not signed in yet"
    );
    let second = laptop.get(&location).await;
    assert!(
        second.html.contains(r#"autocomplete="one-time-code""#),
        "{}",
        second.html
    );
    assert!(!second.html.contains("<svg"), "no enrolment once enrolled");
    let wrong = laptop
        .post(
            "/login/second-factor",
            &[("code", &wrong_code(&secret)), ("next", "/ops/orders")],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let done = laptop
        .post(
            "/login/second-factor",
            &[("code", &code_at(&secret, step + 1)), ("next", "/ops/orders")],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()["location"], "/ops/orders");
    assert_eq!(laptop.load("/ops/orders").await.status, StatusCode::OK);
    // The challenge is spent: its page sends the browser back to log in.
    assert_eq!(
        laptop.visit("/login/second-factor").await.headers()["location"],
        "/login"
    );

    let mut shopper = Browser::open(&operated.shop.web_url).await;
    shopper.register(&email("shopper"), "Ada").await;
    assert_eq!(shopper.load("/ops/second-factor").await.status, StatusCode::FORBIDDEN);
    operated.shop.stop().await;
}

#[tokio::test]
async fn one_code_sent_twice_at_once_signs_in_once() {
    let operated = operated_shop().await;
    let api = CustomerApi::new(&operated.shop.customer_url);
    let operator = operator_email(&api, &operated.operator_token).await;
    let (secret, step, _) = enrol(&api, &operated.operator_token).await;
    let challenge = async || {
        api.login(&operator, OPERATOR_PASSWORD).await.body["challenge"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (first, second) = (challenge().await, challenge().await);
    // Two tabs, or a double click on two login attempts, with the same code.
    let code = code_at(&secret, step + 1);
    let (a, b) = tokio::join!(second_step(&api, &first, &code), second_step(&api, &second, &code));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::UNPROCESSABLE_ENTITY],
        "{:?} / {:?}",
        a.body,
        b.body
    );
    operated.shop.stop().await;
}
