//! Sessions: login (rate limited), refresh-token rotation, logout (here or everywhere), the
//! announcement of ended sessions to every service, and the public keys other services verify
//! access tokens with.

pub mod announce;
pub mod refresh;
pub mod signing;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use platform::auth::Caller;
use platform::http::{AppJson, client_ip};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::accounts::store::{self, Account};
use crate::app::AppState;
use crate::error::{CustomerError, Result};
use crate::throttle;
use refresh::{Ending, IssuedRefreshToken, Rotation};
use signing::Subject;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh_session))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/logout-everywhere", post(logout_everywhere))
        .route(platform::auth::JWKS_PATH, get(jwks))
}

#[derive(Deserialize)]
struct LoginRequest {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
struct RefreshRequest {
    #[serde(default)]
    refresh_token: String,
}

/// Tokens handed out at login, on refresh and after a password change.
#[derive(Serialize)]
pub struct TokenBody {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
    refresh_expires_in: u64,
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    AppJson(request): AppJson<LoginRequest>,
) -> Result<Json<TokenBody>> {
    // Normalized like a stored email, but not validated: an invalid one simply matches nothing.
    let email = request.email.trim().to_lowercase();
    let address = client_ip(peer, &headers, &state.settings.trusted_proxies);
    let rules = throttle::login_rules(&email, address, &state.settings.login_limits);
    if let Some(retry_after) = throttle::retry_after(&state.db, &rules).await? {
        state.login_outcome("rate_limited");
        tracing::warn!(%address, account = %hashed(&email), retry_after, "login refused: too many failures");
        return Err(CustomerError::RateLimited { retry_after });
    }
    let account = store::find_by_email(&state.db, &email).await?;
    let matches = state
        .hasher
        .verify(&request.password, account.as_ref().map(|a| a.password_hash.clone()))
        .await?;
    let Some(account) = account.filter(|_| matches) else {
        throttle::record(&state.db, &rules).await?;
        state.login_outcome("failed");
        tracing::warn!(%address, account = %hashed(&email), "login failed");
        return Err(CustomerError::InvalidCredentials);
    };
    // This address knows the password now; its own failures on the account are forgotten.
    throttle::clear(&state.db, &rules[0]).await?;
    let mut conn = state.db.acquire().await?;
    let refresh = refresh::start(&mut conn, account.id, state.settings.session_lifetime()).await?;
    state.login_outcome("succeeded");
    tracing::info!(customer_id = %account.id, "logged in");
    Ok(Json(tokens(&state, &account, refresh)?))
}

async fn refresh_session(
    State(state): State<AppState>,
    AppJson(request): AppJson<RefreshRequest>,
) -> Result<Json<TokenBody>> {
    match refresh::rotate(&state.db, &request.refresh_token, state.settings.session_lifetime()).await? {
        Rotation::Rotated { customer_id, next } => {
            let account = store::find_by_id(&state.db, customer_id)
                .await?
                .ok_or(CustomerError::InvalidRefreshToken)?;
            Ok(Json(tokens(&state, &account, next)?))
        }
        Rotation::Reused { customer_id } => {
            state.announcements.wake();
            tracing::warn!(%customer_id, "refresh token reused; its session is ended");
            Err(CustomerError::InvalidRefreshToken)
        }
        Rotation::Invalid => Err(CustomerError::InvalidRefreshToken),
    }
}

/// Ends the session of the refresh token; every service refuses its access tokens within
/// seconds (`announce`).
async fn logout(State(state): State<AppState>, AppJson(request): AppJson<RefreshRequest>) -> Result<StatusCode> {
    let mut conn = state.db.acquire().await?;
    refresh::end(
        &mut conn,
        Ending::OfToken(&request.refresh_token),
        state.settings.session_lifetime(),
    )
    .await?;
    state.announcements.wake();
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the caller, on every device.
async fn logout_everywhere(State(state): State<AppState>, Caller(claims): Caller) -> Result<StatusCode> {
    let mut conn = state.db.acquire().await?;
    refresh::end(
        &mut conn,
        Ending::OfCustomer(claims.sub),
        state.settings.session_lifetime(),
    )
    .await?;
    state.announcements.wake();
    tracing::info!(customer_id = %claims.sub, "logged out everywhere");
    Ok(StatusCode::NO_CONTENT)
}

async fn jwks(State(state): State<AppState>) -> Json<jsonwebtoken::jwk::JwkSet> {
    Json(state.signer.jwks().clone())
}

/// An email as security logs name it: enough to tell attempts on one account apart, not
/// the address itself.
pub fn hashed(email: &str) -> String {
    let digest = Sha256::digest(email.as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// The access token of `refresh`'s session for `account`, with `refresh` itself.
pub fn tokens(state: &AppState, account: &Account, refresh: IssuedRefreshToken) -> Result<TokenBody> {
    let access_token = state.signer.mint(&Subject {
        id: account.id,
        session: refresh.session,
        role: account.role,
        name: &account.name,
        email: &account.email,
    })?;
    Ok(TokenBody {
        access_token,
        token_type: "Bearer",
        expires_in: state.signer.ttl().as_secs(),
        refresh_token: refresh.token,
        refresh_expires_in: refresh.expires_in,
    })
}
