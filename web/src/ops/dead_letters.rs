//! Handlers of the operator's dead-letter pages: the events customer could not apply, one
//! with its (masked) body and what was done to it, and replaying or discarding a selection or
//! all of them. An action's form leads to a confirmation page (which, for a discard, asks
//! why); confirmed, it redirects (303) to the list with what came of it.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use uuid::Uuid;

use super::OperatorSession;
use super::dead_letter_views::{
    ConfirmView, LetterAction, OpsDeadLetterView, OpsDeadLettersView, Outcome, dead_letters_url,
};
use crate::app::AppState;
use crate::clients::customer::{CustomerCallError, LetterState, Selection};
use crate::error::{WebError, call_error, parse_cursor, parse_id};
use crate::render::{PageContext, page, see_other};

/// Rows per page of the list.
const PAGE_SIZE: u32 = 50;
/// Where a session that ended on the way comes back to.
const HOME: &str = "/ops/dead-letters";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ops/dead-letters", get(dead_letters_page))
        .route("/ops/dead-letters/{id}", get(dead_letter_page))
        .route("/ops/dead-letters/replay", get(back_to_list).post(replay_selection))
        .route("/ops/dead-letters/discard", get(back_to_list).post(discard_selection))
}

/// The list's query: `?state=&cursor=` (and, after an action, its [`Outcome`]).
#[derive(Deserialize)]
struct ListParams {
    /// dead (the default), replayed, discarded or all.
    #[serde(default)]
    state: String,
    #[serde(default)]
    cursor: String,
}

impl ListParams {
    /// The state asked for: open ones unless another state (or all) is named.
    fn state(&self) -> Option<LetterState> {
        match self.state.trim() {
            "all" => None,
            other => Some(other.parse().unwrap_or(LetterState::Dead)),
        }
    }
}

async fn dead_letters_page(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Query(params): Query<ListParams>,
    Query(outcome): Query<Outcome>,
) -> Result<Response, WebError> {
    let letter_state = params.state();
    let cursor = parse_cursor(&params.cursor)?;
    let listing = state
        .customer
        .ops_dead_letters(&operator.access_token, letter_state, cursor, PAGE_SIZE)
        .await
        .map_err(|e| call_error(e, HOME))?;
    let view = OpsDeadLettersView::new(&ctx, letter_state, &listing, cursor.is_some(), outcome.notice());
    Ok(page(&ctx, StatusCode::OK, "Dead letters · Operator", &view))
}

async fn dead_letter_page(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id = parse_id(&id)?;
    let detail = state
        .customer
        .ops_dead_letter(&operator.access_token, id)
        .await
        .map_err(|e| call_error(e, &format!("{HOME}/{id}")))?;
    let view = OpsDeadLetterView::new(&ctx, &detail);
    Ok(page(&ctx, StatusCode::OK, &view.title(), &view))
}

/// An action's address opened as a page (after logging in again, say): the list.
async fn back_to_list(_operator: OperatorSession) -> Redirect {
    Redirect::to(HOME)
}

/// A selection form as sent: the ids checked (`ids`, repeated) or `all`, and on the
/// confirmation page `confirm` and, for a discard, `reason`.
#[derive(Debug, Default)]
struct SelectionForm {
    ids: Vec<String>,
    all: bool,
    confirmed: bool,
    reason: String,
}

impl SelectionForm {
    /// Reads the urlencoded body (a repeated field does not fit axum's `Form`).
    fn parse(body: &[u8]) -> Self {
        let mut form = Self::default();
        for (name, value) in url::form_urlencoded::parse(body) {
            match name.as_ref() {
                "ids" => form.ids.push(value.into_owned()),
                "all" => form.all = value == "yes",
                "confirm" => form.confirmed = value == "yes",
                "reason" => form.reason = value.into_owned(),
                _ => {}
            }
        }
        form
    }

    /// The dead letters chosen; None when none was.
    fn selection(&self) -> Result<Option<Selection>, WebError> {
        if self.all {
            return Ok(Some(Selection::All));
        }
        let ids = self
            .ids
            .iter()
            .map(|id| Uuid::parse_str(id.trim()))
            .collect::<Result<Vec<Uuid>, _>>()
            .map_err(|_| WebError::BadRequest("Send the form from the dead letters page.".into()))?;
        Ok((!ids.is_empty()).then_some(Selection::Chosen(ids)))
    }
}

async fn replay_selection(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    body: Bytes,
) -> Result<Response, WebError> {
    act_on_selection(
        &state,
        &ctx,
        &operator,
        LetterAction::Replay,
        SelectionForm::parse(&body),
    )
    .await
}

async fn discard_selection(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    body: Bytes,
) -> Result<Response, WebError> {
    act_on_selection(
        &state,
        &ctx,
        &operator,
        LetterAction::Discard,
        SelectionForm::parse(&body),
    )
    .await
}

/// Asks for confirmation (and for a discard, a reason); once confirmed, acts.
async fn act_on_selection(
    state: &AppState,
    ctx: &PageContext,
    operator: &OperatorSession,
    action: LetterAction,
    form: SelectionForm,
) -> Result<Response, WebError> {
    let token = &operator.access_token;
    let Some(selection) = form.selection()? else {
        let view = ConfirmView::nothing_chosen(ctx, action);
        return Ok(page(ctx, StatusCode::UNPROCESSABLE_ENTITY, view.title(), &view));
    };
    let reason = form.reason.trim();
    let refused = match (action, form.confirmed) {
        (_, false) => None,
        (LetterAction::Discard, true) if reason.is_empty() => Some("Say why these are discarded.".to_owned()),
        (LetterAction::Replay, true) => match state.customer.replay_dead_letters(token, &selection).await {
            Ok(report) => {
                tracing::info!(count = report.results.len(), operator = %operator.user.id, "dead letters replayed through the web");
                return Ok(see_other(ctx, &dead_letters_url(&Outcome::of_replay(&report))));
            }
            Err(e) => refusal(e)?,
        },
        (LetterAction::Discard, true) => match state.customer.discard_dead_letters(token, &selection, reason).await {
            Ok(report) => {
                tracing::info!(count = report.results.len(), operator = %operator.user.id, "dead letters discarded through the web");
                return Ok(see_other(ctx, &dead_letters_url(&Outcome::of_discard(&report))));
            }
            Err(e) => refusal(e)?,
        },
    };
    // What the operator is about to act on: the open dead letters, the chosen ones marked.
    let open = state
        .customer
        .ops_dead_letters(token, Some(LetterState::Dead), None, 200)
        .await
        .map_err(|e| call_error(e, HOME))?;
    let status = if refused.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let view = ConfirmView::new(ctx, action, &selection, &open, form.reason.clone(), refused);
    Ok(page(ctx, status, view.title(), &view))
}

/// Why customer refused an action, to show on the confirmation page; other failures are
/// the error page.
fn refusal(error: CustomerCallError) -> Result<Option<String>, WebError> {
    match error {
        CustomerCallError::Fields(fields) => Ok(Some(
            fields
                .into_values()
                .next()
                .unwrap_or_else(|| "Customer refused this.".to_owned()),
        )),
        CustomerCallError::Refused(message) => Ok(Some(message)),
        other => Err(call_error(other, HOME)),
    }
}
