//! Sessions: login (rate limited), refresh-token rotation, logout (here or everywhere), the
//! announcement of ended sessions to every service, and the public keys other services verify
//! access tokens with.

pub mod announce;
pub mod refresh;
pub mod signing;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use platform::auth::Caller;
use platform::http::{AppJson, ClientAddress};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::store::{self, Account};
use crate::app::AppState;
use crate::error::{CustomerError, Result};
use crate::second_factor::{self, ChallengeBody};
use crate::throttle;
use refresh::{Ending, IssuedRefreshToken, Proof, Rotation};
use signing::Subject;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh_session))
        .routes(routes!(logout))
        .routes(routes!(logout_everywhere))
        .routes(routes!(jwks))
}

#[derive(Deserialize, ToSchema)]
struct LoginRequest {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize, ToSchema)]
struct RefreshRequest {
    #[serde(default)]
    refresh_token: String,
}

/// Tokens handed out at login, on refresh and after a password change.
#[derive(Serialize, ToSchema)]
pub struct TokenBody {
    access_token: String,
    /// Always `Bearer`.
    #[schema(value_type = String)]
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
    refresh_expires_in: u64,
}

/// What a right password earns: a session, or a challenge its second factor must meet.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    Tokens(TokenBody),
    SecondFactor(ChallengeBody),
}

#[utoipa::path(post, path = "/api/auth/login", tag = "sessions", request_body = LoginRequest,
    responses(
        (status = 200, description = "A session, or the challenge a second factor must meet.", body = LoginAnswer),
        (status = 401, description = "Email or password is incorrect (`invalid_credentials`).", body = api::ErrorBody),
        (status = 429, description = "Too many failures from this address (`Retry-After`).", body = api::ErrorBody),
    ))]
async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    AppJson(request): AppJson<LoginRequest>,
) -> Result<Json<LoginAnswer>> {
    // Normalized like a stored email, but not validated: an invalid one simply matches nothing.
    let email = request.email.trim().to_lowercase();
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
    if let Some(requirement) = second_factor::requirement(&state, &account).await? {
        // The failures stay counted until the code is right too: a password alone must not
        // buy fresh guesses at the code.
        state.login_outcome("second_factor_required");
        let challenge = second_factor::challenge(&state, &account, requirement).await?;
        return Ok(Json(LoginAnswer::SecondFactor(challenge)));
    }
    // This address knows the password now; its own failures on the account are forgotten.
    throttle::clear(&state.db, &rules[0]).await?;
    let mut conn = state.db.acquire().await?;
    let refresh = refresh::start(
        &mut conn,
        account.id,
        Proof::Password,
        state.settings.session_lifetime(),
    )
    .await?;
    state.login_outcome("succeeded");
    tracing::info!(customer_id = %account.id, "logged in");
    Ok(Json(LoginAnswer::Tokens(tokens(&state, &account, refresh)?)))
}

#[utoipa::path(post, path = "/api/auth/refresh", tag = "sessions", request_body = RefreshRequest,
    responses(
        (status = 200, description = "The session's next tokens; the one shown is spent.", body = TokenBody),
        (status = 401, description = "Unknown, spent, expired or revoked (`invalid_refresh_token`); a spent one ends its session.", body = api::ErrorBody),
    ))]
async fn refresh_session(
    State(state): State<AppState>,
    AppJson(request): AppJson<RefreshRequest>,
) -> Result<Json<TokenBody>> {
    match refresh::rotate(&state.db, &request.refresh_token, state.settings.session_lifetime()).await? {
        Rotation::Rotated { customer_id, next } => {
            let account = store::find_by_id(&state.db, customer_id)
                .await?
                .ok_or(CustomerError::InvalidRefreshToken)?;
            if !next.second_factor && second_factor::requirement(&state, &account).await?.is_some() {
                // Started on a password alone before the account needed more (an operator
                // when the second factor became required).
                let mut conn = state.db.acquire().await?;
                refresh::end(
                    &mut conn,
                    Ending::Session(next.session),
                    state.settings.session_lifetime(),
                )
                .await?;
                state.announcements.wake();
                tracing::warn!(%customer_id, "session without a second factor ended at refresh");
                return Err(CustomerError::InvalidRefreshToken);
            }
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
#[utoipa::path(post, path = "/api/auth/logout", tag = "sessions", request_body = RefreshRequest,
    responses((status = 204, description = "The session ended (an unknown token ends nothing).")))]
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
#[utoipa::path(post, path = "/api/auth/logout-everywhere", tag = "sessions", security(("bearer" = [])),
    responses((status = 204, description = "Every session of the caller ended.")))]
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

/// The public keys access tokens are signed with.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "sessions",
    responses((status = 200, description = "A JSON Web Key Set (RFC 7517) of Ed25519 keys.", body = Object)))]
async fn jwks(State(state): State<AppState>) -> Json<jsonwebtoken::jwk::JwkSet> {
    Json(state.signer.jwks().clone())
}

/// A new opaque token (refresh tokens, second-factor challenges): 32 random bytes, base64url.
pub fn new_opaque_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// What is stored of an opaque token: its SHA-256.
pub fn opaque_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
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
