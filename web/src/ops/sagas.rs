//! Handlers of the operator's saga pages: the list by state, a saga with its steps, attempts
//! and operator actions (its status part polled while it moves), and acting on it by hand.
//! An action posts to the saga's address and redirects (303) to the saga page with a
//! notice; a refused action shows the saga again with the reason next to its form.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::OperatorSession;
use super::saga_views::{OpsMoreSagasView, OpsSagaView, OpsSagasView, STATUS_PART, sagas_url};
use crate::app::AppState;
use crate::catalog::views::LoadMore;
use crate::clients::product_order::{ProductOrderCallError, SagaAction, SagaQuery, SagaState};
use crate::error::{AppForm, WebError, parse_cursor, parse_id};
use crate::render::{PageContext, fragment, page, see_other};

/// Rows per page of the list.
const PAGE_SIZE: u32 = 25;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ops/sagas", get(sagas_page))
        .route("/ops/sagas/{id}", get(saga_page))
        .route("/ops/sagas/{id}/{action}", get(back_to_saga).post(act_on_saga))
}

/// The list's query: `?state=&idle_minutes=&cursor=`.
#[derive(Deserialize)]
struct ListParams {
    #[serde(default)]
    state: String,
    #[serde(default)]
    idle_minutes: String,
    #[serde(default)]
    cursor: String,
}

impl ListParams {
    /// The state asked for; anything unknown lists every saga.
    fn state(&self) -> Option<SagaState> {
        self.state.trim().parse().ok()
    }

    /// The idle filter; blank, zero or not a number filters nothing.
    fn idle_minutes(&self) -> Option<u32> {
        self.idle_minutes.trim().parse().ok().filter(|m| *m > 0)
    }
}

#[derive(Deserialize)]
struct DoneParams {
    /// The action just taken.
    #[serde(default)]
    done: String,
}

/// An action, as its form sends it.
#[derive(Deserialize)]
struct ActionForm {
    #[serde(default)]
    reason: String,
}

async fn sagas_page(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    let (saga_state, idle_minutes) = (params.state(), params.idle_minutes());
    let cursor = parse_cursor(&params.cursor)?;
    let query = SagaQuery {
        state: saga_state,
        idle_minutes,
        cursor,
        limit: Some(PAGE_SIZE),
    };
    let listing = state.product_order.ops_sagas(&operator.access_token, &query).await?;
    let load_more = LoadMore {
        next_url: listing
            .next_cursor
            .map(|next| sagas_url(saga_state, idle_minutes, Some(next))),
        target: "#ops-saga-rows",
        oob: ctx.partial && cursor.is_some(),
    };
    if load_more.oob {
        let view = OpsMoreSagasView {
            sagas: &listing.items,
            load_more,
        };
        return Ok(fragment(StatusCode::OK, &view));
    }
    let view = OpsSagasView::new(saga_state, idle_minutes, &listing, cursor.is_some(), load_more);
    Ok(page(&ctx, StatusCode::OK, "Sagas · Operator", &view))
}

/// /ops/sagas/{id}, or for htmx's poll of `#saga-status` only that part (nothing new, 204,
/// while product-order cannot answer).
async fn saga_page(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Path(id): Path<String>,
    Query(params): Query<DoneParams>,
) -> Result<Response, WebError> {
    let id = parse_id(&id)?;
    let polled = ctx.targets(STATUS_PART);
    let detail = match state.product_order.ops_saga(&operator.access_token, id).await {
        Ok(detail) => detail,
        // htmx swaps nothing on 204 and polls again.
        Err(ProductOrderCallError::Unavailable(cause)) if polled => {
            tracing::warn!(%cause, saga_id = %id, "no saga status for a poll");
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        Err(e) => return Err(e.into()),
    };
    let view = OpsSagaView::new(&ctx, &detail).with_notice(&params.done);
    if polled {
        return Ok(fragment(StatusCode::OK, &view.status));
    }
    Ok(page(&ctx, StatusCode::OK, &view.title(), &view))
}

/// An action's address opened as a page (after logging in again, say): the saga's page.
async fn back_to_saga(
    _operator: OperatorSession,
    Path((id, _action)): Path<(String, String)>,
) -> Result<Redirect, WebError> {
    Ok(Redirect::to(&format!("/ops/sagas/{}", parse_id(&id)?)))
}

async fn act_on_saga(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Path((id, action)): Path<(String, String)>,
    AppForm(form): AppForm<ActionForm>,
) -> Result<Response, WebError> {
    let id = parse_id(&id)?;
    let action: SagaAction = action.parse().map_err(|()| WebError::NotFound)?;
    let token = &operator.access_token;
    let (status, message) = match state.product_order.act_on_saga(token, id, action, &form.reason).await {
        Ok(acted) => {
            tracing::info!(saga_id = %acted.summary.id, action = action.as_str(), state = acted.summary.state.as_str(), operator = %operator.user.id, "saga acted on through the web");
            return Ok(see_other(&ctx, &format!("/ops/sagas/{id}?done={}", action.as_str())));
        }
        Err(ProductOrderCallError::Refused(refusal)) => {
            let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::CONFLICT);
            (status, refusal.message_for("reason"))
        }
        Err(e) => return Err(e.into()),
    };
    let detail = state.product_order.ops_saga(token, id).await?;
    let view = OpsSagaView::new(&ctx, &detail).with_refusal(action, message, form.reason);
    Ok(page(&ctx, status, &view.title(), &view))
}
