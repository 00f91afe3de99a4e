//! The operator's saga pages, and how a shopper's details read on them: masked, since an
//! operator looking into a saga needs to tell shoppers apart, not to know who they are.

use askama::Template;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::catalog::views::LoadMore;
use crate::clients::product_order::{SagaAction, SagaAttempt, SagaDetail, SagaPage, SagaState, SagaSummary};
use crate::orders::views::short_id;
use crate::render::PageContext;

/// The id of a saga page's status part (`#saga-status`), which htmx polls while the saga
/// moves on its own.
pub const STATUS_PART: &str = "saga-status";

/// The address of the saga list of `state` (all when None) idle for more than
/// `idle_minutes`, from `cursor` on.
pub fn sagas_url(state: Option<SagaState>, idle_minutes: Option<u32>, cursor: Option<Uuid>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(state) = state {
        query.append_pair("state", state.as_str());
    }
    if let Some(minutes) = idle_minutes {
        query.append_pair("idle_minutes", &minutes.to_string());
    }
    if let Some(cursor) = cursor {
        query.append_pair("cursor", &cursor.to_string());
    }
    let query = query.finish();
    if query.is_empty() {
        "/ops/sagas".to_owned()
    } else {
        format!("/ops/sagas?{query}")
    }
}

/// One choice of the state filter, with how many sagas are in that state.
pub struct StateFilter {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
    pub count: i64,
}

/// /ops/sagas: the count per state as filters, the idle filter, a page of sagas and "Load more".
#[derive(Template)]
#[template(path = "ops/sagas.html")]
pub struct OpsSagasView<'a> {
    pub state: Option<SagaState>,
    pub idle_minutes: Option<u32>,
    pub filters: Vec<StateFilter>,
    pub sagas: &'a [SagaSummary],
    /// This page continues an earlier one (opened without JavaScript).
    pub continued: bool,
    pub load_more: LoadMore,
}

impl<'a> OpsSagasView<'a> {
    pub fn new(
        state: Option<SagaState>,
        idle_minutes: Option<u32>,
        listing: &'a SagaPage,
        continued: bool,
        load_more: LoadMore,
    ) -> Self {
        let count_of = |s: SagaState| {
            listing
                .counts
                .iter()
                .filter(|c| c.state == s)
                .map(|c| c.count)
                .sum::<i64>()
        };
        let filters = SagaState::ALL
            .into_iter()
            .map(|s| StateFilter {
                label: state_label(&s),
                href: sagas_url(Some(s), idle_minutes, None),
                current: state == Some(s),
                count: count_of(s),
            })
            .chain(std::iter::once(StateFilter {
                label: "All",
                href: sagas_url(None, idle_minutes, None),
                current: state.is_none(),
                count: listing.counts.iter().map(|c| c.count).sum(),
            }))
            .collect();
        Self {
            state,
            idle_minutes,
            filters,
            sagas: &listing.items,
            continued,
            load_more,
        }
    }

    /// The idle filter's value as typed in its field.
    pub fn idle_value(&self) -> String {
        self.idle_minutes.map(|m| m.to_string()).unwrap_or_default()
    }
}

/// The next rows, for htmx to append to `#ops-saga-rows`.
#[derive(Template)]
#[template(path = "ops/more_sagas.html")]
pub struct OpsMoreSagasView<'a> {
    pub sagas: &'a [SagaSummary],
    pub load_more: LoadMore,
}

/// The shopper's details of a checkout saga, masked.
pub struct MaskedDetails {
    pub name: String,
    pub email: String,
    pub phone: String,
    pub street: String,
    pub postal_code: String,
    pub city: String,
    pub country: String,
}

impl MaskedDetails {
    fn of(detail: &SagaDetail) -> Option<Self> {
        let details = detail.contact_details()?;
        let street = [details.delivery.line1.as_str(), details.delivery.line2.as_str()]
            .into_iter()
            .filter(|line| !line.trim().is_empty())
            .map(mask_words)
            .collect::<Vec<_>>()
            .join(", ");
        Some(Self {
            name: mask_words(&details.contact.name),
            email: mask_email(&details.contact.email),
            phone: mask_phone(&details.contact.phone),
            street,
            postal_code: mask_words(&details.delivery.postal_code),
            city: details.delivery.city,
            country: details.delivery.country,
        })
    }
}

/// /ops/sagas/{id}: the status part, the shopper's details (masked), the operator actions
/// taken so far and one form per action the saga's state allows.
#[derive(Template)]
#[template(path = "ops/saga.html")]
pub struct OpsSagaView<'a> {
    pub csrf_token: &'a str,
    pub saga: &'a SagaSummary,
    pub detail: &'a SagaDetail,
    pub status: SagaStatusView<'a>,
    pub masked: Option<MaskedDetails>,
    pub actions: Vec<SagaAction>,
    /// What the last action did.
    pub notice: Option<&'static str>,
    /// Why the action just tried was refused.
    pub error: Option<String>,
    /// The action just tried and the reason typed for it, kept in its form.
    pub attempted: Option<(SagaAction, String)>,
}

impl<'a> OpsSagaView<'a> {
    pub fn new(ctx: &'a PageContext, detail: &'a SagaDetail) -> Self {
        let state = detail.summary.state;
        Self {
            csrf_token: &ctx.csrf_token,
            saga: &detail.summary,
            detail,
            status: SagaStatusView { detail },
            masked: MaskedDetails::of(detail),
            actions: SagaAction::ALL.into_iter().filter(|a| a.applies_to(state)).collect(),
            notice: None,
            error: None,
            attempted: None,
        }
    }

    /// With the notice for `?done=<action>` after an action.
    pub fn with_notice(self, done: &str) -> Self {
        let notice = match done.parse() {
            Ok(SagaAction::Retry) => Some("Retry requested."),
            Ok(SagaAction::Cancel) => Some("Cancel requested: the saga compensates its steps."),
            Ok(SagaAction::MarkCompensated) => Some("Compensation marked as done."),
            Err(()) => None,
        };
        Self { notice, ..self }
    }

    /// With why `action` was refused, its form keeping the reason typed (and offered even
    /// when the saga's state no longer allows it, to show the message next to it).
    pub fn with_refusal(mut self, action: SagaAction, message: String, reason: String) -> Self {
        if !self.actions.contains(&action) {
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
        match action {
            SagaAction::Retry => "Retry",
            SagaAction::Cancel => "Cancel",
            SagaAction::MarkCompensated => "Mark compensation done",
        }
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
}

/// The status part of a saga page (`#saga-status`): its state and failure, its steps beside
/// their compensations and the timeline of attempts. While the saga runs or compensates,
/// htmx fetches it again every 2 seconds; once it stops it carries no trigger.
#[derive(Template)]
#[template(path = "ops/saga_status.html")]
pub struct SagaStatusView<'a> {
    pub detail: &'a SagaDetail,
}

impl SagaStatusView<'_> {
    /// The saga moves on its own: the part keeps polling.
    pub fn polls(&self) -> bool {
        self.detail.summary.state.is_moving()
    }

    /// The saga page's address (what htmx polls).
    pub fn path(&self) -> String {
        format!("/ops/sagas/{}", self.detail.summary.id)
    }

    /// The step the saga is at (or ended at).
    pub fn is_current(&self, name: &str) -> bool {
        self.detail.summary.step == name
    }

    /// How long an attempt took, or "—" while it runs.
    pub fn duration(&self, attempt: &SagaAttempt) -> String {
        attempt
            .ended_at
            .map_or_else(|| "—".to_owned(), |end| took(attempt.started_at, end))
    }
}

/// A saga state in words.
pub fn state_label(state: &SagaState) -> &'static str {
    match state {
        SagaState::Running => "Running",
        SagaState::Compensating => "Compensating",
        SagaState::Completed => "Completed",
        SagaState::Failed => "Failed",
        SagaState::Stuck => "Stuck",
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

/// Each word's first character, then one star per other character: "A** L*******".
pub fn mask_words(text: &str) -> String {
    text.split_whitespace()
        .map(|word| {
            let mut chars = word.chars();
            let first = chars.next().map(String::from).unwrap_or_default();
            first + &"*".repeat(chars.count())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first character of the local part and the domain: "a***@example.com".
pub fn mask_email(email: &str) -> String {
    match email.trim().split_once('@') {
        Some((local, domain)) => {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            format!("{first}***@{domain}")
        }
        None => mask_words(email),
    }
}

/// Only the last 3 digits: "*** 958".
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let last: String = digits[digits.len().saturating_sub(3)..].iter().collect();
    format!("*** {last}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(state: &str) -> SagaDetail {
        serde_json::from_value(serde_json::json!({
            "id": Uuid::nil(), "saga": "checkout", "state": state, "step": "reserve_stock",
            "phase": "forward", "attempts": 1, "failure": "Tea <x> is out of stock.", "owner": "u",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:01Z", "ended_at": null,
            "input": {"customer_id": Uuid::nil(), "details": {
                "contact": {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0958"},
                "delivery": {"line1": "12 St James's Square", "line2": "", "city": "London", "postal_code": "SW1Y 4LB", "country": "GB"}},
                "lines": [], "total": 0, "currency": "EUR"},
            "run_after": null, "lease_owner": null,
            "steps": [
                {"index": 0, "name": "validate", "state": "succeeded", "attempts": 1, "error": null, "compensation": null},
                {"index": 1, "name": "reserve_stock", "state": "failed", "attempts": 1, "error": "out",
                 "compensation": {"state": "pending", "attempts": 0, "error": null}}],
            "attempts_log": [{"id": 1, "step": "reserve_stock", "phase": "forward", "attempt": 1, "worker": "w-1",
                              "started_at": "2026-01-01T00:00:00Z", "ended_at": "2026-01-01T00:00:00.250Z",
                              "outcome": "failed", "error": "out"}],
            "operator_actions": [{"operator": "op@example.com", "action": "retry", "reason": "try <again>",
                                  "state_before": "failed", "state_after": "running", "at": "2026-01-01T00:00:02Z"}]
        }))
        .unwrap()
    }

    #[test]
    fn details_are_masked() {
        assert_eq!(mask_words("Ada Lovelace"), "A** L*******");
        assert_eq!(mask_email("ada@example.com"), "a***@example.com");
        assert_eq!(mask_phone("+44 20 7946 0958"), "*** 958");
        assert_eq!(mask_phone(""), "*** ");
        let ctx = PageContext::default();
        let detail = detail("failed");
        let html = OpsSagaView::new(&ctx, &detail).render().unwrap();
        for secret in ["Ada", "Lovelace", "ada@example.com", "7946", "James"] {
            assert!(!html.contains(secret), "{secret}: {html}");
        }
        assert!(
            html.contains("A** L*******") && html.contains("a***@example.com"),
            "{html}"
        );
    }

    #[test]
    fn the_actions_follow_the_state_and_polling_stops_when_it_ends() {
        let ctx = PageContext::default();
        let failed = detail("failed");
        let html = OpsSagaView::new(&ctx, &failed).render().unwrap();
        assert!(html.contains(r#"action="/ops/sagas/00000000-0000-0000-0000-000000000000/retry""#));
        assert!(
            !html.contains("/cancel\"") && !html.contains("/mark-compensated\""),
            "{html}"
        );
        assert!(!html.contains("hx-trigger"), "{html}");
        assert!(html.contains("250 ms") && html.contains("w-1"), "{html}");
        assert!(html.contains("try &#60;again&#62;") || html.contains("try &lt;again&gt;"));
        let running = detail("running");
        let html = OpsSagaView::new(&ctx, &running).render().unwrap();
        assert!(html.contains(r#"hx-trigger="every 2s""#), "{html}");
        assert!(html.contains("/cancel\""), "{html}");
    }

    #[test]
    fn a_refused_action_keeps_its_reason_and_says_why() {
        let ctx = PageContext::default();
        let failed = detail("failed");
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
        assert_eq!(sagas_url(None, None, None), "/ops/sagas");
        assert_eq!(
            sagas_url(Some(SagaState::Stuck), Some(5), Some(Uuid::nil())),
            "/ops/sagas?state=stuck&idle_minutes=5&cursor=00000000-0000-0000-0000-000000000000"
        );
    }
}
