//! Login failures, rate limiting, refresh-token rotation and logout.

use reqwest::StatusCode;
use serde_json::json;
use testkit::TestShop;

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

#[tokio::test]
async fn repeated_failures_lock_the_account_even_for_the_right_password() {
    let shop = TestShop::start().await;
    let api = CustomerApi::new(&shop.customer_url);
    let victim = email("victim");
    api.signed_up(&victim).await;

    for attempt in 1..=5 {
        let answer = api.login(&victim, "guessing").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let response = api
        .http
        .post(format!("{}/api/auth/login", shop.customer_url))
        .json(&json!({"email": victim, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "retry after {retry_after}s");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");

    // An unknown email is limited the same way, so the limit reveals nothing either.
    let ghost = email("ghost");
    for _ in 1..=5 {
        api.login(&ghost, "guessing").await;
    }
    assert_eq!(
        api.login(&ghost, "guessing").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn failures_from_one_address_across_accounts_are_limited() {
    let shop = TestShop::start_with(|s| s.login_limits.per_address = 3).await;
    let api = CustomerApi::new(&shop.customer_url);
    let from = |address: &'static str, who: String| {
        api.http
            .post(format!("{}/api/auth/login", shop.customer_url))
            .header("x-forwarded-for", address)
            .json(&json!({"email": who, "password": "guessing"}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            from("203.0.113.7", email("spray")).await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        from("203.0.113.7", email("spray")).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // The web front forwards each shopper's own address: another shopper is not blocked.
    assert_eq!(
        from("203.0.113.8", email("other")).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
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
