//! Handlers of the operator's saga pages: the list by state (with search), a saga with its
//! steps, drawing, events, attempts and operator actions (its status part polled while it
//! moves), and acting on it by hand. An action with a reason first shows a confirmation;
//! confirmed, it posts to product-order and redirects (303) to the saga page with a notice; a
//! refused action shows the saga again with the reason next to its form.

use api::sagas::{Saga, SagaAction, SagaListQuery};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use saga_core::InstanceState;
use serde::Deserialize;

use super::OperatorSession;
use super::saga_views::{
    ConfirmView, EditDetailsForm, OpsSagaRow, OpsSagaView, OpsSagasView, STATUS_PART, SagaFilter, what_it_does,
};

use crate::app::AppState;
use crate::checkout::form::{CheckoutForm, field_errors};
use crate::clients::product_order::ProductOrderCallError;
use crate::error::{AppForm, WebError, parse_cursor, parse_id};
use crate::listing::{LoadMore, MoreView};
use crate::render::{PageContext, fragment, page, see_other};

/// Rows per page of the list.
const PAGE_SIZE: i64 = 25;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ops/sagas", get(sagas_page))
        .route(
            "/ops/sagas/bulk-retry",
            get(super::saga_bulk::bulk_retry_page).post(super::saga_bulk::run_bulk_retry),
        )
        .route("/ops/sagas/{id}", get(saga_page))
        .route("/ops/sagas/{id}/reveal", get(back_to_saga).post(reveal_details))
        .route("/ops/sagas/{id}/details", get(back_to_saga).post(edit_details))
        .route("/ops/sagas/{id}/{action}", get(back_to_saga).post(act_on_saga))
}

/// The list's query: `?state=&idle_minutes=&q=&cursor=`.
#[derive(Deserialize)]
pub(super) struct ListParams {
    #[serde(default)]
    pub(super) state: String,
    #[serde(default)]
    pub(super) idle_minutes: String,
    #[serde(default)]
    pub(super) q: String,
    #[serde(default)]
    pub(super) cursor: String,
}

impl ListParams {
    /// The filter asked for: an unknown state lists every saga; a blank, zero or non-numeric
    /// idle time filters nothing.
    pub(super) fn filter(&self) -> SagaFilter {
        SagaFilter {
            state: InstanceState::parse(self.state.trim()),
            idle_minutes: self.idle_minutes.trim().parse().ok().filter(|m| *m > 0),
            q: Some(self.q.trim().to_owned()).filter(|q| !q.is_empty()),
        }
    }
}

#[derive(Deserialize)]
struct DoneParams {
    /// The action just taken.
    #[serde(default)]
    done: String,
}

/// An action, as its form (or its confirmation) sends it.
#[derive(Deserialize)]
struct ActionForm {
    #[serde(default)]
    reason: String,
    /// "yes" once the operator confirmed.
    #[serde(default)]
    confirmed: String,
}

impl ActionForm {
    /// The action is to be confirmed first: it has a reason (without one product-order
    /// refuses it at once, and says so next to the form) and has not been confirmed yet.
    fn needs_confirming(&self) -> bool {
        self.confirmed != "yes" && !self.reason.trim().is_empty()
    }
}

async fn sagas_page(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    let filter = params.filter();
    let cursor = parse_cursor(&params.cursor)?;
    let query = SagaListQuery {
        state: filter.state.map(|s| s.as_str().to_owned()),
        idle_minutes: filter.idle_minutes,
        q: filter.q.clone(),
        owner: None,
        cursor,
        limit: Some(PAGE_SIZE),
    };
    let listing = match state.product_order.ops_sagas(&operator.access_token, &query).await {
        Ok(listing) => listing,
        // A search that is no id and no email: say so, and list nothing.
        Err(ProductOrderCallError::Refused(refusal)) => {
            return Err(WebError::BadRequest(refusal.message_for("q")));
        }
        Err(e) => return Err(e.into()),
    };
    let load_more = LoadMore {
        next_url: listing.next_cursor.map(|next| filter.url(Some(next))),
        target: "#ops-saga-rows",
        oob: ctx.partial && cursor.is_some(),
    };
    if load_more.oob {
        let view = MoreView {
            rows: listing.items.iter().map(|saga| OpsSagaRow { saga }).collect(),
            load_more,
        };
        return Ok(fragment(StatusCode::OK, &view));
    }
    let view = OpsSagasView::new(filter, &listing, cursor.is_some(), load_more);
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
    Path(params): Path<Vec<(String, String)>>,
) -> Result<Redirect, WebError> {
    let id = params
        .iter()
        .find(|(name, _)| name == "id")
        .map(|(_, id)| id.as_str())
        .unwrap_or_default();
    Ok(Redirect::to(&format!("/ops/sagas/{}", parse_id(id)?)))
}

/// The confirmation of `action`, when it applies now; `None` when product-order should
/// answer at once (it does not apply: product-order says why).
fn confirmation(
    ctx: &PageContext,
    detail: &Saga,
    action: SagaAction,
    fields: Vec<(&'static str, String)>,
) -> Option<Response> {
    detail.allows(action).then(|| {
        let view = ConfirmView::of_saga_action(ctx, detail, action, what_it_does(action), fields);
        page(ctx, StatusCode::OK, &view.title.clone(), &view)
    })
}

async fn act_on_saga(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Path((id, action)): Path<(String, String)>,
    AppForm(form): AppForm<ActionForm>,
) -> Result<Response, WebError> {
    let id = parse_id(&id)?;
    // Only the moves that need nothing but a reason have this address.
    let action = SagaAction::parse(&action)
        .filter(|a| SagaAction::MOVES.contains(a))
        .ok_or(WebError::NotFound)?;
    let token = &operator.access_token;
    if form.needs_confirming() {
        let detail = state.product_order.ops_saga(token, id).await?;
        let fields = vec![("reason", form.reason.trim().to_owned())];
        if let Some(confirm) = confirmation(&ctx, &detail, action, fields) {
            return Ok(confirm);
        }
    }
    let (status, message) = match state.product_order.act_on_saga(token, id, action, &form.reason).await {
        Ok(acted) => {
            let acted = &acted.instance.summary;
            tracing::info!(saga_id = %acted.id, action = action.as_str(), state = acted.state.as_str(), operator = %operator.user.id, "saga acted on through the web");
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

/// Reveals the shopper's details on this answer only (never cached), once confirmed.
async fn reveal_details(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Path(id): Path<String>,
    AppForm(form): AppForm<ActionForm>,
) -> Result<Response, WebError> {
    let id = parse_id(&id)?;
    let token = &operator.access_token;
    let detail = state.product_order.ops_saga(token, id).await?;
    if form.needs_confirming()
        && let Some(confirm) = confirmation(
            &ctx,
            &detail,
            SagaAction::Reveal,
            vec![("reason", form.reason.trim().to_owned())],
        )
    {
        return Ok(confirm);
    }
    match state.product_order.reveal_saga_details(token, id, &form.reason).await {
        Ok(details) => {
            let countries = if detail.allows(SagaAction::EditDetails) {
                state.product_order.shipping_countries().await?
            } else {
                Vec::new()
            };
            let view = OpsSagaView::new(&ctx, &detail).revealed(details, countries);
            let mut response = page(&ctx, StatusCode::OK, &view.title(), &view);
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        }
        Err(ProductOrderCallError::Refused(refusal)) => {
            let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::CONFLICT);
            let view = OpsSagaView::new(&ctx, &detail).with_refusal(
                SagaAction::Reveal,
                refusal.message_for("reason"),
                form.reason,
            );
            Ok(page(&ctx, status, &view.title(), &view))
        }
        Err(e) => Err(e.into()),
    }
}

/// The correction form, as sent: the checkout form's fields, a reason and the confirmation.
#[derive(Deserialize)]
struct EditForm {
    #[serde(flatten)]
    details: CheckoutForm,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirmed: String,
}

impl EditForm {
    /// Every field, to carry through the confirmation.
    fn fields(&self) -> Vec<(&'static str, String)> {
        let d = &self.details;
        vec![
            ("contact_name", d.contact_name.clone()),
            ("contact_email", d.contact_email.clone()),
            ("contact_phone", d.contact_phone.clone()),
            ("delivery_line1", d.delivery_line1.clone()),
            ("delivery_line2", d.delivery_line2.clone()),
            ("delivery_city", d.delivery_city.clone()),
            ("delivery_postal_code", d.delivery_postal_code.clone()),
            ("delivery_country", d.delivery_country.clone()),
            ("reason", self.reason.trim().to_owned()),
        ]
    }
}

/// Corrects a saga that failed validation and runs it again, once confirmed; refused fields
/// show by the form as typed.
async fn edit_details(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Path(id): Path<String>,
    AppForm(form): AppForm<EditForm>,
) -> Result<Response, WebError> {
    let id = parse_id(&id)?;
    let token = &operator.access_token;
    if form.confirmed != "yes" && !form.reason.trim().is_empty() {
        let detail = state.product_order.ops_saga(token, id).await?;
        if let Some(confirm) = confirmation(&ctx, &detail, SagaAction::EditDetails, form.fields()) {
            return Ok(confirm);
        }
    }
    let details = form.details.details();
    let refusal = match state
        .product_order
        .edit_saga_details(token, id, &form.reason, details)
        .await
    {
        Ok(_) => return Ok(see_other(&ctx, &format!("/ops/sagas/{id}?done=edit-details"))),
        Err(ProductOrderCallError::Refused(refusal)) => refusal,
        Err(e) => return Err(e.into()),
    };
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    let (mut errors, mut others) = field_errors(refusal.fields.clone());
    if let Some(reason) = refusal.fields.get("reason") {
        errors.insert("reason".into(), reason.clone());
        others.retain(|m| m != reason);
    }
    if refusal.fields.is_empty() {
        others.push(refusal.message);
    }
    let detail = state.product_order.ops_saga(token, id).await?;
    let edit = EditDetailsForm {
        form: form.details,
        errors,
        others,
        reason: form.reason,
        countries: state.product_order.shipping_countries().await?,
    };
    let view = OpsSagaView::new(&ctx, &detail).with_edit_refused(edit);
    let mut response = page(&ctx, status, &view.title(), &view);
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
