//! The operator's own second factor: enrolling one from the console (a QR code, then a first
//! code), after which every other session of theirs ends and each login asks for a code.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;

use super::OperatorSession;
use crate::accounts::{EnrolmentView, SecondFactorView, show_recovery_codes};
use crate::app::AppState;
use crate::clients::customer::CustomerCallError;
use crate::csrf::CsrfToken;
use crate::error::{AppForm, WebError};
use crate::render::{PageContext, page, retry_later};
use platform::http::ClientAddress;

pub fn router() -> Router<AppState> {
    Router::new().route("/ops/second-factor", get(status_page).post(enrol))
}

const TITLE: &str = "Second factor · Operator";

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
}

async fn status_page(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
) -> Result<Response, WebError> {
    enrolment_form(&state, &ctx, &operator, BTreeMap::new(), StatusCode::OK).await
}

/// The enrolment form (the same secret until it is confirmed), or that one is enrolled.
async fn enrolment_form(
    state: &AppState,
    ctx: &PageContext,
    operator: &OperatorSession,
    errors: BTreeMap<String, String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let token = &operator.access_token;
    let current = state.customer.second_factor_status(token).await?;
    let view = if current.enrolled {
        SecondFactorView::for_console(ctx, None, Some(current.recovery_codes_left), errors)
    } else {
        let enrolment = EnrolmentView::new(&state.customer.my_enrolment(token).await?)?;
        SecondFactorView::for_console(ctx, Some(enrolment), None, errors)
    };
    Ok(page(ctx, status, TITLE, &view))
}

async fn enrol(
    State(state): State<AppState>,
    ctx: PageContext,
    Extension(csrf): Extension<CsrfToken>,
    operator: OperatorSession,
    ClientAddress(address): ClientAddress,
    AppForm(form): AppForm<CodeForm>,
) -> Result<Response, WebError> {
    match state
        .customer
        .enrol_mine(&operator.access_token, &form.code, address)
        .await
    {
        Ok(enrolled) => show_recovery_codes(&state, &ctx, &csrf, enrolled, "/ops").await,
        Err(CustomerCallError::Fields(errors)) => {
            enrolment_form(&state, &ctx, &operator, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(CustomerCallError::RateLimited { retry_after }) => {
            let message = format!("Too many wrong codes. Try again in {retry_after} seconds.");
            let errors = BTreeMap::from([("form".to_owned(), message)]);
            let response = enrolment_form(&state, &ctx, &operator, errors, StatusCode::TOO_MANY_REQUESTS).await?;
            Ok(retry_later(retry_after, response))
        }
        // Enrolled meanwhile (another tab): the page says so.
        Err(CustomerCallError::Refused(_)) => {
            enrolment_form(&state, &ctx, &operator, BTreeMap::new(), StatusCode::CONFLICT).await
        }
        Err(e) => Err(e.into()),
    }
}
