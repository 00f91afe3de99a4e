//! Accounts: register, log in, log out (here or everywhere), change the password. Customer
//! does the work; these pages collect the input, show its answers next to the fields, and
//! start or end the browser session.

mod second_factor;
mod views;

use std::collections::BTreeMap;

use axum::Extension;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use platform::http::ClientAddress;
use serde::Deserialize;

use crate::app::AppState;
use crate::cart::join_guest_cart;
use crate::clients::customer::{CustomerCallError, SignIn, Tokens};
use crate::error::{AppForm, WebError};
use crate::render::{PageContext, page, retry_later, see_other};
use crate::session::{Session, SessionChange, SignedIn};
use views::{LoginView, PasswordView, RegisterView};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/register", get(register_page).post(register))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/logout-everywhere", post(logout_everywhere))
        .route("/account/password", get(password_page).post(change_password))
        .merge(second_factor::router())
}

pub(crate) use second_factor::show_recovery_codes;
pub use views::{EnrolmentView, SecondFactorView};

#[derive(Deserialize)]
struct RegisterForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

/// The fields the register form shows messages next to.
const REGISTER_FIELDS: [&str; 3] = ["email", "name", "password"];
/// The fields the password form shows messages next to.
const PASSWORD_FIELDS: [&str; 2] = ["current_password", "new_password"];

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

#[derive(Deserialize)]
struct PasswordQuery {
    #[serde(default)]
    changed: bool,
}

async fn register_page(ctx: PageContext) -> Response {
    page(
        &ctx,
        StatusCode::OK,
        "Register",
        &RegisterView::new(&ctx, "", "", BTreeMap::new()),
    )
}

async fn register(
    State(state): State<AppState>,
    ctx: PageContext,
    ClientAddress(shopper): ClientAddress,
    headers: HeaderMap,
    AppForm(form): AppForm<RegisterForm>,
) -> Result<Response, WebError> {
    match state
        .customer
        .register(&form.email, &form.password, &form.name, shopper)
        .await
    {
        Ok(account) => tracing::info!(customer_id = %account.id, "registered through the web"),
        Err(CustomerCallError::Fields(errors)) => {
            let view = RegisterView::new(&ctx, &form.email, &form.name, errors);
            return Ok(page(&ctx, StatusCode::UNPROCESSABLE_ENTITY, "Register", &view));
        }
        Err(CustomerCallError::RateLimited { retry_after }) => {
            let message = format!("Too many new accounts from your network. Try again in {retry_after} seconds.");
            let errors = BTreeMap::from([("form".to_owned(), message)]);
            let view = RegisterView::new(&ctx, &form.email, &form.name, errors);
            let response = page(&ctx, StatusCode::TOO_MANY_REQUESTS, "Register", &view);
            return Ok(retry_later(retry_after, response));
        }
        Err(e) => return Err(e.into()),
    }
    match state.customer.login(&form.email, &form.password, shopper).await {
        Ok(SignIn::Tokens(tokens)) => Ok(signed_in(&state, &ctx, &headers, tokens, "/").await),
        // A new account has no second factor; should one be asked for, the login page asks.
        Ok(SignIn::SecondFactor(_)) => Ok(see_other(&ctx, "/login")),
        Err(CustomerCallError::Unavailable(cause)) => Err(WebError::Unavailable(cause)),
        // The account exists; logging in by hand still works.
        Err(e) => {
            tracing::warn!(error = %e, "login right after registration failed");
            Ok(see_other(&ctx, "/login"))
        }
    }
}

async fn login_page(ctx: PageContext, Query(query): Query<NextQuery>) -> Response {
    let view = LoginView::new(&ctx, "", local_path(&query.next), None);
    page(&ctx, StatusCode::OK, "Log in", &view)
}

async fn login(
    State(state): State<AppState>,
    ctx: PageContext,
    ClientAddress(shopper): ClientAddress,
    headers: HeaderMap,
    AppForm(form): AppForm<LoginForm>,
) -> Result<Response, WebError> {
    let next = local_path(&form.next);
    let (status, message) = if form.email.trim().is_empty() || form.password.is_empty() {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter your email and password.".to_owned(),
        )
    } else {
        match state.customer.login(&form.email, &form.password, shopper).await {
            Ok(SignIn::Tokens(tokens)) => return Ok(signed_in(&state, &ctx, &headers, tokens, next).await),
            Ok(SignIn::SecondFactor(challenge)) => {
                return Ok(second_factor::continue_login(&state, &ctx, &challenge, next));
            }
            Err(CustomerCallError::InvalidCredentials) => {
                (StatusCode::UNAUTHORIZED, "Email or password is incorrect.".to_owned())
            }
            Err(CustomerCallError::RateLimited { retry_after }) => {
                let message = format!("Too many attempts. Try again in {retry_after} seconds.");
                let view = LoginView::new(&ctx, &form.email, next, Some(message));
                let response = page(&ctx, StatusCode::TOO_MANY_REQUESTS, "Log in", &view);
                return Ok(retry_later(retry_after, response));
            }
            Err(e) => return Err(e.into()),
        }
    };
    Ok(page(
        &ctx,
        status,
        "Log in",
        &LoginView::new(&ctx, &form.email, next, Some(message)),
    ))
}

/// Starts the session and sends the browser on to `next`, after moving the cart it filled
/// as a guest into the account's.
async fn signed_in(state: &AppState, ctx: &PageContext, headers: &HeaderMap, tokens: Tokens, next: &str) -> Response {
    let cart_cookie = join_guest_cart(state, &tokens.access_token, headers).await;
    (SessionChange::Start(tokens), cart_cookie, see_other(ctx, next)).into_response()
}

async fn logout(State(state): State<AppState>, ctx: PageContext, session: Option<Extension<Session>>) -> Response {
    if let Some(refresh_token) = session.and_then(|Extension(s)| s.refresh_token)
        && let Err(e) = state.customer.logout(&refresh_token).await
    {
        // The cookies go anyway; the refresh token expires on its own.
        tracing::warn!(error = %e, "ending the session at customer failed");
    }
    (SessionChange::End, see_other(&ctx, "/")).into_response()
}

/// Ends the shopper's sessions on every device, then this one's cookies; a visitor without a
/// session is simply sent home.
async fn logout_everywhere(
    State(state): State<AppState>,
    ctx: PageContext,
    session: Option<Extension<Session>>,
) -> Result<Response, WebError> {
    if let Some(token) = session.and_then(|Extension(s)| s.access_token) {
        match state.customer.logout_everywhere(&token).await {
            Ok(()) | Err(CustomerCallError::SessionEnded) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok((SessionChange::End, see_other(&ctx, "/")).into_response())
}

async fn password_page(ctx: PageContext, _user: SignedIn, Query(query): Query<PasswordQuery>) -> Response {
    let view = PasswordView::new(&ctx, query.changed, BTreeMap::new());
    page(&ctx, StatusCode::OK, "Change your password", &view)
}

/// Changes the password; every other device is signed out, and this browser goes on in the new
/// session customer starts.
async fn change_password(
    State(state): State<AppState>,
    ctx: PageContext,
    user: SignedIn,
    ClientAddress(shopper): ClientAddress,
    AppForm(form): AppForm<PasswordForm>,
) -> Result<Response, WebError> {
    let title = "Change your password";
    match state
        .customer
        .change_password(&user.access_token, &form.current_password, &form.new_password, shopper)
        .await
    {
        Ok(tokens) => Ok((
            SessionChange::Start(tokens),
            see_other(&ctx, "/account/password?changed=true"),
        )
            .into_response()),
        Err(CustomerCallError::Fields(errors)) => {
            let view = PasswordView::new(&ctx, false, errors);
            Ok(page(&ctx, StatusCode::UNPROCESSABLE_ENTITY, title, &view))
        }
        Err(CustomerCallError::RateLimited { retry_after }) => {
            let message = format!("Too many attempts. Try again in {retry_after} seconds.");
            let view = PasswordView::new(&ctx, false, BTreeMap::from([("form".to_owned(), message)]));
            let response = page(&ctx, StatusCode::TOO_MANY_REQUESTS, title, &view);
            Ok(retry_later(retry_after, response))
        }
        Err(e) => Err(e.into()),
    }
}

/// `next` when it is a path on this site, `/` otherwise (no open redirects).
pub fn local_path(next: &str) -> &str {
    let safe =
        next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && !next.chars().any(char::is_control);
    if safe { next } else { "/" }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn next_keeps_local_paths() {
        assert_eq!(local_path("/"), "/");
        assert_eq!(local_path("/orders?page=2"), "/orders?page=2");
        assert_eq!(local_path("/orders/1#top"), "/orders/1#top");
    }

    #[test]
    fn next_refuses_anything_that_leaves_the_site() {
        for next in [
            "",
            "orders",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "/\tevil",
            "/\n//evil.example",
        ] {
            assert_eq!(local_path(next), "/", "{next:?}");
        }
    }
}
