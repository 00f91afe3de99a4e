//! A second factor (TOTP) for sign-in. Once an account has one, or is an operator while
//! `CUSTOMER_REQUIRE_OPERATOR_SECOND_FACTOR` is on, its password alone only earns a
//! challenge: a short-lived token that a code from the authenticator (or a recovery code)
//! turns into a session, or that an operator without a factor yet enrols one with. Every
//! session of such an account therefore showed the factor: enrolling ends the others, and a
//! session started without it is not refreshed once the account needs it.
//!
//! Wrong codes count against the login limits of the account and address, against the
//! account alone (someone holding the password may not guess codes from many addresses) and
//! against the challenge, which dies after five.

pub mod recovery;
pub mod store;
pub mod totp;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use contracts::Role;
use platform::FieldErrors;
use platform::auth::Caller;
use platform::http::{AppJson, ClientAddress};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::caller_account;
use crate::accounts::store::{self as accounts, Account};
use crate::app::AppState;
use crate::error::{CustomerError, Result};
use crate::sessions::refresh::{self, Ending, Proof};
use crate::sessions::{TokenBody, hashed, new_opaque_token, opaque_hash, tokens};
use crate::throttle;
use totp::Secret;

/// The issuer authenticator apps list the shop's codes under.
const ISSUER: &str = "Shop";
/// How long a challenge lives after its password was right.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(5 * 60);
/// Wrong codes a challenge takes before it is dead and the password must be typed again.
const CHALLENGE_MAX_FAILURES: i32 = 5;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in))
        .routes(routes!(enrolment_at_login))
        .routes(routes!(enrol_at_login))
        .routes(routes!(status, my_enrolment))
        .routes(routes!(enrol_mine))
}

/// What a login with the right password still has to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    /// A code from the enrolled authenticator, or a recovery code.
    Code,
    /// An operator who must have a factor and has none: enrol one now.
    Enrolment,
}

/// The requirement for `account`'s logins, None when the password is enough.
pub async fn requirement(state: &AppState, account: &Account) -> Result<Option<Requirement>> {
    let enrolled = store::factor(&state.db, account.id).await?.is_some_and(|f| f.confirmed);
    Ok(requirement_of(state, account, enrolled))
}

/// The requirement for `account`, which has a confirmed factor when `enrolled`.
fn requirement_of(state: &AppState, account: &Account, enrolled: bool) -> Option<Requirement> {
    if enrolled {
        Some(Requirement::Code)
    } else if account.role == Role::Operator && state.settings.require_operator_second_factor {
        Some(Requirement::Enrolment)
    } else {
        None
    }
}

/// The answer to a right password when a second factor must follow.
#[derive(Serialize, ToSchema)]
pub struct ChallengeBody {
    second_factor: Requirement,
    challenge: String,
    expires_in: u64,
}

/// Starts a challenge for `account`, whose password was just shown.
pub async fn challenge(state: &AppState, account: &Account, requirement: Requirement) -> Result<ChallengeBody> {
    let token = new_opaque_token()?;
    let mut conn = state.db.acquire().await?;
    store::new_challenge(&mut conn, &opaque_hash(&token), account.id, CHALLENGE_TTL).await?;
    Ok(ChallengeBody {
        second_factor: requirement,
        challenge: token,
        expires_in: CHALLENGE_TTL.as_secs(),
    })
}

#[derive(Deserialize, ToSchema)]
struct ChallengeRequest {
    #[serde(default)]
    #[schema(required = true)]
    challenge: String,
}

#[derive(Deserialize, ToSchema)]
struct CodeRequest {
    #[serde(default)]
    #[schema(required = true)]
    challenge: String,
    /// Six digits from the authenticator, or a recovery code.
    #[serde(default)]
    #[schema(required = true)]
    code: String,
}

#[derive(Deserialize, ToSchema)]
struct MyCodeRequest {
    /// Six digits from the authenticator being enrolled.
    #[serde(default)]
    #[schema(required = true)]
    code: String,
}

/// A factor to enrol: the secret to type, or the URI to show as a QR code.
#[derive(Serialize, ToSchema)]
struct EnrolmentBody {
    secret: String,
    otpauth_uri: String,
}

/// A confirmed enrolment: the new session's tokens and the recovery codes, shown only now.
#[derive(Serialize, ToSchema)]
struct EnrolledBody {
    #[serde(flatten)]
    tokens: TokenBody,
    recovery_codes: Vec<String>,
}

#[derive(Serialize, ToSchema)]
struct StatusBody {
    enrolled: bool,
    /// Whether this account may not sign in without one.
    required: bool,
    recovery_codes_left: i64,
}

/// The account a live challenge belongs to.
struct Challenged {
    account: Account,
    token_hash: Vec<u8>,
}

async fn challenged(state: &AppState, challenge: &str) -> Result<Challenged> {
    let token_hash = opaque_hash(challenge);
    let customer_id = store::challenge(&state.db, &token_hash, CHALLENGE_MAX_FAILURES)
        .await?
        .ok_or(CustomerError::InvalidChallenge)?;
    let account = accounts::find_by_id(&state.db, customer_id)
        .await?
        .ok_or(CustomerError::InvalidChallenge)?;
    Ok(Challenged { account, token_hash })
}

/// Completes a login with its code.
#[utoipa::path(post, path = "/api/auth/second-factor", tag = "sessions", request_body = CodeRequest,
    responses(
        (status = 200, description = "The session.", body = TokenBody),
        (status = 401, description = "The challenge expired, was used or saw five wrong codes (`invalid_challenge`).", body = api::ErrorBody),
        (status = 429, description = "Too many wrong codes (`Retry-After`).", body = api::ErrorBody),
    ))]
async fn sign_in(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    AppJson(request): AppJson<CodeRequest>,
) -> Result<Json<TokenBody>> {
    let Challenged { account, token_hash } = challenged(&state, &request.challenge).await?;
    let rules = throttle::second_factor_rules(&account.email, account.id, address, &state.settings.login_limits);
    let mut tx = state.db.begin().await?;
    let accepted = accept_code(
        &state,
        &mut tx,
        &account,
        &request.code,
        Accepting::CodeOrRecovery,
        &rules,
    )
    .await?;
    if !accepted {
        return Err(wrong_code(&state, &account, &rules, address, Some(&token_hash)).await?);
    }
    if !store::end_challenge(&mut *tx, &token_hash).await? {
        return Err(CustomerError::InvalidChallenge);
    }
    let session = refresh::start(
        &mut tx,
        account.id,
        Proof::PasswordAndSecondFactor,
        state.settings.session_lifetime(),
    )
    .await?;
    tx.commit().await?;
    signed_in(&state, &account, &rules).await?;
    Ok(Json(tokens(&state, &account, session)?))
}

/// The factor an operator who must have one enrols at login (the same until confirmed).
#[utoipa::path(post, path = "/api/auth/second-factor/enrolment", tag = "sessions", request_body = ChallengeRequest,
    responses(
        (status = 200, description = "The secret to enrol.", body = EnrolmentBody),
        (status = 401, description = "The challenge expired, was used or saw five wrong codes (`invalid_challenge`).", body = api::ErrorBody),
        (status = 409, description = "A factor is enrolled already (`second_factor_enrolled`).", body = api::ErrorBody),
    ))]
async fn enrolment_at_login(
    State(state): State<AppState>,
    AppJson(request): AppJson<ChallengeRequest>,
) -> Result<Json<EnrolmentBody>> {
    let Challenged { account, .. } = challenged(&state, &request.challenge).await?;
    Ok(Json(enrolment(&state, &account).await?))
}

/// Confirms the enrolment of an operator at login with its first code.
#[utoipa::path(post, path = "/api/auth/second-factor/enrolment/confirm", tag = "sessions", request_body = CodeRequest,
    responses(
        (status = 200, description = "The session and the recovery codes, shown only now.", body = EnrolledBody),
        (status = 401, description = "The challenge expired, was used or saw five wrong codes (`invalid_challenge`).", body = api::ErrorBody),
        (status = 409, description = "A factor is enrolled already (`second_factor_enrolled`).", body = api::ErrorBody),
        (status = 429, description = "Too many wrong codes (`Retry-After`).", body = api::ErrorBody),
    ))]
async fn enrol_at_login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    AppJson(request): AppJson<CodeRequest>,
) -> Result<Json<EnrolledBody>> {
    let Challenged { account, token_hash } = challenged(&state, &request.challenge).await?;
    Ok(Json(
        enrol(&state, &account, &request.code, address, Some(&token_hash)).await?,
    ))
}

/// Whether the caller has a second factor.
#[utoipa::path(get, path = "/api/me/second-factor", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "The caller's second factor.", body = StatusBody)))]
async fn status(State(state): State<AppState>, Caller(claims): Caller) -> Result<Json<StatusBody>> {
    let account = caller_account(&state, &claims).await?;
    let enrolled = store::factor(&state.db, account.id).await?.is_some_and(|f| f.confirmed);
    Ok(Json(StatusBody {
        enrolled,
        required: requirement_of(&state, &account, enrolled).is_some(),
        recovery_codes_left: store::recovery_codes_left(&state.db, account.id).await?,
    }))
}

/// The factor the caller is to enrol (the same until confirmed).
#[utoipa::path(post, path = "/api/me/second-factor", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 200, description = "The secret to enrol.", body = EnrolmentBody),
        (status = 409, description = "A factor is enrolled already (`second_factor_enrolled`).", body = api::ErrorBody),
    ))]
async fn my_enrolment(State(state): State<AppState>, Caller(claims): Caller) -> Result<Json<EnrolmentBody>> {
    let account = caller_account(&state, &claims).await?;
    Ok(Json(enrolment(&state, &account).await?))
}

/// Confirms the caller's enrolment with its first code; every other session ends.
#[utoipa::path(post, path = "/api/me/second-factor/confirm", tag = "accounts", request_body = MyCodeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A new session and the recovery codes, shown only now.", body = EnrolledBody),
        (status = 409, description = "A factor is enrolled already (`second_factor_enrolled`).", body = api::ErrorBody),
        (status = 429, description = "Too many wrong codes (`Retry-After`).", body = api::ErrorBody),
    ))]
async fn enrol_mine(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    Caller(claims): Caller,
    AppJson(request): AppJson<MyCodeRequest>,
) -> Result<Json<EnrolledBody>> {
    let account = caller_account(&state, &claims).await?;
    Ok(Json(enrol(&state, &account, &request.code, address, None).await?))
}

/// The account's pending factor, made now when it has none; refused once one is enrolled (a
/// second enrolment would let a stolen session replace the factor).
async fn enrolment(state: &AppState, account: &Account) -> Result<EnrolmentBody> {
    let factor = store::pending_or_existing(&state.db, account.id, &Secret::generate()?).await?;
    if factor.confirmed {
        return Err(CustomerError::SecondFactorEnrolled);
    }
    Ok(EnrolmentBody {
        secret: factor.secret.to_base32(),
        otpauth_uri: factor.secret.uri(ISSUER, &account.email),
    })
}

/// Confirms the pending factor with its first code: every other session of the account ends
/// (none of them showed the factor), and a new one starts with fresh recovery codes.
async fn enrol(
    state: &AppState,
    account: &Account,
    code: &str,
    address: std::net::IpAddr,
    challenge_hash: Option<&[u8]>,
) -> Result<EnrolledBody> {
    let rules = throttle::second_factor_rules(&account.email, account.id, address, &state.settings.login_limits);
    let lifetime = state.settings.session_lifetime();
    let mut tx = state.db.begin().await?;
    if !accept_code(state, &mut tx, account, code, Accepting::Enrolment, &rules).await? {
        return Err(wrong_code(state, account, &rules, address, challenge_hash).await?);
    }
    if let Some(challenge_hash) = challenge_hash
        && !store::end_challenge(&mut *tx, challenge_hash).await?
    {
        return Err(CustomerError::InvalidChallenge);
    }
    let codes = recovery::generate()?;
    let hashes: Vec<Vec<u8>> = codes
        .iter()
        .map(|c| recovery::digest(c).expect("a generated code reads back"))
        .collect();
    store::replace_recovery_codes(&mut tx, account.id, &hashes).await?;
    refresh::end(&mut tx, Ending::OfCustomer(account.id), lifetime).await?;
    let session = refresh::start(&mut tx, account.id, Proof::PasswordAndSecondFactor, lifetime).await?;
    tx.commit().await?;
    // After the commit: the announcement task also finds the ended sessions on its own sweep
    // should this request be dropped here.
    state.announcements.wake();
    signed_in(state, account, &rules).await?;
    tracing::info!(customer_id = %account.id, "second factor enrolled; every other session ended");
    Ok(EnrolledBody {
        tokens: tokens(state, account, session)?,
        recovery_codes: codes,
    })
}

/// Which codes a check takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Accepting {
    /// The first code of a pending factor (which it confirms).
    Enrolment,
    /// A code of the enrolled factor, or one of its recovery codes.
    CodeOrRecovery,
}

/// Whether `typed` is a code `account` may use now; using it happens in `tx`, so a code is
/// spent only if the sign-in it serves commits. Refused outright while a rule holds back.
async fn accept_code(
    state: &AppState,
    tx: &mut PgConnection,
    account: &Account,
    typed: &str,
    accepting: Accepting,
    rules: &[throttle::Rule],
) -> Result<bool> {
    if let Some(retry_after) = throttle::retry_after(&state.db, rules).await? {
        tracing::warn!(customer_id = %account.id, retry_after, "second factor refused: too many wrong codes");
        return Err(CustomerError::RateLimited { retry_after });
    }
    let Some(factor) = store::factor(&mut *tx, account.id).await? else {
        return Ok(false);
    };
    match (accepting, factor.confirmed) {
        (Accepting::Enrolment, true) => return Err(CustomerError::SecondFactorEnrolled),
        (Accepting::CodeOrRecovery, false) => return Ok(false),
        _ => {}
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if let Some(step) = totp::accepts(&factor.secret, typed, totp::step_at(now), factor.last_used_step) {
        return Ok(store::use_step(&mut *tx, account.id, step).await?);
    }
    if accepting == Accepting::CodeOrRecovery
        && let Some(digest) = recovery::digest(typed)
        && store::use_recovery_code(&mut *tx, account.id, &digest).await?
    {
        let left = store::recovery_codes_left(&mut *tx, account.id).await?;
        tracing::warn!(customer_id = %account.id, left, "signed in with a recovery code");
        return Ok(true);
    }
    Ok(false)
}

/// Counts a wrong code against every rule and the challenge, and says so next to the field.
async fn wrong_code(
    state: &AppState,
    account: &Account,
    rules: &[throttle::Rule],
    address: std::net::IpAddr,
    challenge_hash: Option<&[u8]>,
) -> Result<CustomerError> {
    throttle::record(&state.db, rules).await?;
    if let Some(challenge_hash) = challenge_hash {
        store::challenge_failed(&state.db, challenge_hash).await?;
    }
    state.login_outcome("second_factor_failed");
    tracing::warn!(%address, account = %hashed(&account.email), "wrong second-factor code");
    let mut errors = FieldErrors::new();
    errors.add(
        "code",
        "This code is not right. Type the six digits your app shows now.",
    );
    Ok(CustomerError::Validation(errors))
}

/// A sign-in that showed both factors: the failures of the account from this address, and
/// of its codes, are forgotten (the address's own count stays).
async fn signed_in(state: &AppState, account: &Account, rules: &[throttle::Rule; 3]) -> Result<()> {
    let [pair, _address, codes] = rules;
    throttle::clear(&state.db, pair).await?;
    throttle::clear(&state.db, codes).await?;
    state.login_outcome("succeeded");
    tracing::info!(customer_id = %account.id, "logged in with a second factor");
    Ok(())
}
