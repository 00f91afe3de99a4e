//! Login failures, rate limiting, refresh-token rotation and logout.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use testkit::TestShop;

use crate::browser::PASSWORD;
use crate::helpers::{CustomerApi, email};

#[tokio::test]
async fn wrong_password_and_unknown_email_answer_alike() {
    let shop = TestShop::start().await;
    let api = CustomerApi::new(&shop.customer_url);
    let known = email("known");
    api.signed_up(&known).await;

    let wrong_password = api.login(&known, "not the password").await;
    let unknown_email = api.login(&email("nobody"), "not the password").await;
    assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_email.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong_password.body, unknown_email.body,
        "the answer must not tell whether the email exists"
    );
    assert_eq!(wrong_password.body["error"]["code"], "invalid_credentials");
}

/// A POST of `body` to customer's `path` as sent by a client at `address` through the proxy
/// customer trusts.
async fn post_from(shop: &TestShop, address: &str, path: &str, body: serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{path}", shop.customer_url))
        .header("x-forwarded-for", address)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A login attempt from a client at `address`.
async fn log_in_from(shop: &TestShop, address: &str, who: &str, password: &str) -> reqwest::Response {
    post_from(
        shop,
        address,
        "/api/auth/login",
        json!({"email": who, "password": password}),
    )
    .await
}

#[tokio::test]
async fn failures_on_an_account_slow_their_address_only_and_its_owner_still_logs_in() {
    let shop = TestShop::start().await;
    let api = CustomerApi::new(&shop.customer_url);
    let victim = email("victim");
    api.signed_up(&victim).await;
    let attacker = "203.0.113.66";

    for attempt in 1..=5 {
        let answer = log_in_from(&shop, attacker, &victim, "guessing").await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // The guessing address waits now, right password or not...
    let refused = log_in_from(&shop, attacker, &victim, PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "a first delay of 30 s: {retry_after}");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // ...but the account is not locked: its owner, elsewhere, logs in at once.
    let owner = log_in_from(&shop, "198.51.100.23", &victim, PASSWORD).await;
    assert_eq!(owner.status(), StatusCode::OK);

    // An unknown email is slowed the same way, so the limit reveals nothing either.
    let ghost = email("ghost");
    for _ in 1..=5 {
        log_in_from(&shop, attacker, &ghost, "guessing").await;
    }
    assert_eq!(
        log_in_from(&shop, attacker, &ghost, "guessing").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn failures_from_one_address_across_accounts_are_limited() {
    let shop = TestShop::start_with(|s| s.login_limits.per_address = 3).await;
    for _ in 0..3 {
        assert_eq!(
            log_in_from(&shop, "203.0.113.7", &email("spray"), "guessing")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        log_in_from(&shop, "203.0.113.7", &email("spray"), "guessing")
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // The web front forwards each shopper's own address: another shopper is not blocked.
    assert_eq!(
        log_in_from(&shop, "203.0.113.8", &email("other"), "guessing")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_client_cannot_choose_the_address_it_is_limited_by() {
    // Behind the trusted proxy, which appends the address it was reached from: what the
    // client wrote to the left of it is not believed.
    let shop = TestShop::start_with(|s| s.login_limits.per_address = 3).await;
    for n in 0..3 {
        let forged = format!("198.51.100.{n}, 203.0.113.7");
        assert_eq!(
            log_in_from(&shop, &forged, &email("spray"), "guessing").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        log_in_from(&shop, "198.51.100.99, 203.0.113.7", &email("spray"), "guessing")
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // Reached directly by a client it does not trust (customer trusts no proxy unless told):
    // X-Forwarded-For is ignored and the peer's address counts.
    let direct = TestShop::start_with(|s| {
        s.login_limits.per_address = 3;
        s.trusted_proxies = Vec::new();
    })
    .await;
    for n in 0..3 {
        let answer = log_in_from(&direct, &format!("198.51.100.{n}"), &email("spray"), "guessing").await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        log_in_from(&direct, "198.51.100.77", &email("spray"), "guessing")
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn registrations_are_limited_per_address() {
    let shop = TestShop::start_with(|s| s.registration_limits.per_address = 2).await;
    let register = |address: &'static str, who: String| {
        post_from(
            &shop,
            address,
            "/api/auth/register",
            json!({"email": who, "password": PASSWORD, "name": "Sam"}),
        )
    };
    let taken = email("taken");
    assert_eq!(
        register("203.0.113.40", taken.clone()).await.status(),
        StatusCode::CREATED
    );
    // A taken email counts too: emails cannot be tried at speed.
    assert_eq!(register("203.0.113.40", taken).await.status(), StatusCode::CONFLICT);
    let refused = register("203.0.113.40", email("third")).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    // Another address registers as before.
    assert_eq!(
        register("203.0.113.41", email("elsewhere")).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_age_however_often_it_is_refreshed() {
    let shop = TestShop::start_with(|s| s.session_max_age = Duration::from_secs(3600)).await;
    let api = CustomerApi::new(&shop.customer_url);
    let login = api.signed_up(&email("aging")).await;
    let first = login["refresh_expires_in"].as_u64().unwrap();
    assert!((3500..=3600).contains(&first), "no token outlives its session: {first}");
    let renewed = api.refresh(login["refresh_token"].as_str().unwrap()).await;
    assert_eq!(renewed.status, StatusCode::OK, "{:?}", renewed.body);
    let second = renewed.body["refresh_expires_in"].as_u64().unwrap();
    assert!(
        second <= first,
        "refreshing does not extend the session: {second} after {first}"
    );

    // The session began an hour ago: its live token is refused, as a login past its age.
    let db = sqlx::PgPool::connect(&shop.customer_database_url).await.unwrap();
    sqlx::query("UPDATE refresh_tokens SET session_started_at = now() - interval '1 hour 1 second'")
        .execute(&db)
        .await
        .unwrap();
    let aged = api.refresh(renewed.body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(aged.status, StatusCode::UNAUTHORIZED, "{:?}", aged.body);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let shop = TestShop::start().await;
    let api = CustomerApi::new(&shop.customer_url);
    let login = api.signed_up(&email("refresh")).await;
    let first = login["refresh_token"].as_str().unwrap().to_owned();
    assert!(
        login["refresh_expires_in"].as_u64().unwrap() >= 24 * 3600,
        "sessions last days"
    );

    let renewed = api.refresh(&first).await;
    assert_eq!(renewed.status, StatusCode::OK, "{:?}", renewed.body);
    let second = renewed.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second, "a new refresh token on every use");
    assert_eq!(
        api.me(renewed.body["access_token"].as_str().unwrap()).await.status,
        StatusCode::OK
    );

    // The old token again: someone replays it, so the whole session ends.
    let replay = api.refresh(&first).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.body["error"]["code"], "invalid_refresh_token");
    assert_eq!(
        api.refresh(&second).await.status,
        StatusCode::UNAUTHORIZED,
        "the family is revoked"
    );

    assert_eq!(api.refresh("made-up-token").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_ends_the_session() {
    let shop = TestShop::start().await;
    let api = CustomerApi::new(&shop.customer_url);
    let login = api.signed_up(&email("logout")).await;
    let refresh = login["refresh_token"].as_str().unwrap();
    assert_eq!(api.logout(refresh).await, StatusCode::NO_CONTENT);
    assert_eq!(api.refresh(refresh).await.status, StatusCode::UNAUTHORIZED);
    // Logging out again, or with an unknown token, is harmless.
    assert_eq!(api.logout(refresh).await, StatusCode::NO_CONTENT);
    assert_eq!(api.logout("unknown").await, StatusCode::NO_CONTENT);
}
