//! Bulk retry through the pages: `GET /ops/sagas/bulk-retry?<the list's filter>` is the dry
//! run (how many match, and which a run takes); its form, once confirmed, schedules the
//! retries at the rate chosen and shows when each starts.

use api::sagas::{BulkAnswer, BulkBody};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use saga_core::InstanceState;
use serde::Deserialize;

use super::OperatorSession;
use super::saga_views::{ConfirmView, SagaFilter};
use super::sagas::ListParams;

use crate::app::AppState;
use crate::clients::product_order::ProductOrderCallError;
use crate::error::{AppForm, WebError};
use crate::render::{PageContext, page};

/// The rate offered first.
const DEFAULT_RATE: u32 = 5;

#[derive(Template)]
#[template(path = "ops/bulk_retry.html")]
pub struct BulkRetryView<'a> {
    pub csrf_token: &'a str,
    pub filter: SagaFilter,
    pub answer: BulkAnswer,
    pub reason: String,
    pub per_second: u32,
    pub error: Option<String>,
}

impl BulkRetryView<'_> {
    /// The filter in words.
    pub fn filter_words(&self) -> String {
        let mut words = vec![format!("{} sagas", self.filter.state.map_or("all", |s| s.as_str()))];
        if let Some(minutes) = self.filter.idle_minutes {
            words.push(format!("idle for more than {minutes} minutes"));
        }
        if let Some(q) = &self.filter.q {
            words.push(format!("matching “{q}”"));
        }
        words.join(", ")
    }

    /// The filter as the form's hidden fields.
    pub fn filter_fields(&self) -> Vec<(&'static str, String)> {
        filter_fields(&self.filter)
    }
}

fn filter_fields(filter: &SagaFilter) -> Vec<(&'static str, String)> {
    let mut fields = Vec::new();
    if let Some(state) = filter.state {
        fields.push(("state", state.as_str().to_owned()));
    }
    if let Some(minutes) = filter.idle_minutes {
        fields.push(("idle_minutes", minutes.to_string()));
    }
    if let Some(q) = &filter.q {
        fields.push(("q", q.clone()));
    }
    fields
}

/// The dry run of the list's filter.
pub(super) async fn bulk_retry_page(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    let filter = params.filter();
    let (answer, error) = match call(&state, &operator, &filter, true, "", DEFAULT_RATE).await? {
        Ok(answer) => (answer, None),
        Err((_, message)) => (BulkAnswer::default(), Some(message)),
    };
    let view = BulkRetryView {
        csrf_token: &ctx.csrf_token,
        filter,
        answer,
        reason: String::new(),
        per_second: DEFAULT_RATE,
        error,
    };
    Ok(page(&ctx, StatusCode::OK, "Bulk retry · Operator", &view))
}

#[derive(Deserialize)]
pub(super) struct RunForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    idle_minutes: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    per_second: String,
    #[serde(default)]
    confirmed: String,
}

/// Confirms, then runs the bulk retry; refused input shows the dry run again with why.
pub(super) async fn run_bulk_retry(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    AppForm(form): AppForm<RunForm>,
) -> Result<Response, WebError> {
    let filter = ListParams {
        state: form.state,
        idle_minutes: form.idle_minutes,
        q: form.q,
        cursor: String::new(),
    }
    .filter();
    let per_second = form.per_second.trim().parse().unwrap_or(0);
    let reason = form.reason.trim();
    if form.confirmed != "yes" && !reason.is_empty() && (1..=50).contains(&per_second) {
        let dry_run = call(&state, &operator, &filter, true, "", per_second)
            .await?
            .unwrap_or_default();
        let mut fields = filter_fields(&filter);
        fields.push(("reason", reason.to_owned()));
        fields.push(("per_second", per_second.to_string()));
        let seconds = dry_run.items.len().saturating_sub(1) as f64 / f64::from(per_second);
        let view = ConfirmView {
            csrf_token: &ctx.csrf_token,
            section: "sagas",
            title: format!("Retry {} saga(s)?", dry_run.items.len()),
            question: format!(
                "Each saga listed on the previous page is retried, {per_second} a second (about {seconds:.0} s in all), and the retry recorded on it."
            ),
            facts: vec![
                ("Sagas", dry_run.items.len().to_string()),
                ("Reason", reason.to_owned()),
            ],
            action: "/ops/sagas/bulk-retry".into(),
            fields,
            button: "Retry them",
            back: filter.bulk_url(),
        };
        return Ok(page(&ctx, StatusCode::OK, "Bulk retry · Operator", &view));
    }
    let (status, answer, error) = match call(&state, &operator, &filter, false, reason, per_second).await? {
        Ok(answer) => (StatusCode::OK, answer, None),
        Err((status, message)) => {
            let answer = call(&state, &operator, &filter, true, "", DEFAULT_RATE)
                .await?
                .unwrap_or_default();
            (status, answer, Some(message))
        }
    };
    let view = BulkRetryView {
        csrf_token: &ctx.csrf_token,
        filter,
        answer,
        reason: reason.to_owned(),
        per_second: if (1..=50).contains(&per_second) {
            per_second
        } else {
            DEFAULT_RATE
        },
        error,
    };
    Ok(page(&ctx, status, "Bulk retry · Operator", &view))
}

/// What product-order answers, or its refusal (status and messages) to show on the page.
async fn call(
    state: &AppState,
    operator: &OperatorSession,
    filter: &SagaFilter,
    dry_run: bool,
    reason: &str,
    per_second: u32,
) -> Result<Result<BulkAnswer, (StatusCode, String)>, WebError> {
    let bulk = BulkBody {
        state: Some(filter.state.unwrap_or(InstanceState::Failed).as_str().to_owned()),
        idle_minutes: filter.idle_minutes,
        q: filter.q.clone(),
        owner: None,
        dry_run,
        reason: reason.to_owned(),
        per_second,
        limit: None,
    };
    match state.product_order.bulk_retry(&operator.access_token, &bulk).await {
        Ok(answer) => Ok(Ok(answer)),
        Err(ProductOrderCallError::Refused(refusal)) => {
            let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let message = refusal.fields.values().cloned().collect::<Vec<_>>().join(" ");
            Ok(Err((
                status,
                if message.is_empty() { refusal.message } else { message },
            )))
        }
        Err(e) => Err(e.into()),
    }
}
