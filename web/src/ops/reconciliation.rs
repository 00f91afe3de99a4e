//! The health page's reconciliation: product-order's check of its own invariants, and the
//! comparison only web can make (it holds the operator's token for both services) of
//! product-order's recently changed orders with customer's copies. Changes younger than the
//! grace period (`WEB_RECONCILE_GRACE_SECONDS`) are left out: their events may be in flight.
//! Each mismatch with a repair has a form; a repair first shows a confirmation, then posts to
//! product-order and returns to the health page with a notice, or with the refusal.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use contracts::reconciliation::{self, Mismatch, MismatchKind, Repair, RepairRecord};
use serde::Deserialize;

use super::OperatorSession;
use super::saga_views::ConfirmView;
use crate::app::AppState;
use crate::clients::customer::CustomerCallError;
use crate::clients::product_order::ProductOrderCallError;
use crate::error::{AppForm, WebError, call_error, parse_id};
use crate::render::{PageContext, page, see_other};

/// Orders changed within this many minutes are compared.
const WINDOW_MINUTES: i64 = 15;
/// Orders compared at most, the latest changes first.
const COMPARED: u32 = 200;
/// The section's id on the health page.
pub const SECTION: &str = "reconciliation";

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/ops/reconciliation/{repair}/{id}",
        get(back_to_health).post(make_repair),
    )
}

/// The reconciliation section of the health page.
#[derive(Template)]
#[template(path = "ops/health_reconciliation.html")]
pub struct ReconciliationPart<'a> {
    pub csrf_token: &'a str,
    /// When product-order ran its check; None when it did not answer.
    pub checked_at: Option<DateTime<Utc>>,
    pub mismatches: Vec<Mismatch>,
    pub repairs: Vec<RepairRecord>,
    /// Orders compared with customer's copies.
    pub compared: usize,
    /// What could not be looked at, and why.
    pub gaps: Vec<&'static str>,
    pub grace_seconds: u64,
    /// What the last repair did, or why it was refused.
    pub notice: Option<Notice>,
}

impl ReconciliationPart<'_> {
    /// What a mismatch's repair acts on: the order it sends again, the checkout it releases.
    pub fn repair_target(&self, mismatch: &Mismatch) -> String {
        let target = match mismatch.repair {
            Some(Repair::Release) => mismatch.checkout_id,
            _ => mismatch.order_id,
        };
        target.map(|id| id.to_string()).unwrap_or_default()
    }
}

/// The outcome of the last repair, shown above the mismatches.
pub enum Notice {
    Done(&'static str),
    Refused(String),
}

impl Notice {
    /// The notice for `?done=` after a repair.
    pub fn done(done: &str) -> Option<Self> {
        match done.parse::<Repair>().ok()? {
            Repair::Republish => Some(Self::Done(
                "The order's events were sent again; customer applies those it lacks.",
            )),
            Repair::Release => Some(Self::Done("The checkout's stock is back on sale.")),
        }
    }
}

/// Runs product-order's check and the comparison with customer, and counts what the
/// comparison found in `web_reconciliation_mismatches`.
pub async fn reconciliation<'a>(
    state: &AppState,
    ctx: &'a PageContext,
    operator: &OperatorSession,
) -> Result<ReconciliationPart<'a>, WebError> {
    let token = &operator.access_token;
    let grace = state.settings.reconcile_grace.as_secs();
    let since = Utc::now() - chrono::Duration::minutes(WINDOW_MINUTES);
    let settled = u32::try_from(grace).unwrap_or(u32::MAX);
    let (own, digest) = tokio::join!(
        state.product_order.reconciliation(token),
        state.product_order.order_digest(token, since, settled, COMPARED),
    );
    let mut part = ReconciliationPart {
        csrf_token: &ctx.csrf_token,
        checked_at: None,
        mismatches: Vec::new(),
        repairs: Vec::new(),
        compared: 0,
        gaps: Vec::new(),
        grace_seconds: grace,
        notice: None,
    };
    match answered(own)? {
        Some(own) => {
            part.checked_at = Some(own.checked_at);
            part.mismatches = own.mismatches;
            part.repairs = own.repairs;
        }
        None => part
            .gaps
            .push("Product-order did not answer: its own check did not run."),
    }
    let Some(digest) = answered(digest)? else {
        part.gaps
            .push("Product-order did not answer: no orders were compared with customer's.");
        return Ok(part);
    };
    let ids: Vec<_> = digest.items.iter().map(|i| i.order_id).collect();
    let copies = match state.customer.order_digest(token, &ids).await {
        Ok(copies) => copies,
        Err(e @ (CustomerCallError::Forbidden | CustomerCallError::SessionEnded)) => {
            return Err(call_error(e, "/ops/health"));
        }
        Err(e) => {
            tracing::warn!(error = %e, "no order digest from customer");
            part.gaps
                .push("Customer did not answer: no orders were compared with its copies.");
            return Ok(part);
        }
    };
    let across = reconciliation::compare(&digest.items, &copies.items);
    state
        .mismatches
        .set(reconciliation::counts(&MismatchKind::ACROSS, &across));
    part.compared = digest.items.len();
    part.mismatches.extend(across);
    Ok(part)
}

/// The answer, or None when product-order did not answer (the page says so); other errors
/// as they are.
fn answered<T>(result: Result<T, ProductOrderCallError>) -> Result<Option<T>, WebError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(ProductOrderCallError::Unavailable(cause)) => {
            tracing::warn!(%cause, "no reconciliation from product-order");
            Ok(None)
        }
        Err(other) => Err(call_error(other, "/ops/health")),
    }
}

/// A repair, as its form (or its confirmation) sends it.
#[derive(Deserialize)]
struct RepairForm {
    #[serde(default)]
    reason: String,
    /// "yes" once the operator confirmed.
    #[serde(default)]
    confirmed: String,
}

/// A repair's button, in words.
pub fn repair_label(repair: &Repair) -> &'static str {
    match repair {
        Repair::Republish => "Send its events again",
        Repair::Release => "Release its stock",
    }
}

/// What a repair does, for its confirmation.
fn what_it_does(repair: Repair) -> &'static str {
    match repair {
        Repair::Republish => {
            "Every event of the order is sent again with its own id, oldest version first. Consumers apply an event once and in version order, so a copy that missed some catches up and an up-to-date one does not change."
        }
        Repair::Release => {
            "The stock the checkout still holds goes back on sale. Product-order refuses while the checkout's saga runs, or when its order stands."
        }
    }
}

/// A repair's address opened as a page (after logging in again, say): the health page.
async fn back_to_health(_operator: OperatorSession) -> Redirect {
    Redirect::to("/ops/health#reconciliation")
}

async fn make_repair(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Path((repair, id)): Path<(String, String)>,
    AppForm(form): AppForm<RepairForm>,
) -> Result<Response, WebError> {
    let repair: Repair = repair.parse().map_err(|_| WebError::NotFound)?;
    let id = parse_id(&id)?;
    let reason = form.reason.trim();
    // Without a reason product-order refuses at once, and the page says so.
    if form.confirmed != "yes" && !reason.is_empty() {
        let target = match repair {
            Repair::Republish => "Order",
            Repair::Release => "Checkout",
        };
        let view = ConfirmView {
            csrf_token: &ctx.csrf_token,
            section: "health",
            title: format!("{}?", repair_label(&repair)),
            question: what_it_does(repair).to_owned(),
            facts: vec![(target, id.to_string()), ("Reason", reason.to_owned())],
            action: format!("/ops/reconciliation/{}/{id}", repair.as_str()),
            fields: vec![("reason", reason.to_owned())],
            button: repair_label(&repair),
            back: format!("/ops/health#{SECTION}"),
        };
        return Ok(page(&ctx, StatusCode::OK, "Repair · Operator", &view));
    }
    let token = &operator.access_token;
    match state.product_order.repair(token, repair, id, reason).await {
        Ok(record) => {
            tracing::info!(repair = record.repair.as_str(), %id, operator = %operator.user.id, "repaired through the web");
            Ok(see_other(
                &ctx,
                &format!("/ops/health?done={}#{SECTION}", repair.as_str()),
            ))
        }
        Err(ProductOrderCallError::Refused(refusal)) => {
            let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::CONFLICT);
            let notice = Notice::Refused(refusal.message_for("reason"));
            super::health::health_page_with(&state, &ctx, &operator, Some(notice), status).await
        }
        Err(e) => Err(e.into()),
    }
}
