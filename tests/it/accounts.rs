//! Registration and the caller's profile.

use reqwest::StatusCode;
use serde_json::json;
use testkit::TestShop;

use crate::helpers::{CustomerApi, email};

#[tokio::test]
async fn register_login_and_me() {
    let shop = TestShop::start().await;
    let api = CustomerApi::new(&shop.customer_url);

    let registered = api
        .register(
            "  Ada.Lovelace@Example.COM ",
            "correct horse battery",
            "  Ada Lovelace ",
        )
        .await;
    assert_eq!(registered.status, StatusCode::CREATED, "{:?}", registered.body);
    assert_eq!(
        registered.body["email"], "ada.lovelace@example.com",
        "email is normalized"
    );
    assert_eq!(registered.body["name"], "Ada Lovelace", "name is trimmed");
    assert!(registered.body.get("password").is_none() && registered.body.get("password_hash").is_none());

    let login = api.login("ADA.LOVELACE@example.com", "correct horse battery").await;
    assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
    assert_eq!(login.body["token_type"], "Bearer");
    let expires_in = login.body["expires_in"].as_u64().unwrap();
    assert!(
        expires_in > 0 && expires_in <= 900,
        "access tokens live at most 15 minutes, got {expires_in}"
    );

    let me = api.me(login.body["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["id"], registered.body["id"]);
    assert_eq!(me.body["email"], "ada.lovelace@example.com");
    assert_eq!(me.body["name"], "Ada Lovelace");
    assert_eq!(me.body["role"], "shopper");
    shop.stop().await;
}

#[tokio::test]
async fn the_same_email_registers_once_whatever_its_case() {
    let shop = TestShop::start().await;
    let api = CustomerApi::new(&shop.customer_url);
    let address = email("dup");
    assert_eq!(
        api.register(&address, "correct horse battery", "First").await.status,
        StatusCode::CREATED
    );
    let again = api
        .register(&address.to_uppercase(), "another password", "Second")
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["error"]["code"], "email_taken");
    assert!(again.field_error("email").is_some());
}

#[tokio::test]
async fn each_invalid_field_is_named() {
    let shop = TestShop::start().await;
    let api = CustomerApi::new(&shop.customer_url);
    let cases = [
        (
            json!({"email": "not-an-email", "password": "long enough", "name": "Ada"}),
            "email",
        ),
        (json!({"email": "", "password": "long enough", "name": "Ada"}), "email"),
        (
            json!({"email": email("f"), "password": "short", "name": "Ada"}),
            "password",
        ),
        (
            json!({"email": email("f"), "password": "x".repeat(129), "name": "Ada"}),
            "password",
        ),
        (
            json!({"email": email("f"), "password": "long enough", "name": "   "}),
            "name",
        ),
        (
            json!({"email": email("f"), "password": "long enough", "name": "n".repeat(101)}),
            "name",
        ),
        (json!({"password": "long enough", "name": "Ada"}), "email"),
    ];
    for (body, field) in cases {
        let answer = api.post("/api/auth/register", body.clone()).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(answer.body["error"]["code"], "validation_failed");
        assert!(
            answer.field_error(field).is_some(),
            "{field} should be named for {body}: {:?}",
            answer.body
        );
        assert_eq!(
            answer.body["error"]["fields"].as_object().unwrap().len(),
            1,
            "only {field} is wrong in {body}"
        );
    }
    // All three wrong at once: all three named.
    let all = api.register("x", "y", "").await;
    assert_eq!(
        all.body["error"]["fields"].as_object().unwrap().len(),
        3,
        "{:?}",
        all.body
    );
}

#[tokio::test]
async fn malformed_bodies_are_client_errors() {
    let shop = TestShop::start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/auth/register", shop.customer_url);
    let not_json = http
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = not_json.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");

    let wrong_type = http
        .post(&url)
        .json(&json!({"email": 5, "password": [], "name": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let no_content_type = http.post(&url).body("{}").send().await.unwrap();
    assert_eq!(no_content_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let huge = http
        .post(&url)
        .json(&json!({"email": "a".repeat(1 << 20)}))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn operator_account_comes_from_settings_and_its_password_is_reset_at_start() {
    let operator = email("operator");
    let first_password = "first operator password".to_owned();
    let configured = (operator.clone(), secrecy::SecretString::from(first_password.clone()));
    let shop = TestShop::start_with(|s| s.operator = Some(configured)).await;
    let api = CustomerApi::new(&shop.customer_url);
    let login = api.login(&operator, &first_password).await;
    assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
    let me = api.me(login.body["access_token"].as_str().unwrap()).await;
    assert_eq!(me.body["role"], "operator");

    // Customer starts again (same database) with a new password: the old one and its sessions end.
    let database_url = shop.customer_database_url.clone();
    let reset = (
        operator.clone(),
        secrecy::SecretString::from("second operator password".to_owned()),
    );
    let restarted = TestShop::start_with(|s| {
        s.database_url = database_url;
        s.operator = Some(reset);
    })
    .await;
    let api = CustomerApi::new(&restarted.customer_url);
    assert_eq!(
        api.login(&operator, &first_password).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.login(&operator, "second operator password").await.status,
        StatusCode::OK
    );
    let old_session = login.body["refresh_token"].as_str().unwrap();
    assert_eq!(api.refresh(old_session).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn common_and_guessable_passwords_are_refused_by_their_field() {
    let shop = TestShop::start().await;
    let api = CustomerApi::new(&shop.customer_url);
    let address = email("guessable");
    for (password, says) in [
        ("12345678", "most common"),
        ("password", "most common"),
        ("Password1", "most common"),
        ("        ", "one character"),
        (address.as_str(), "email"),
        (address.split('@').next().unwrap(), "email"),
    ] {
        let body = json!({"email": address, "password": password, "name": "Ada"});
        let answer = api.post("/api/auth/register", body).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{password:?}");
        let message = answer.field_error("password").unwrap_or_default();
        assert!(message.contains(says), "{password:?}: {:?}", answer.body);
    }
    // Nothing was created: the email is still free.
    let registered = api.register(&address, "tea at five, sharp", "Ada").await;
    assert_eq!(registered.status, StatusCode::CREATED, "{:?}", registered.body);
}
