//! The second step of a login for accounts with a second factor (and for operators who must
//! enrol one first), and the operator's own enrolment from the console. The challenge
//! customer hands out after the password lives in a short-lived cookie of its own, so the
//! page survives a reload or the back button and no other page ever sees it.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::views::{EnrolmentView, LoginView, RecoveryCodesView, SecondFactorView};
use super::{NextQuery, local_path, signed_in};
use crate::app::AppState;
use crate::clients::customer::{Challenge, CustomerCallError, Enrolled, Requirement};
use crate::csrf::CsrfToken;
use crate::error::{AppForm, WebError};
use crate::render::{PageContext, page, retry_later, see_other};
use crate::session::SessionChange;
use crate::session::cookies::{self, SetCookies};
use platform::http::ClientAddress;

pub fn router() -> Router<AppState> {
    Router::new().route("/login/second-factor", get(code_page).post(submit_code))
}

const TITLE: &str = "Second step of your login";

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
}

/// The challenge of the login in progress, from its cookie: `<requirement>.<token>`.
struct Pending {
    requirement: Requirement,
    challenge: String,
}

fn pending(state: &AppState, jar: &CookieJar) -> Option<Pending> {
    let value = jar.get(cookies::CHALLENGE.get(state.settings.secure_cookies))?.value();
    let (kind, challenge) = value.split_once('.')?;
    let requirement = match kind {
        "code" => Requirement::Code,
        "enrolment" => Requirement::Enrolment,
        _ => return None,
    };
    Some(Pending {
        requirement,
        challenge: challenge.to_owned(),
    })
}

/// Keeps `challenge` for the second step and sends the browser there.
pub(super) fn continue_login(state: &AppState, ctx: &PageContext, challenge: &Challenge, next: &str) -> Response {
    let kind = match challenge.second_factor {
        Requirement::Code => "code",
        Requirement::Enrolment => "enrolment",
    };
    let secure = state.settings.secure_cookies;
    let cookie = cookies::set_cookie(
        cookies::CHALLENGE,
        &format!("{kind}.{}", challenge.challenge),
        Some(challenge.expires_in),
        secure,
    );
    let location = format!(
        "/login/second-factor?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", next)
            .finish()
    );
    (SetCookies(vec![cookie]), see_other(ctx, &location)).into_response()
}

fn forget_challenge(state: &AppState) -> SetCookies {
    SetCookies(vec![cookies::removal(
        cookies::CHALLENGE,
        state.settings.secure_cookies,
    )])
}

/// The login page again, saying the challenge is over (expired, used, or too many wrong codes).
fn start_over(state: &AppState, ctx: &PageContext, next: &str) -> Response {
    let message = "That sign-in expired or saw too many wrong codes. Log in again.".to_owned();
    let view = LoginView::new(ctx, "", next, Some(message));
    (
        forget_challenge(state),
        page(ctx, StatusCode::UNAUTHORIZED, "Log in", &view),
    )
        .into_response()
}

async fn code_page(
    State(state): State<AppState>,
    ctx: PageContext,
    jar: CookieJar,
    Query(query): Query<NextQuery>,
) -> Result<Response, WebError> {
    let next = local_path(&query.next);
    let Some(pending) = pending(&state, &jar) else {
        return Ok(see_other(&ctx, "/login"));
    };
    code_form(&state, &ctx, &pending, next, BTreeMap::new(), StatusCode::OK).await
}

async fn code_form(
    state: &AppState,
    ctx: &PageContext,
    pending: &Pending,
    next: &str,
    errors: BTreeMap<String, String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let enrolment = match pending.requirement {
        Requirement::Code => None,
        Requirement::Enrolment => match state.customer.enrolment_at_login(&pending.challenge).await {
            Ok(enrolment) => Some(EnrolmentView::new(&enrolment)?),
            Err(CustomerCallError::SessionEnded) => return Ok(start_over(state, ctx, next)),
            Err(e) => return Err(e.into()),
        },
    };
    let view = SecondFactorView::for_login(ctx, next, enrolment, errors);
    Ok(page(ctx, status, TITLE, &view))
}

async fn submit_code(
    State(state): State<AppState>,
    ctx: PageContext,
    Extension(csrf): Extension<CsrfToken>,
    jar: CookieJar,
    headers: HeaderMap,
    ClientAddress(shopper): ClientAddress,
    AppForm(form): AppForm<CodeForm>,
) -> Result<Response, WebError> {
    let next = local_path(&form.next);
    let Some(pending) = pending(&state, &jar) else {
        return Ok(start_over(&state, &ctx, next));
    };
    match pending.requirement {
        Requirement::Code => match state
            .customer
            .sign_in_with_code(&pending.challenge, &form.code, shopper)
            .await
        {
            Ok(tokens) => Ok((
                forget_challenge(&state),
                signed_in(&state, &ctx, &headers, tokens, next).await,
            )
                .into_response()),
            Err(error) => refused(&state, &ctx, &pending, next, error).await,
        },
        Requirement::Enrolment => match state
            .customer
            .enrol_at_login(&pending.challenge, &form.code, shopper)
            .await
        {
            Ok(enrolled) => Ok((
                forget_challenge(&state),
                show_recovery_codes(&state, &ctx, &csrf, enrolled, next).await?,
            )
                .into_response()),
            Err(error) => refused(&state, &ctx, &pending, next, error).await,
        },
    }
}

/// The session starts, and its recovery codes are shown this once, on a page of the new
/// session (its header's forms carry that session's CSRF token).
pub(crate) async fn show_recovery_codes(
    state: &AppState,
    ctx: &PageContext,
    csrf: &CsrfToken,
    enrolled: Enrolled,
    next: &str,
) -> Result<Response, WebError> {
    let claims = state
        .verifier
        .verify(&enrolled.tokens.access_token)
        .await
        .map_err(|e| WebError::Internal(format!("a freshly issued access token does not verify: {e}")))?;
    let ctx = PageContext {
        csrf_token: csrf.for_session(&state.csrf_key, claims.sid).value,
        user: Some(claims.into()),
        ..ctx.clone()
    };
    let view = RecoveryCodesView {
        codes: enrolled.recovery_codes,
        next,
    };
    Ok((
        SessionChange::Start(enrolled.tokens),
        page(&ctx, StatusCode::OK, "Your recovery codes", &view),
    )
        .into_response())
}

/// A code customer did not take: the form again with why.
async fn refused(
    state: &AppState,
    ctx: &PageContext,
    pending: &Pending,
    next: &str,
    error: CustomerCallError,
) -> Result<Response, WebError> {
    match error {
        CustomerCallError::Fields(errors) => {
            code_form(state, ctx, pending, next, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        CustomerCallError::RateLimited { retry_after } => {
            let message = format!("Too many wrong codes. Try again in {retry_after} seconds.");
            let errors = BTreeMap::from([("form".to_owned(), message)]);
            let response = code_form(state, ctx, pending, next, errors, StatusCode::TOO_MANY_REQUESTS).await?;
            Ok(retry_later(retry_after, response))
        }
        CustomerCallError::SessionEnded | CustomerCallError::Refused(_) => Ok(start_over(state, ctx, next)),
        other => Err(other.into()),
    }
}
