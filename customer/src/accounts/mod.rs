//! Accounts: registration, the caller's profile and password, and the operator account from
//! settings.

pub mod domain;
pub mod password;
pub mod store;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use contracts::Role;
use platform::FieldErrors;
use platform::auth::Caller;
use platform::http::{AppJson, ClientAddress};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::{CustomerError, Result};
use crate::second_factor::{self, totp::Secret};
use crate::sessions::refresh::{self, Ending};
use crate::sessions::{TokenBody, hashed, tokens};
use crate::throttle;
use domain::{DisplayName, Email, Password};
use platform::db::violates;
use store::Account;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(me))
        .routes(routes!(change_password))
}

#[derive(Deserialize, ToSchema)]
struct RegisterRequest {
    #[serde(default)]
    #[schema(required = true, format = Email, max_length = 254)]
    email: String,
    /// 8 to 128 characters, not one repeated, not a common password, not the email.
    #[serde(default)]
    #[schema(required = true, min_length = 8, max_length = 128)]
    password: String,
    /// Up to 100 characters, no control characters, not blank.
    #[serde(default)]
    #[schema(
        required = true,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    name: String,
}

#[derive(Serialize, ToSchema)]
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
#[utoipa::path(post, path = "/api/auth/register", tag = "accounts", request_body = RegisterRequest,
    responses(
        (status = 201, description = "The new shopper account.", body = AccountBody),
        (status = 409, description = "The email is taken (`email_taken`, named in `fields`).", body = api::ErrorBody),
        (status = 429, description = "Too many registrations from this address (`Retry-After`).", body = api::ErrorBody),
    ))]
async fn register(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    AppJson(request): AppJson<RegisterRequest>,
) -> Result<(StatusCode, Json<AccountBody>)> {
    let mut errors = FieldErrors::new();
    let email = errors.check("email", Email::parse(&request.email));
    let name = errors.check("name", DisplayName::parse(&request.name));
    let password = errors.check("password", Password::parse(&request.password, email.as_ref()));
    let (Some(email), Some(name), Some(password)) = (email, name, password) else {
        return Err(CustomerError::Validation(errors));
    };
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

#[derive(Deserialize, ToSchema)]
struct PasswordChange {
    #[serde(default)]
    #[schema(required = true)]
    current_password: String,
    /// As for registration: 8 to 128 characters, not one repeated, not common, not the email.
    #[serde(default)]
    #[schema(required = true, min_length = 8, max_length = 128)]
    new_password: String,
}

/// Changes the caller's password, which ends every session of the account (on every device,
/// and in every service within seconds) and starts a new one for the caller. A wrong current
/// password counts as a failed login from the caller's address.
#[utoipa::path(post, path = "/api/me/password", tag = "accounts", request_body = PasswordChange,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tokens of a new session; every earlier one ended.", body = TokenBody),
        (status = 429, description = "Too many wrong current passwords (`Retry-After`).", body = api::ErrorBody),
    ))]
async fn change_password(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    Caller(claims): Caller,
    AppJson(request): AppJson<PasswordChange>,
) -> Result<Json<TokenBody>> {
    let account = caller_account(&state, &claims).await?;
    let rules = throttle::login_rules(&account.email, address, &state.settings.login_limits);
    if let Some(retry_after) = throttle::retry_after(&state.db, &rules).await? {
        tracing::warn!(%address, account = %hashed(&account.email), retry_after, "password change refused: too many failures");
        return Err(CustomerError::RateLimited { retry_after });
    }
    let mut errors = FieldErrors::new();
    let current_matches = state
        .hasher
        .verify(&request.current_password, Some(account.password_hash.clone()))
        .await?;
    if !current_matches {
        throttle::record(&state.db, &rules).await?;
        tracing::warn!(%address, account = %hashed(&account.email), "password change refused: wrong current password");
        errors.add("current_password", "This is not your current password.");
    }
    let email = Email::parse(&account.email).ok();
    let password = errors.check("new_password", Password::parse(&request.new_password, email.as_ref()));
    if current_matches && request.new_password == request.current_password {
        errors.add("new_password", "Choose a password other than your current one.");
    }
    let (Some(password), true) = (password, errors.is_empty()) else {
        return Err(CustomerError::Validation(errors));
    };
    let hash = state.hasher.hash(password.expose()).await?;
    let lifetime = state.settings.session_lifetime();
    let mut tx = state.db.begin().await?;
    // The new session showed what the caller's did: its login, and the current password now.
    let proof = refresh::proof_of(&mut tx, claims.sid).await?;
    store::set_password(&mut *tx, account.id, &hash).await?;
    refresh::end(&mut tx, Ending::OfCustomer(account.id), lifetime).await?;
    let session = refresh::start(&mut tx, account.id, proof, lifetime).await?;
    tx.commit().await?;
    state.announcements.wake();
    tracing::info!(customer_id = %account.id, "password changed; every other session ended");
    Ok(Json(tokens(&state, &account, session)?))
}

/// The caller's account.
#[utoipa::path(get, path = "/api/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "The caller's account.", body = AccountBody)))]
async fn me(State(state): State<AppState>, Caller(claims): Caller) -> Result<Json<AccountBody>> {
    let account = caller_account(&state, &claims).await?;
    Ok(Json(account.into()))
}

/// The account of a verified caller (gone only if it was deleted since the token was issued).
pub async fn caller_account(state: &AppState, claims: &contracts::Claims) -> Result<Account> {
    store::find_by_id(&state.db, claims.sub)
        .await?
        .ok_or(CustomerError::NotFound)
}

/// Creates the operator account from settings, or resets its password and role when they
/// differ, and enrols the TOTP secret from settings when there is one and it differs; its
/// earlier sessions then end. Another instance starting, or a restart, with the same settings
/// changes nothing and ends no session.
pub async fn ensure_operator(
    state: &AppState,
    email: &str,
    password: &SecretString,
    totp_secret: Option<&SecretString>,
) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("SHOP_OPERATOR_EMAIL: {e}"))?;
    let password = Password::parse(password.expose_secret(), Some(&email))
        .map_err(|e| anyhow::anyhow!("SHOP_OPERATOR_PASSWORD: {e}"))?;
    let totp_secret = totp_secret
        .map(|s| Secret::parse(s.expose_secret()))
        .transpose()
        .map_err(|e| anyhow::anyhow!("SHOP_OPERATOR_TOTP_SECRET {e}"))?;
    let existing = store::find_by_email(&state.db, email.as_str())
        .await?
        .filter(|account| account.role == Role::Operator);
    let current = match existing {
        Some(account)
            if state
                .hasher
                .verify(password.expose(), Some(account.password_hash.clone()))
                .await? =>
        {
            Some(account)
        }
        _ => None,
    };
    let mut tx = state.db.begin().await?;
    let (account, mut changed) = match current {
        Some(account) => (account, false),
        None => {
            let hash = state.hasher.hash(password.expose()).await?;
            (store::upsert_operator(&mut *tx, &email, &hash).await?, true)
        }
    };
    if let Some(secret) = &totp_secret {
        changed |= second_factor::store::set_confirmed(&mut *tx, account.id, secret).await?;
    }
    if !changed {
        tracing::info!(customer_id = %account.id, "operator account ready");
        return Ok(());
    }
    refresh::end(
        &mut tx,
        Ending::OfCustomer(account.id),
        state.settings.session_lifetime(),
    )
    .await?;
    tx.commit().await?;
    state.announcements.wake();
    tracing::info!(customer_id = %account.id, "operator account set up; its earlier sessions ended");
    Ok(())
}
