//! Ending a session (logout, log out everywhere, a password change) refuses its access tokens
//! in every service within seconds, not only its refresh token: customer announces the ending
//! on the broker, and product-order, web and customer itself refuse the tokens until they
//! would have expired anyway, an instance started later included.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use testkit::TestShop;

use crate::helpers::{CustomerApi, ProductOrderApi, broker_behind_proxy, email, eventually};

/// How soon every service refuses the tokens of an ended session.
const WITHIN: Duration = Duration::from_secs(5);
const PASSWORD: &str = "correct horse battery";

/// Where a token is used: customer's profile, product-order's cart, and web's pages (an access
/// cookie alone, as one copied out of a browser would be).
struct Services<'a> {
    customer: CustomerApi,
    product_order: &'a str,
    web: &'a str,
}

#[derive(Debug, PartialEq)]
struct Verdicts {
    customer: StatusCode,
    product_order: StatusCode,
    web_signed_in: bool,
}

const ACCEPTED: Verdicts = Verdicts {
    customer: StatusCode::OK,
    product_order: StatusCode::OK,
    web_signed_in: true,
};
const REFUSED: Verdicts = Verdicts {
    customer: StatusCode::UNAUTHORIZED,
    product_order: StatusCode::UNAUTHORIZED,
    web_signed_in: false,
};

impl<'a> Services<'a> {
    fn of(shop: &'a TestShop) -> Self {
        Self {
            customer: CustomerApi::new(&shop.customer_url),
            product_order: &shop.product_order_url,
            web: &shop.web_url,
        }
    }

    async fn verdicts(&self, access_token: &str) -> Verdicts {
        let page = reqwest::Client::new()
            .get(format!("{}/", self.web))
            .header("cookie", format!("__Host-shop_access={access_token}"))
            .send()
            .await
            .expect("web answers")
            .text()
            .await
            .expect("a page");
        Verdicts {
            customer: self.customer.me(access_token).await.status,
            product_order: ProductOrderApi::as_user(self.product_order, access_token)
                .get("/api/cart")
                .await
                .status,
            web_signed_in: page.contains("Signed in as"),
        }
    }

    /// Waits until every service gives `expected` for `access_token`.
    async fn settle(&self, what: &str, access_token: &str, expected: Verdicts) {
        eventually(what, WITHIN, async || {
            (self.verdicts(access_token).await == expected).then_some(())
        })
        .await;
    }
}

fn access(tokens: &serde_json::Value) -> String {
    tokens["access_token"].as_str().expect("an access token").to_owned()
}

#[tokio::test]
async fn logging_out_refuses_that_sessions_access_token_everywhere_and_only_that_one() {
    let shop = TestShop::start().await;
    let services = Services::of(&shop);
    let address = email("logout-everywhere-tokens");
    let laptop = services.customer.signed_up(&address).await;
    let phone = services.customer.login(&address, PASSWORD).await.body;
    assert_eq!(services.verdicts(&access(&laptop)).await, ACCEPTED);

    let logout = services
        .customer
        .logout(laptop["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(logout, StatusCode::NO_CONTENT);
    services
        .settle(
            "the laptop's access token refused everywhere",
            &access(&laptop),
            REFUSED,
        )
        .await;
    assert_eq!(
        services.verdicts(&access(&phone)).await,
        ACCEPTED,
        "the phone's session goes on"
    );

    // A product-order started after the logout learns of it from the broker's stream.
    let late = testkit::Replica::product_order(shop.product_order_settings()).await;
    let cart_at_late = |token: String| {
        let base = late.url.clone();
        async move { ProductOrderApi::as_user(&base, &token).get("/api/cart").await.status }
    };
    eventually("the late instance refuses the ended session", WITHIN, async || {
        (cart_at_late(access(&laptop)).await == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
    assert_eq!(cart_at_late(access(&phone)).await, StatusCode::OK);
    late.stop().await;
}

#[tokio::test]
async fn a_password_change_ends_every_other_session_everywhere_and_log_out_everywhere_the_rest() {
    let shop = TestShop::start().await;
    let services = Services::of(&shop);
    let address = email("password-change");
    let laptop = services.customer.signed_up(&address).await;
    let phone = services.customer.login(&address, PASSWORD).await.body;
    let change = |token: String, current: &'static str, new: &'static str| {
        let api = CustomerApi::new(&shop.customer_url);
        async move {
            api.post_as(
                "/api/me/password",
                &token,
                json!({"current_password": current, "new_password": new}),
            )
            .await
        }
    };

    let wrong = change(access(&laptop), "not my password", "a brand new passphrase").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", wrong.body);
    assert_eq!(
        wrong.field_error("current_password"),
        Some("This is not your current password.")
    );
    let common = change(access(&laptop), PASSWORD, "password123").await;
    assert_eq!(common.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(common.field_error("new_password").is_some(), "{:?}", common.body);
    let same = change(access(&laptop), PASSWORD, PASSWORD).await;
    assert_eq!(
        same.field_error("new_password"),
        Some("Choose a password other than your current one.")
    );
    assert_eq!(
        services.customer.login(&address, PASSWORD).await.status,
        StatusCode::OK,
        "a refused change changes nothing"
    );

    let changed = change(access(&laptop), PASSWORD, "a brand new passphrase").await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    let fresh = changed.body;
    for (device, tokens) in [("laptop", &laptop), ("phone", &phone)] {
        services
            .settle(&format!("the {device}'s old token refused"), &access(tokens), REFUSED)
            .await;
        let renewed = services
            .customer
            .refresh(tokens["refresh_token"].as_str().unwrap())
            .await;
        assert_eq!(renewed.status, StatusCode::UNAUTHORIZED, "the {device}'s session ended");
    }
    assert_eq!(
        services.verdicts(&access(&fresh)).await,
        ACCEPTED,
        "the new session of the one who changed it"
    );
    assert_eq!(
        services.customer.login(&address, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let tablet = services.customer.login(&address, "a brand new passphrase").await;
    assert_eq!(tablet.status, StatusCode::OK);

    let everywhere = services
        .customer
        .post_as("/api/auth/logout-everywhere", &access(&fresh), json!({}))
        .await;
    assert_eq!(everywhere.status, StatusCode::NO_CONTENT);
    for (device, tokens) in [("changing", &fresh), ("tablet", &tablet.body)] {
        services
            .settle(
                &format!("the {device} session's token refused"),
                &access(tokens),
                REFUSED,
            )
            .await;
    }
}

#[tokio::test]
async fn wrong_current_passwords_are_held_back_like_failed_logins() {
    let shop = TestShop::start().await;
    let api = CustomerApi::new(&shop.customer_url);
    let tokens = api.signed_up(&email("guessing-current")).await;
    let attempt = async || {
        api.post_as(
            "/api/me/password",
            &access(&tokens),
            json!({"current_password": "a guess at it", "new_password": "a brand new passphrase"}),
        )
        .await
    };
    for _ in 0..5 {
        assert_eq!(attempt().await.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let held = attempt().await;
    assert_eq!(held.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", held.body);
}

#[tokio::test]
async fn a_logout_while_customer_is_cut_off_from_the_broker_is_announced_once_it_is_back() {
    let (proxy, through_proxy) = broker_behind_proxy().await;
    let shop = TestShop::start_with(|s| s.amqp_url = through_proxy).await;
    let services = Services::of(&shop);
    let address = email("logout-offline");
    let tokens = services.customer.signed_up(&address).await;
    assert_eq!(services.verdicts(&access(&tokens)).await, ACCEPTED);

    proxy.cut();
    let logout = services
        .customer
        .logout(tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(logout, StatusCode::NO_CONTENT, "logging out needs no broker");
    assert_eq!(
        services
            .customer
            .refresh(tokens["refresh_token"].as_str().unwrap())
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "the refresh token ends at once"
    );
    proxy.restore();
    // Customer reconnects with a backoff of up to ten seconds, then announces what waited.
    eventually(
        "the ending announced after the outage",
        Duration::from_secs(30),
        async || (services.verdicts(&access(&tokens)).await == REFUSED).then_some(()),
    )
    .await;
}

#[tokio::test]
async fn another_customer_starting_with_the_same_operator_settings_ends_no_operator_session() {
    let ops = crate::helpers::operated_shop().await;
    let operator = CustomerApi::new(&ops.shop.customer_url);
    let me = operator.me(&ops.operator_token).await.body;
    let login = operator.login(me["email"].as_str().unwrap(), "operator password").await;
    assert_eq!(login.status, StatusCode::OK);

    // Scaling out (or a restart) sets the operator account up again from the same settings.
    let second = testkit::Replica::customer(ops.shop.customer_settings()).await;
    let customer_db = sqlx::PgPool::connect(&ops.shop.customer_database_url).await.unwrap();
    let ended: i64 = sqlx::query_scalar("SELECT count(*) FROM ended_sessions")
        .fetch_one(&customer_db)
        .await
        .unwrap();
    assert_eq!(ended, 0, "no session ended");
    let renewed = operator.refresh(login.body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(renewed.status, StatusCode::OK, "the operator's session goes on");
    assert_eq!(operator.me(&ops.operator_token).await.status, StatusCode::OK);

    // A new operator password in the settings does end the operator's sessions.
    let mut changed = ops.shop.customer_settings();
    let email = me["email"].as_str().unwrap().to_owned();
    changed.operator = Some((
        email,
        secrecy::SecretString::from("another operator password".to_owned()),
    ));
    let third = testkit::Replica::customer(changed).await;
    let services = Services::of(&ops.shop);
    services
        .settle("the operator's token refused", &ops.operator_token, REFUSED)
        .await;
    third.stop().await;
    second.stop().await;
}
