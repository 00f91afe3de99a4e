//! The operator's saga pages. A shopper's details come masked from product-order (an operator
//! looking into a saga needs to tell shoppers apart, not to know who they are) unless the
//! operator revealed them, which shows them on that one answer.

use api::checkout::{CountryOption, DetailsForm};
use api::sagas::{EventDelivery, OutboxEvent, Saga, SagaAction, SagaList};
use askama::Template;
use chrono::{DateTime, Utc};
use saga_core::views::{AttemptView, CompensationView, InstanceSummary};
use saga_core::{AttemptOutcome, InstanceState, Phase, StepState};
use uuid::Uuid;

use super::saga_drawing::SagaDrawing;
use crate::checkout::form::{CheckoutForm, FieldErrors};
use crate::listing::LoadMore;
use crate::orders::views::short_id;
use crate::render::PageContext;

/// The id of a saga page's status part (`#saga-status`), which htmx polls while the saga
/// moves on its own.
pub const STATUS_PART: &str = "saga-status";

/// What the saga list shows: sagas in `state` (all when None), idle for more than
/// `idle_minutes`, matching `q` (a checkout id, an order id or an email address).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SagaFilter {
    pub state: Option<InstanceState>,
    pub idle_minutes: Option<u32>,
    pub q: Option<String>,
}

impl SagaFilter {
    /// The list's address with this filter, from `cursor` on.
    pub fn url(&self, cursor: Option<Uuid>) -> String {
        self.address("/ops/sagas", cursor)
    }

    /// The bulk-retry page's address for the sagas this filter lists.
    pub fn bulk_url(&self) -> String {
        self.address("/ops/sagas/bulk-retry", None)
    }

    fn address(&self, path: &str, cursor: Option<Uuid>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(state) = self.state {
            query.append_pair("state", state.as_str());
        }
        if let Some(minutes) = self.idle_minutes {
            query.append_pair("idle_minutes", &minutes.to_string());
        }
        if let Some(q) = &self.q {
            query.append_pair("q", q);
        }
        if let Some(cursor) = cursor {
            query.append_pair("cursor", &cursor.to_string());
        }
        let query = query.finish();
        if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        }
    }

    /// The same filter with another state.
    fn with_state(&self, state: Option<InstanceState>) -> Self {
        Self { state, ..self.clone() }
    }

    /// The idle filter's value as typed in its field.
    pub fn idle_value(&self) -> String {
        self.idle_minutes.map(|m| m.to_string()).unwrap_or_default()
    }

    /// The search as typed in its field.
    pub fn q_value(&self) -> &str {
        self.q.as_deref().unwrap_or_default()
    }

    /// A bulk retry applies to sagas of a state that can be retried.
    pub fn can_bulk_retry(&self) -> bool {
        self.state.is_some_and(|s| s != InstanceState::Completed)
    }
}

/// One choice of the state filter, with how many sagas are in that state.
pub struct StateFilter {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
    pub count: i64,
}

/// /ops/sagas: the count per state as filters, the idle filter and the search, a page of
/// sagas and "Load more", and the way to retry every saga listed.
#[derive(Template)]
#[template(path = "ops/sagas.html")]
pub struct OpsSagasView<'a> {
    pub filter: SagaFilter,
    pub filters: Vec<StateFilter>,
    pub sagas: &'a [InstanceSummary],
    /// This page continues an earlier one (opened without JavaScript).
    pub continued: bool,
    pub load_more: LoadMore,
}

impl<'a> OpsSagasView<'a> {
    pub fn new(filter: SagaFilter, listing: &'a SagaList, continued: bool, load_more: LoadMore) -> Self {
        let count_of = |s: InstanceState| {
            listing
                .counts
                .iter()
                .filter(|c| c.state == s)
                .map(|c| c.count)
                .sum::<i64>()
        };
        let filters = InstanceState::ALL
            .into_iter()
            .map(|s| StateFilter {
                label: state_label(&s),
                href: filter.with_state(Some(s)).url(None),
                current: filter.state == Some(s),
                count: count_of(s),
            })
            .chain(std::iter::once(StateFilter {
                label: "All",
                href: filter.with_state(None).url(None),
                current: filter.state.is_none(),
                count: listing.counts.iter().map(|c| c.count).sum(),
            }))
            .collect();
        Self {
            filter,
            filters,
            sagas: &listing.items,
            continued,
            load_more,
        }
    }
}

/// A saga's row in the console's saga list.
#[derive(Template)]
#[template(path = "ops/saga_row.html")]
pub struct OpsSagaRow<'a> {
    pub saga: &'a InstanceSummary,
}

/// The shopper's details of a checkout saga as shown: masked, or revealed on this answer.
pub struct ShownDetails {
    pub details: DetailsForm,
    pub revealed: bool,
}

impl ShownDetails {
    /// "revealed" or "masked".
    pub fn how(&self) -> &'static str {
        if self.revealed { "revealed" } else { "masked" }
    }

    /// Both address lines, the second only when there is one.
    pub fn street(&self) -> String {
        let delivery = &self.details.delivery;
        [delivery.line1.as_str(), delivery.line2.as_str()]
            .into_iter()
            .filter(|line| !line.trim().is_empty())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The form correcting a failed saga's details, as typed, with product-order's messages.
pub struct EditDetailsForm {
    pub form: CheckoutForm,
    pub errors: FieldErrors,
    pub others: Vec<String>,
    pub reason: String,
    pub countries: Vec<CountryOption>,
}

impl EditDetailsForm {
    /// The form filled with the saga's current (revealed) details.
    pub fn of(details: &DetailsForm, countries: Vec<CountryOption>) -> Self {
        let (contact, delivery) = (&details.contact, &details.delivery);
        Self {
            form: CheckoutForm {
                contact_name: contact.name.clone(),
                contact_email: contact.email.clone(),
                contact_phone: contact.phone.clone(),
                delivery_line1: delivery.line1.clone(),
                delivery_line2: delivery.line2.clone(),
                delivery_city: delivery.city.clone(),
                delivery_postal_code: delivery.postal_code.clone(),
                delivery_country: delivery.country.clone(),
                ..CheckoutForm::default()
            },
            errors: FieldErrors::new(),
            others: Vec::new(),
            reason: String::new(),
            countries,
        }
    }
}

/// /ops/sagas/{id}: the status part (state, drawing, steps, the order's events, attempts),
/// the shopper's details (masked unless just revealed), the operator actions taken so far and
/// one form per action product-order offers now.
#[derive(Template)]
#[template(path = "ops/saga.html")]
pub struct OpsSagaView<'a> {
    pub csrf_token: &'a str,
    pub saga: &'a InstanceSummary,
    pub detail: &'a Saga,
    pub status: SagaStatusView<'a>,
    pub shown: Option<ShownDetails>,
    pub actions: Vec<SagaAction>,
    /// The form correcting the details, when the saga failed validation and they are revealed.
    pub edit: Option<EditDetailsForm>,
    /// What the last action did.
    pub notice: Option<&'static str>,
    /// Why the action just tried was refused.
    pub error: Option<String>,
    /// The action just tried and the reason typed for it.
    pub attempted: Option<(SagaAction, String)>,
}

impl<'a> OpsSagaView<'a> {
    pub fn new(ctx: &'a PageContext, detail: &'a Saga) -> Self {
        Self {
            csrf_token: &ctx.csrf_token,
            saga: &detail.instance.summary,
            detail,
            status: SagaStatusView::of(detail),
            shown: contact_details(detail).map(|details| ShownDetails {
                details,
                revealed: !detail.details_masked,
            }),
            actions: SagaAction::MOVES.into_iter().filter(|a| detail.allows(*a)).collect(),
            edit: None,
            notice: None,
            error: None,
            attempted: None,
        }
    }

    /// With the notice for `?done=<action>` after an action.
    pub fn with_notice(self, done: &str) -> Self {
        let notice = SagaAction::parse(done).and_then(|action| match action {
            SagaAction::Retry => Some("Retry requested."),
            SagaAction::RetryPublish => Some("Publish requested."),
            SagaAction::Cancel => Some("Cancel requested: the saga compensates its steps."),
            SagaAction::MarkCompensated => Some("Compensation marked as done."),
            SagaAction::EditDetails => Some("Details corrected: the saga runs again from validation."),
            SagaAction::Reveal => None,
        });
        Self { notice, ..self }
    }

    /// With the shopper's details revealed (this answer only), and the form to correct them
    /// when the saga failed validation.
    pub fn revealed(self, details: DetailsForm, countries: Vec<CountryOption>) -> Self {
        let edit = self
            .detail
            .allows(SagaAction::EditDetails)
            .then(|| EditDetailsForm::of(&details, countries));
        Self {
            shown: Some(ShownDetails {
                details,
                revealed: true,
            }),
            edit,
            notice: Some("Details revealed; your reading is recorded. They show on this page only until you leave it."),
            ..self
        }
    }

    /// With the correction form as typed and why product-order refused it.
    pub fn with_edit_refused(self, edit: EditDetailsForm) -> Self {
        Self {
            edit: Some(edit),
            ..self
        }
    }

    /// With why `action` was refused, its form keeping the reason typed (and offered even
    /// when the saga's state no longer allows it, to show the message next to it).
    pub fn with_refusal(mut self, action: SagaAction, message: String, reason: String) -> Self {
        if SagaAction::MOVES.contains(&action) && !self.actions.contains(&action) {
            self.actions.push(action);
        }
        Self {
            error: Some(message),
            attempted: Some((action, reason)),
            ..self
        }
    }

    pub fn title(&self) -> String {
        format!("Saga {} · Operator", short_id(&self.saga.id))
    }

    /// The button of `action`.
    pub fn action_label(&self, action: &SagaAction) -> &'static str {
        action_label(*action)
    }

    /// The reason typed for `action` before it was refused.
    pub fn reason_for(&self, action: &SagaAction) -> &str {
        match &self.attempted {
            Some((tried, reason)) if tried == action => reason,
            _ => "",
        }
    }

    /// Why `action` was refused, when it was the one just tried.
    pub fn error_for(&self, action: &SagaAction) -> Option<&str> {
        match &self.attempted {
            Some((tried, _)) if tried == action => self.error.as_deref(),
            _ => None,
        }
    }

    /// The reveal form's reason and error, after a refusal.
    pub fn reveal_reason(&self) -> &str {
        self.reason_for(&SagaAction::Reveal)
    }

    pub fn reveal_error(&self) -> Option<&str> {
        self.error_for(&SagaAction::Reveal)
    }

    /// product-order offers to reveal the details, and they are not shown yet.
    pub fn can_reveal(&self) -> bool {
        self.detail.allows(SagaAction::Reveal) && !self.shown.as_ref().is_some_and(|s| s.revealed)
    }

    /// product-order offers to correct the details (the saga failed validation).
    pub fn can_edit(&self) -> bool {
        self.detail.allows(SagaAction::EditDetails)
    }
}

/// The shopper's details in a checkout saga's input, as product-order sent them (masked unless
/// revealed); None when the input is no checkout's.
pub fn contact_details(detail: &Saga) -> Option<DetailsForm> {
    let details = detail.instance.input.get("details")?;
    serde_json::from_value(details.clone()).ok()
}

/// Where the console's form of `action` posts (the correction form has an address of its own).
pub fn form_address(saga: Uuid, action: SagaAction) -> String {
    match action {
        SagaAction::EditDetails => format!("/ops/sagas/{saga}/details"),
        other => format!("/ops/sagas/{saga}/{other}"),
    }
}

/// The button (and confirmation) of an action.
pub fn action_label(action: SagaAction) -> &'static str {
    match action {
        SagaAction::Retry => "Retry",
        SagaAction::RetryPublish => "Retry only the publish",
        SagaAction::Cancel => "Cancel",
        SagaAction::MarkCompensated => "Mark compensation done",
        SagaAction::Reveal => "Reveal the details",
        SagaAction::EditDetails => "Correct the details and run again",
    }
}

/// The status part of a saga page (`#saga-status`): its state and failure, its steps beside
/// their compensations and the timeline of attempts. While the saga runs or compensates,
/// htmx fetches it again every 2 seconds; once it stops it carries no trigger.
#[derive(Template)]
#[template(path = "ops/saga_status.html")]
pub struct SagaStatusView<'a> {
    pub detail: &'a Saga,
    pub drawing: SagaDrawing,
}

impl<'a> SagaStatusView<'a> {
    pub fn of(detail: &'a Saga) -> Self {
        Self {
            detail,
            drawing: SagaDrawing::of(detail),
        }
    }

    /// The saga moves on its own: the part keeps polling.
    pub fn polls(&self) -> bool {
        !self.detail.instance.summary.state.is_final()
    }

    /// The saga page's address (what htmx polls).
    pub fn path(&self) -> String {
        format!("/ops/sagas/{}", self.detail.instance.summary.id)
    }

    /// The step the saga is at (or ended at).
    pub fn is_current(&self, name: &str) -> bool {
        self.detail.instance.summary.step == name
    }

    /// Where the saga stands, after its state's label. A failed saga's position is where its
    /// compensation ended (its first step), so it is named by the step whose failure ended it;
    /// an ended saga counts no attempts.
    pub fn whereabouts(&self) -> String {
        let summary = &self.detail.instance.summary;
        match summary.state {
            InstanceState::Running => format!("at {}, attempt {}", summary.step, summary.attempts),
            InstanceState::Compensating => format!("undoing {}, attempt {}", summary.step, summary.attempts),
            InstanceState::Stuck => format!(
                "at {} ({}) after {} attempts: it needs an operator",
                summary.step, summary.phase, summary.attempts
            ),
            InstanceState::Failed => match self.failed_step() {
                Some(step) => format!("at {step}; what the steps before it did is undone"),
                None => "; what its steps did is undone".to_owned(),
            },
            InstanceState::Completed => "with every step done".to_owned(),
        }
    }

    /// The step whose failure sent the saga back: the last forward attempt that did not
    /// succeed, else a step marked failed.
    fn failed_step(&self) -> Option<&str> {
        let instance = &self.detail.instance;
        instance
            .attempts_log
            .iter()
            .rev()
            .find(|a| a.phase == Phase::Forward && a.outcome != AttemptOutcome::Succeeded)
            .map(|a| a.step.as_str())
            .or_else(|| {
                instance
                    .steps
                    .iter()
                    .find(|s| s.state == StepState::Failed)
                    .map(|s| s.name.as_str())
            })
    }

    /// A compensation's state in words: one still pending on a saga that has ended never had
    /// to run (its step did not get to do anything).
    pub fn compensation_label(&self, compensation: &CompensationView) -> String {
        if self.detail.instance.summary.state.is_final() && compensation.state == StepState::Pending {
            "not needed".to_owned()
        } else {
            compensation.state.to_string()
        }
    }

    /// Where an event of the order stands, in words.
    pub fn delivery_label(&self, event: &OutboxEvent) -> &'static str {
        match (event.state, event.routed) {
            (EventDelivery::Confirmed, Some(false)) => "confirmed by the broker, but no queue took it",
            (EventDelivery::Confirmed, _) => "confirmed by the broker",
            (EventDelivery::Published, _) => "published, not confirmed",
            (EventDelivery::Written, _) => "written, not sent yet",
        }
    }

    /// How long an attempt took, or "—" while it runs.
    pub fn duration(&self, attempt: &AttemptView) -> String {
        attempt
            .ended_at
            .map_or_else(|| "—".to_owned(), |end| took(attempt.started_at, end))
    }
}

/// "Are you sure?" for an action: what it does, with the form's fields carried over, sent
/// again with `confirmed=yes`.
#[derive(Template)]
#[template(path = "ops/confirm.html")]
pub struct ConfirmView<'a> {
    pub csrf_token: &'a str,
    /// The operator's section it belongs to, for the navigation.
    pub section: &'static str,
    pub title: String,
    pub question: String,
    pub facts: Vec<(&'static str, String)>,
    /// Where the form goes.
    pub action: String,
    pub fields: Vec<(&'static str, String)>,
    pub button: &'static str,
    pub back: String,
}

impl<'a> ConfirmView<'a> {
    /// Confirms `action` on the saga `detail`.
    pub fn of_saga_action(
        ctx: &'a PageContext,
        detail: &Saga,
        action: SagaAction,
        question: &str,
        fields: Vec<(&'static str, String)>,
    ) -> Self {
        let saga = &detail.instance.summary;
        let reason = fields
            .iter()
            .find(|(name, _)| *name == "reason")
            .map(|(_, reason)| reason.clone())
            .unwrap_or_default();
        Self {
            csrf_token: &ctx.csrf_token,
            section: "sagas",
            title: format!("{} saga {}?", action_label(action), short_id(&saga.id)),
            question: question.to_owned(),
            facts: vec![
                ("Saga", saga.id.to_string()),
                (
                    "Now",
                    format!("{} at {} ({})", saga.state.as_str(), saga.step, saga.phase),
                ),
                ("Reason", reason),
            ],
            action: form_address(saga.id, action),
            fields,
            button: action_label(action),
            back: format!("/ops/sagas/{}", saga.id),
        }
    }
}

/// What an action does, for its confirmation.
pub fn what_it_does(action: SagaAction) -> &'static str {
    match action {
        SagaAction::Retry => {
            "The saga runs its current step (or compensation) again now; a failed saga starts over from its first step."
        }
        SagaAction::RetryPublish => {
            "A saga waiting at its publish step publishes now; a completed one sends its order.placed event again with the same event id (consumers apply it once)."
        }
        SagaAction::Cancel => "The saga stops and undoes what it did: its compensations run, newest first.",
        SagaAction::MarkCompensated => {
            "You did the stuck compensation by hand: it is recorded as done and the remaining compensations run."
        }
        SagaAction::Reveal => {
            "The shopper's contact and delivery details show on the next page, once. Your reading is recorded with your reason."
        }
        SagaAction::EditDetails => {
            "The shopper's details are replaced by those you typed (checked like the checkout form) and the saga runs again from validation."
        }
    }
}

/// A saga state in words.
pub fn state_label(state: &InstanceState) -> &'static str {
    match state {
        InstanceState::Running => "Running",
        InstanceState::Compensating => "Compensating",
        InstanceState::Completed => "Completed",
        InstanceState::Failed => "Failed",
        InstanceState::Stuck => "Stuck",
    }
}

/// When, to the second (UTC): saga steps follow each other within seconds.
pub fn when_exactly(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The time between `start` and `end`, in milliseconds below a second.
fn took(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let ms = (end - start).num_milliseconds().max(0);
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A saga as product-order sends it: details masked, the actions that apply listed.
    fn detail(state: &str, actions: &[&str]) -> Saga {
        serde_json::from_value(serde_json::json!({
            "id": Uuid::nil(), "saga": "checkout", "state": state, "step": "reserve_stock",
            "phase": "forward", "attempts": 1, "failure": "Tea <x> is out of stock.", "owner": "u",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:01Z", "ended_at": null,
            "input": {"customer_id": Uuid::nil(), "details": {
                "contact": {"name": "A** L*******", "email": "a***@example.com", "phone": "*** 958"},
                "delivery": {"line1": "1* S* J****** S*****", "line2": "", "city": "London", "postal_code": "S*** 4**", "country": "GB"}},
                "lines": [], "total": 0, "currency": "EUR"},
            "details_masked": true,
            "run_after": null, "lease_owner": null,
            "steps": [
                {"index": 0, "name": "validate", "state": "succeeded", "attempts": 1, "error": null, "compensation": null},
                {"index": 1, "name": "reserve_stock", "state": "failed", "attempts": 1, "error": "out",
                 "compensation": {"state": "pending", "attempts": 0, "error": null}}],
            "edges": [
                {"from": {"kind": "step", "index": 0, "phase": "forward"}, "to": {"kind": "step", "index": 1, "phase": "forward"}, "kind": "succeeds"},
                {"from": {"kind": "step", "index": 1, "phase": "forward"}, "to": {"kind": "completed"}, "kind": "succeeds"},
                {"from": {"kind": "step", "index": 0, "phase": "forward"}, "to": {"kind": "failed"}, "kind": "fails_for_good"},
                {"from": {"kind": "step", "index": 1, "phase": "forward"}, "to": {"kind": "failed"}, "kind": "fails_for_good"},
                {"from": {"kind": "step", "index": 1, "phase": "compensation"}, "to": {"kind": "failed"}, "kind": "undone"}],
            "attempts_log": [{"id": 1, "step": "reserve_stock", "phase": "forward", "attempt": 1, "worker": "w-1",
                              "started_at": "2026-01-01T00:00:00Z", "ended_at": "2026-01-01T00:00:00.250Z",
                              "outcome": "failed", "error": "out"}],
            "operator_actions": [{"operator": "op@example.com", "action": "retry", "reason": "try <again>",
                                  "state_before": "failed", "state_after": "running", "details": null, "at": "2026-01-01T00:00:02Z"}],
            "order_id": null, "outbox": [], "actions": actions, "refused": []
        }))
        .unwrap()
    }

    #[test]
    fn a_failed_saga_is_named_by_the_step_that_failed_not_where_its_compensation_ended() {
        let mut failed = detail("failed", &["retry"]);
        // Compensation ends at the first step, which is where a failed saga rests.
        let summary = &mut failed.instance.summary;
        summary.step = "validate".into();
        summary.phase = Phase::Compensation;
        summary.attempts = 0;
        let status = SagaStatusView::of(&failed);
        assert_eq!(
            status.whereabouts(),
            "at reserve_stock; what the steps before it did is undone"
        );
        let compensation = failed.instance.steps[1].compensation.as_ref().unwrap();
        assert_eq!(status.compensation_label(compensation), "not needed");
        let html = status.render().unwrap();
        assert!(!html.contains("attempt 0") && html.contains("not needed"), "{html}");

        let running = detail("running", &[]);
        let status = SagaStatusView::of(&running);
        assert_eq!(status.whereabouts(), "at reserve_stock, attempt 1");
        let compensation = running.instance.steps[1].compensation.as_ref().unwrap();
        assert_eq!(status.compensation_label(compensation), "pending", "it may still run");
    }

    #[test]
    fn masked_details_show_as_sent_and_can_be_revealed() {
        let ctx = PageContext::default();
        let detail = detail("failed", &["retry", "reveal"]);
        let html = OpsSagaView::new(&ctx, &detail).render().unwrap();
        assert!(
            html.contains("A** L*******") && html.contains(r#"data-shown="masked""#),
            "{html}"
        );
        assert!(html.contains(r#"action="/ops/sagas/00000000-0000-0000-0000-000000000000/reveal""#));
        let revealed = serde_json::from_value(serde_json::json!({
            "contact": {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0958"},
            "delivery": {"line1": "12 Square", "line2": "", "city": "London", "postal_code": "SW1Y 4LB", "country": "GB"}
        }))
        .unwrap();
        let html = OpsSagaView::new(&ctx, &detail)
            .revealed(revealed, Vec::new())
            .render()
            .unwrap();
        assert!(
            html.contains("Ada Lovelace") && html.contains(r#"data-shown="revealed""#),
            "{html}"
        );
        assert!(!html.contains("/reveal\""), "no second reveal: {html}");
        assert!(!html.contains("edit-details-form"), "not offered: {html}");
    }

    #[test]
    fn the_actions_follow_product_order_and_polling_stops_when_it_ends() {
        let ctx = PageContext::default();
        let failed = detail("failed", &["retry", "reveal"]);
        let html = OpsSagaView::new(&ctx, &failed).render().unwrap();
        assert!(html.contains(r#"action="/ops/sagas/00000000-0000-0000-0000-000000000000/retry""#));
        assert!(
            !html.contains("/cancel\"") && !html.contains("/mark-compensated\"") && !html.contains("/retry-publish\""),
            "{html}"
        );
        assert!(!html.contains("hx-trigger"), "{html}");
        assert!(html.contains("250 ms") && html.contains("w-1"), "{html}");
        assert!(html.contains("try &#60;again&#62;") || html.contains("try &lt;again&gt;"));
        let running = detail("running", &["retry", "cancel", "retry-publish"]);
        let html = OpsSagaView::new(&ctx, &running).render().unwrap();
        assert!(html.contains(r#"hx-trigger="every 2s""#), "{html}");
        assert!(
            html.contains("/cancel\"") && html.contains("/retry-publish\""),
            "{html}"
        );
    }

    #[test]
    fn the_drawing_pairs_steps_with_their_compensations_and_marks_where_the_saga_is() {
        let running = detail("running", &[]);
        let html = SagaDrawing::of(&running).render().unwrap();
        assert!(
            html.contains(r#"data-node="reserve_stock" data-state="failed" aria-current="step""#),
            "{html}"
        );
        assert!(
            html.contains(r#"data-node="undo reserve_stock" data-state="pending""#),
            "{html}"
        );
        assert!(!html.contains("undo validate"), "validate has nothing to undo: {html}");
        assert_eq!(html.matches(r#"data-edge="fails""#).count(), 2, "{html}");
        assert_eq!(html.matches(r#"data-edge="undone""#).count(), 1, "{html}");
        let failed = detail("failed", &[]);
        let html = SagaDrawing::of(&failed).render().unwrap();
        assert!(
            html.contains(r#"data-node="failed" data-state="reached" aria-current="step""#),
            "{html}"
        );
    }

    #[test]
    fn a_refused_action_keeps_its_reason_and_says_why() {
        let ctx = PageContext::default();
        let failed = detail("failed", &["retry"]);
        let view =
            OpsSagaView::new(&ctx, &failed).with_refusal(SagaAction::Cancel, "Not now.".into(), "by hand".into());
        assert_eq!(view.reason_for(&SagaAction::Cancel), "by hand");
        assert_eq!(view.reason_for(&SagaAction::Retry), "");
        let html = view.render().unwrap();
        assert!(
            html.contains("Not now.") && html.contains(r#"value="by hand""#),
            "{html}"
        );
    }

    #[test]
    fn the_list_address_keeps_its_filters() {
        assert_eq!(SagaFilter::default().url(None), "/ops/sagas");
        let filter = SagaFilter {
            state: Some(InstanceState::Stuck),
            idle_minutes: Some(5),
            q: Some("ada@example.com".into()),
        };
        assert_eq!(
            filter.url(Some(Uuid::nil())),
            "/ops/sagas?state=stuck&idle_minutes=5&q=ada%40example.com&cursor=00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(
            filter.bulk_url(),
            "/ops/sagas/bulk-retry?state=stuck&idle_minutes=5&q=ada%40example.com"
        );
    }
}
