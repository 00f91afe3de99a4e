//! Accounts: registration, the caller's profile, and the operator account from settings.

pub mod domain;
pub mod password;
pub mod store;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use contracts::Role;
use platform::FieldErrors;
use platform::auth::Caller;
use platform::http::{AppJson, client_ip};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::{CustomerError, Result};
use crate::sessions::refresh;
use crate::throttle;
use domain::{DisplayName, Email, Password};
use platform::db::violates;
use store::Account;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/me", get(me))
}

#[derive(Deserialize)]
struct RegisterRequest {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    name: String,
}

#[derive(Serialize)]
struct AccountBody {
    id: Uuid,
    email: String,
    name: String,
    role: Role,
}

impl From<Account> for AccountBody {
    fn from(a: Account) -> Self {
        Self {
            id: a.id,
            email: a.email,
            name: a.name,
            role: a.role,
        }
    }
}

/// Registration is limited per address: every well-formed attempt counts, taken emails
/// included, so accounts cannot be made (nor taken emails found) at speed.
async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    AppJson(request): AppJson<RegisterRequest>,
) -> Result<(StatusCode, Json<AccountBody>)> {
    let mut errors = FieldErrors::new();
    let email = errors.check("email", Email::parse(&request.email));
    let name = errors.check("name", DisplayName::parse(&request.name));
    let password = errors.check("password", Password::parse(&request.password, email.as_ref()));
    let (Some(email), Some(name), Some(password)) = (email, name, password) else {
        return Err(CustomerError::Validation(errors));
    };
    let address = client_ip(peer, &headers, &state.settings.trusted_proxies);
    let rule = throttle::registration_rule(address, &state.settings.registration_limits);
    if let Some(retry_after) = throttle::retry_after(&state.db, std::slice::from_ref(&rule)).await? {
        tracing::warn!(%address, retry_after, "registration refused: too many from this address");
        return Err(CustomerError::RateLimited { retry_after });
    }
    throttle::record(&state.db, std::slice::from_ref(&rule)).await?;
    let hash = state.hasher.hash(password.expose()).await?;
    let account = store::insert(&state.db, &email, &name, &hash, Role::Shopper)
        .await
        .map_err(|e| {
            if violates(&e, "customers_email_key") {
                CustomerError::EmailTaken
            } else {
                e.into()
            }
        })?;
    tracing::info!(customer_id = %account.id, "account registered");
    Ok((StatusCode::CREATED, Json(account.into())))
}

async fn me(State(state): State<AppState>, Caller(claims): Caller) -> Result<Json<AccountBody>> {
    let account = store::find_by_id(&state.db, claims.sub)
        .await?
        .ok_or(CustomerError::NotFound)?;
    Ok(Json(account.into()))
}

/// Creates the operator account from settings, or resets its password and role; its
/// earlier sessions end, since the password changed.
pub async fn ensure_operator(state: &AppState, email: &str, password: &SecretString) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("SHOP_OPERATOR_EMAIL: {e}"))?;
    let password = Password::parse(password.expose_secret(), Some(&email))
        .map_err(|e| anyhow::anyhow!("SHOP_OPERATOR_PASSWORD: {e}"))?;
    let hash = state.hasher.hash(password.expose()).await?;
    let mut tx = state.db.begin().await?;
    let account = store::upsert_operator(&mut *tx, &email, &hash).await?;
    refresh::revoke_all(&mut tx, account.id).await?;
    tx.commit().await?;
    tracing::info!(customer_id = %account.id, "operator account ready");
    Ok(())
}
