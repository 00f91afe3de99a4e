//! The web front's account pages through real HTTP with cookies, as a browser uses them.

use reqwest::{Client, StatusCode, redirect};
use testkit::TestShop;

use crate::browser::{Browser, PASSWORD};
use crate::helpers::{CustomerApi, email};

fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

/// The CSRF token of the first form on the page.
fn csrf_token(html: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker).expect("a form with a csrf_token field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

async fn page(browser: &Client, url: String) -> (StatusCode, String) {
    let response = browser.get(url).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn register_log_out_and_log_in_through_the_pages() {
    let shop = TestShop::start().await;
    let browser = browser();
    let address = email("web");

    let (status, html) = page(&browser, format!("{}/register", shop.web_url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("/static/htmx.min.js"),
        "htmx comes from the web front itself"
    );
    let registered = browser
        .post(format!("{}/register", shop.web_url))
        .form(&[
            ("csrf_token", csrf_token(&html)),
            ("email", address.clone()),
            ("name", "Grace Hopper".into()),
            ("password", "correct horse battery".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::SEE_OTHER);
    assert_eq!(registered.headers()["location"], "/");
    let cookies = set_cookies(&registered);
    let access = cookies
        .iter()
        .find(|c| c.starts_with("__Host-shop_access="))
        .expect("access cookie");
    // Host-only and Secure by default (browsers treat localhost as secure): no subdomain or
    // plain-HTTP page can plant or overwrite them.
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(access.contains(attribute), "{attribute} missing in {access}");
    }
    assert!(!access.contains("Domain"), "{access}");
    let csrf_before = csrf_token(&html);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-shop_refresh=") && c.contains("HttpOnly")),
        "{cookies:?}"
    );

    let home = browser.get(format!("{}/", shop.web_url)).send().await.unwrap();
    assert_eq!(
        home.headers()["cache-control"],
        "no-store",
        "no signed-in page is kept for the back button after logging out"
    );
    let home = home.text().await.unwrap();
    assert!(
        home.contains("Signed in as </span><strong>Grace Hopper</strong>"),
        "{home}"
    );
    assert_ne!(
        csrf_token(&home),
        csrf_before,
        "the session starts with a new CSRF token: the one of the form before it is spent"
    );

    let logout = browser
        .post(format!("{}/logout", shop.web_url))
        .form(&[("csrf_token", csrf_token(&home))])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    let (_, home) = page(&browser, format!("{}/", shop.web_url)).await;
    assert!(
        !home.contains("Signed in as") && home.contains(r#"href="/login""#),
        "{home}"
    );

    let (_, login_page) = page(&browser, format!("{}/login", shop.web_url)).await;
    let wrong = browser
        .post(format!("{}/login", shop.web_url))
        .form(&[
            ("csrf_token", csrf_token(&login_page)),
            ("email", address.clone()),
            ("password", "wrong password".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong_html = wrong.text().await.unwrap();
    assert!(wrong_html.contains("Email or password is incorrect."), "{wrong_html}");
    assert!(
        wrong_html.contains(&format!(r#"value="{address}""#)),
        "the typed email is kept"
    );

    let right = browser
        .post(format!("{}/login?next=/somewhere", shop.web_url))
        .form(&[
            ("csrf_token", csrf_token(&wrong_html)),
            ("email", address.clone()),
            ("password", "correct horse battery".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    let (_, home) = page(&browser, format!("{}/", shop.web_url)).await;
    assert!(
        home.contains("Signed in as </span><strong>Grace Hopper</strong>"),
        "{home}"
    );
}

#[tokio::test]
async fn form_errors_appear_by_their_fields_with_the_input_kept_and_escaped() {
    let shop = TestShop::start().await;
    let browser = browser();
    let (_, html) = page(&browser, format!("{}/register", shop.web_url)).await;
    let response = browser
        .post(format!("{}/register", shop.web_url))
        .form(&[
            ("csrf_token", csrf_token(&html)),
            ("email", "not-an-email<script>".to_owned()),
            ("name", "<b>Bold</b>".to_owned()),
            ("password", "short-pw".chars().take(5).collect()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(r#"id="email-error">Enter an email address like name@example.com."#),
        "{html}"
    );
    assert!(
        html.contains(r#"id="password-error">Use at least 8 characters."#),
        "{html}"
    );
    assert!(
        html.contains("not-an-email&#60;script&#62;") || html.contains("not-an-email&lt;script&gt;"),
        "typed email kept, escaped: {html}"
    );
    assert!(!html.contains("<b>Bold</b>"), "typed name is escaped");
    assert!(!html.contains("short"), "the password is never echoed");
}

#[tokio::test]
async fn forms_refuse_cross_site_posts() {
    let shop = TestShop::start().await;
    let browser = browser();
    let (_, html) = page(&browser, format!("{}/login", shop.web_url)).await;
    let no_token = browser
        .post(format!("{}/login", shop.web_url))
        .form(&[("email", "a@example.com"), ("password", "whatever-long")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), StatusCode::FORBIDDEN);
    let foreign_origin = browser
        .post(format!("{}/login", shop.web_url))
        .header("origin", "http://evil.example")
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("email", "a@example.com"),
            ("password", "whatever-long"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_origin.status(), StatusCode::FORBIDDEN);
    // A fresh client (another site's form) has no csrf cookie, so a copied token is useless.
    let other = Client::builder().redirect(redirect::Policy::none()).build().unwrap();
    let stolen = other
        .post(format!("{}/login", shop.web_url))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("email", "a@example.com"),
            ("password", "whatever-long"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), StatusCode::FORBIDDEN);
}

/// The value a `Set-Cookie` of `response` gives cookie `name`.
fn cookie_value(response: &reqwest::Response, name: &str) -> Option<String> {
    set_cookies(response).iter().find_map(|c| {
        c.strip_prefix(&format!("{name}="))
            .map(|v| v.split(';').next().unwrap().to_owned())
    })
}

#[tokio::test]
async fn a_planted_csrf_cookie_with_its_token_forges_nothing_in_a_signed_in_session() {
    let shop = TestShop::start().await;
    let api = CustomerApi::new(&shop.customer_url);
    let victim = api.signed_up(&email("victim")).await;
    let access = victim["access_token"].as_str().unwrap();
    let refresh = victim["refresh_token"].as_str().unwrap();
    let client = Client::builder().redirect(redirect::Policy::none()).build().unwrap();

    // The attacker's own visit: a nonce cookie and the form token that goes with it.
    let visit = client.get(format!("{}/login", shop.web_url)).send().await.unwrap();
    let planted = cookie_value(&visit, "__Host-shop_csrf").expect("a CSRF cookie");
    let attackers_token = csrf_token(&visit.text().await.unwrap());

    // Planted into the victim's browser (as a subdomain or plain-HTTP page could without the
    // __Host- prefix), with the token: refused, since the token is bound to the session.
    let victims_cookies =
        format!("__Host-shop_access={access}; __Host-shop_refresh={refresh}; __Host-shop_csrf={planted}");
    let forged = client
        .post(format!("{}/logout-everywhere", shop.web_url))
        .header("cookie", &victims_cookies)
        .form(&[("csrf_token", attackers_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        api.me(access).await.status,
        StatusCode::OK,
        "the victim's session lives on"
    );

    // The victim's own page, with the same cookie, carries a token of their session: that works.
    let own_page = client
        .get(format!("{}/account/password", shop.web_url))
        .header("cookie", &victims_cookies)
        .send()
        .await
        .unwrap();
    let own_token = csrf_token(&own_page.text().await.unwrap());
    assert_ne!(own_token, attackers_token);
    let own = client
        .post(format!("{}/logout-everywhere", shop.web_url))
        .header("cookie", &victims_cookies)
        .form(&[("csrf_token", own_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        api.refresh(refresh).await.status,
        StatusCode::UNAUTHORIZED,
        "that one ended it"
    );
}

#[tokio::test]
async fn a_form_token_changes_with_the_session_and_survives_its_refresh() {
    let shop = TestShop::start().await;
    let api = CustomerApi::new(&shop.customer_url);
    let address = email("rotating");
    let login = api.signed_up(&address).await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let url: reqwest::Url = shop.web_url.parse().unwrap();
    let client = Client::builder()
        .cookie_provider(jar.clone())
        .redirect(redirect::Policy::none())
        .build()
        .unwrap();
    let (_, visitor_page) = page(&client, format!("{}/login", shop.web_url)).await;
    let visitors_token = csrf_token(&visitor_page);

    // A browser coming back after its access cookie expired: the page load refreshes the
    // session, and the form on that very page must still be taken.
    let refresh = login["refresh_token"].as_str().unwrap();
    jar.add_cookie_str(&format!("__Host-shop_refresh={refresh}; Path=/; Secure"), &url);
    let refreshed = client
        .get(format!("{}/account/password", shop.web_url))
        .send()
        .await
        .unwrap();
    assert!(
        cookie_value(&refreshed, "__Host-shop_access").is_some(),
        "the session was refreshed"
    );
    let html = refreshed.text().await.unwrap();
    assert!(html.contains("Signed in as"), "{html}");
    let signed_in_token = csrf_token(&html);
    assert_ne!(signed_in_token, visitors_token, "signing in changes the token");
    let after_refresh = client
        .get(format!("{}/account/password", shop.web_url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        csrf_token(&after_refresh.text().await.unwrap()),
        signed_in_token,
        "a refresh keeps it"
    );

    // The visitor's token is worth nothing in the session; the session's own works.
    let stale = client
        .post(format!("{}/logout", shop.web_url))
        .form(&[("csrf_token", visitors_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::FORBIDDEN);
    let logout = client
        .post(format!("{}/logout", shop.web_url))
        .form(&[("csrf_token", signed_in_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    // Logged out, the session's token is over too.
    let (_, html) = page(&client, format!("{}/login", shop.web_url)).await;
    assert_ne!(csrf_token(&html), signed_in_token);
    assert_eq!(
        csrf_token(&html),
        visitors_token,
        "the visitor's own token again: same browser, no session"
    );
}

#[tokio::test]
async fn an_expired_access_cookie_is_renewed_from_the_refresh_cookie() {
    let shop = TestShop::start().await;
    let api = CustomerApi::new(&shop.customer_url);
    let login = api.signed_up(&email("renew")).await;
    let refresh = login["refresh_token"].as_str().unwrap();
    let client = Client::new();
    let response = client
        .get(format!("{}/", shop.web_url))
        .header("cookie", format!("__Host-shop_refresh={refresh}"))
        .send()
        .await
        .unwrap();
    let cookies = set_cookies(&response);
    assert!(
        cookies.iter().any(|c| c.starts_with("__Host-shop_access=ey")),
        "a new access cookie: {cookies:?}"
    );
    let rotated = cookies
        .iter()
        .find(|c| c.starts_with("__Host-shop_refresh="))
        .expect("a rotated refresh cookie");
    assert!(!rotated.contains(refresh), "the refresh token rotated");
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Signed in as </span><strong>Test Shopper</strong>"),
        "{html}"
    );
}

#[tokio::test]
async fn a_spent_refresh_cookie_replayed_later_ends_the_session_instead_of_sharing_it() {
    let shop = TestShop::start().await;
    let login = CustomerApi::new(&shop.customer_url).signed_up(&email("replayed")).await;
    let spent = login["refresh_token"].as_str().unwrap().to_owned();
    let with_refresh = |token: String| {
        let url = format!("{}/", shop.web_url);
        async move {
            Client::new()
                .get(url)
                .header("cookie", format!("__Host-shop_refresh={token}"))
                .send()
                .await
                .unwrap()
        }
    };
    let refreshed_token = |response: &reqwest::Response| {
        set_cookies(response)
            .iter()
            .find_map(|c| {
                c.strip_prefix("__Host-shop_refresh=")
                    .map(|v| v.split(';').next().unwrap().to_owned())
            })
            .filter(|v| !v.is_empty())
    };
    // The owner's page load: two requests with the same expired session, one refresh, shared.
    let (first, second) = tokio::join!(with_refresh(spent.clone()), with_refresh(spent.clone()));
    let owners = refreshed_token(&first).expect("a rotated refresh cookie");
    assert_eq!(
        refreshed_token(&second).as_deref(),
        Some(owners.as_str()),
        "one refresh, shared"
    );

    // Later, someone shows the spent cookie again: not the owner's new tokens, but the end of
    // the session, for the owner too.
    tokio::time::sleep(web::session::refresh::SHARE_WINDOW).await;
    let replayed = with_refresh(spent).await;
    assert_eq!(refreshed_token(&replayed), None, "no tokens for a replayed cookie");
    assert!(!replayed.text().await.unwrap().contains("Signed in as"));
    let owner = with_refresh(owners).await;
    assert_eq!(refreshed_token(&owner), None, "the whole session ended");
    assert!(!owner.text().await.unwrap().contains("Signed in as"));
}

#[tokio::test]
async fn htmx_is_served_by_the_web_front() {
    let shop = TestShop::start().await;
    let response = reqwest::get(format!("{}/static/htmx.min.js", shop.web_url))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert!(response.text().await.unwrap().contains("htmx"), "the real htmx file");
}

#[tokio::test]
async fn one_visitor_guessing_passwords_locks_out_nobody_else() {
    let shop = TestShop::start_with(|s| s.login_limits.per_address = 3).await;
    let shopper = email("web-shopper");
    CustomerApi::new(&shop.customer_url).signed_up(&shopper).await;

    // Both come through the proxy in front of web; web tells customer who is who.
    let mut attacker = Browser::open_from(&shop.web_url, "203.0.113.5").await;
    attacker.get("/login").await;
    for guess in 0..3 {
        let answer = attacker
            .post(
                "/login",
                &[("email", shopper.as_str()), ("password", &format!("guess {guess}"))],
            )
            .await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = attacker
        .post("/login", &[("email", shopper.as_str()), ("password", "guess 4")])
        .await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.text().await.unwrap().contains("Too many attempts"));

    let mut owner = Browser::open_from(&shop.web_url, "198.51.100.7").await;
    owner.log_in(&shopper, PASSWORD).await;
}

#[tokio::test]
async fn too_many_registrations_from_one_visitor_are_refused_kindly() {
    let shop = TestShop::start_with(|s| s.registration_limits.per_address = 1).await;
    let mut visitor = Browser::open_from(&shop.web_url, "203.0.113.6").await;
    visitor.register(&email("first"), "First").await;
    let mut again = Browser::open_from(&shop.web_url, "203.0.113.6").await;
    again.get("/register").await;
    let refused = again
        .post(
            "/register",
            &[
                ("email", email("second").as_str()),
                ("name", "Second"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let html = refused.text().await.unwrap();
    assert!(html.contains("Too many new accounts from your network"), "{html}");
    assert!(html.contains("Second"), "what was typed is kept: {html}");
}

#[tokio::test]
async fn logging_out_everywhere_ends_the_sessions_of_every_device() {
    let shop = TestShop::start().await;
    let address = email("everywhere");
    let api = CustomerApi::new(&shop.customer_url);
    // The shopper's phone signed in elsewhere; their laptop uses the pages.
    let phone = api.signed_up(&address).await;
    let mut laptop = Browser::open(&shop.web_url).await;
    laptop.log_in(&address, PASSWORD).await;
    assert!(laptop.get("/").await.html.contains(r#"id="logout-everywhere""#));

    let answer = laptop.post("/logout-everywhere", &[]).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert!(
        !laptop.get("/").await.html.contains("Signed in as"),
        "this browser is signed out"
    );
    let renewed = api.refresh(phone["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        renewed.status,
        StatusCode::UNAUTHORIZED,
        "the phone's session ended too"
    );
    // Logging in again works as before.
    laptop.log_in(&address, PASSWORD).await;
}

#[tokio::test]
async fn changing_the_password_through_the_pages_signs_out_every_other_device() {
    let shop = TestShop::start().await;
    let address = email("change-password");
    let api = CustomerApi::new(&shop.customer_url);
    let phone = api.signed_up(&address).await;
    let visitor = Browser::open(&shop.web_url).await.visit("/account/password").await;
    assert_eq!(visitor.status(), StatusCode::SEE_OTHER, "visitors are sent to log in");

    let mut laptop = Browser::open(&shop.web_url).await;
    laptop.log_in(&address, PASSWORD).await;
    let form = laptop.get("/account/password").await;
    assert!(form.html.contains(r#"id="password-link""#), "the header links to it");
    assert!(
        form.html.contains(r#"autocomplete="current-password""#),
        "{}",
        form.html
    );

    let wrong = laptop
        .post(
            "/account/password",
            &[
                ("current_password", "not it at all"),
                ("new_password", "tea leaves and kettles"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = wrong.text().await.unwrap();
    assert!(
        html.contains(r#"id="current_password-error">This is not your current password."#),
        "{html}"
    );
    assert!(
        !html.contains("tea leaves and kettles"),
        "no password is written back into the page"
    );

    let changed = laptop
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "tea leaves and kettles"),
            ],
        )
        .await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    assert_eq!(changed.headers()["location"], "/account/password?changed=true");
    let after = laptop.get("/account/password?changed=true").await;
    assert!(after.html.contains(r#"id="password-changed""#), "{}", after.html);
    assert!(
        after.html.contains("Signed in as"),
        "this browser goes on in a new session"
    );

    let renewed = api.refresh(phone["refresh_token"].as_str().unwrap()).await;
    assert_eq!(renewed.status, StatusCode::UNAUTHORIZED, "the phone's session ended");
    assert_eq!(api.login(&address, PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    laptop.log_in(&address, "tea leaves and kettles").await;
}
