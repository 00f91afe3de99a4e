//! The operator's dead-letter pages: the list with its selection, one dead letter with its
//! body (the shopper's contact and delivery details masked), and the confirmation of an action.

use askama::Template;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::clients::customer::{
    DeadLetter, DeadLetterDetail, DeadLetterPage, DiscardReport, LetterState, ReplayReport, Selection,
};
use crate::orders::views::short_id;
use crate::render::PageContext;

/// What an operator can do to dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LetterAction {
    Replay,
    Discard,
}

impl LetterAction {
    /// The action's name in addresses (`/ops/dead-letters/replay`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Replay => "replay",
            Self::Discard => "discard",
        }
    }
}

/// What the last action did, carried in the list's address after the redirect.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Outcome {
    /// `replay` or `discard`; anything else shows no notice.
    pub done: String,
    pub applied: u32,
    pub already: u32,
    pub failed: u32,
    pub skipped: u32,
    pub discarded: u32,
    /// Open dead letters a "replay all" left for the next.
    pub remaining: u32,
}

impl Outcome {
    pub fn of_replay(report: &ReplayReport) -> Self {
        let count = |outcomes: &[&str]| {
            report
                .results
                .iter()
                .filter(|r| outcomes.contains(&r.outcome.as_str()))
                .count() as u32
        };
        Self {
            done: "replay".into(),
            applied: count(&["applied", "older_than_stored"]),
            already: count(&["already_applied"]),
            failed: count(&["failed"]),
            skipped: count(&["not_open"]),
            remaining: u32::try_from(report.remaining).unwrap_or(0),
            ..Self::default()
        }
    }

    pub fn of_discard(report: &DiscardReport) -> Self {
        let discarded = report.results.iter().filter(|r| r.outcome == "discarded").count() as u32;
        Self {
            done: "discard".into(),
            discarded,
            skipped: report.results.len() as u32 - discarded,
            ..Self::default()
        }
    }

    /// The sentence shown above the list.
    pub fn notice(&self) -> Option<String> {
        let mut parts = Vec::new();
        let mut part = |count: u32, what: &str| {
            if count > 0 {
                parts.push(format!("{count} {what}"));
            }
        };
        let lead = match self.done.as_str() {
            "replay" => {
                part(self.applied, "applied");
                part(self.already, "applied already (left as they were)");
                part(self.failed, "failed again (their errors are below)");
                part(self.skipped, "no longer open");
                part(self.remaining, "more left: replay all again");
                "Replayed"
            }
            "discard" => {
                part(self.discarded, "discarded");
                part(self.skipped, "no longer open");
                "Discard"
            }
            _ => return None,
        };
        if parts.is_empty() {
            parts.push("nothing to do".into());
        }
        Some(format!("{lead}: {}.", parts.join(", ")))
    }
}

/// The list's address after an action, saying what came of it.
pub fn dead_letters_url(outcome: &Outcome) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("done", &outcome.done);
    for (name, value) in [
        ("applied", outcome.applied),
        ("already", outcome.already),
        ("failed", outcome.failed),
        ("skipped", outcome.skipped),
        ("discarded", outcome.discarded),
        ("remaining", outcome.remaining),
    ] {
        if value > 0 {
            query.append_pair(name, &value.to_string());
        }
    }
    format!("/ops/dead-letters?{}", query.finish())
}

/// One choice of the state filter, with its count.
pub struct StateFilter {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
    pub count: i64,
}

/// /ops/dead-letters: the state filter, a page of dead letters (open ones with a checkbox
/// each) and the actions on the selection or on all.
#[derive(Template)]
#[template(path = "ops/dead_letters.html")]
pub struct OpsDeadLettersView<'a> {
    pub csrf_token: &'a str,
    pub state: Option<LetterState>,
    pub filters: Vec<StateFilter>,
    pub letters: &'a [DeadLetter],
    /// Open dead letters, all pages together.
    pub open: i64,
    pub continued: bool,
    pub next_url: Option<String>,
    pub notice: Option<String>,
}

impl<'a> OpsDeadLettersView<'a> {
    pub fn new(
        ctx: &'a PageContext,
        state: Option<LetterState>,
        listing: &'a DeadLetterPage,
        continued: bool,
        notice: Option<String>,
    ) -> Self {
        let count_of = |s: LetterState| listing.counts.iter().filter(|c| c.state == s).map(|c| c.count).sum();
        let url = |name: &str| format!("/ops/dead-letters?state={name}");
        let filters = [
            (LetterState::Dead, "Open"),
            (LetterState::Replayed, "Replayed"),
            (LetterState::Discarded, "Discarded"),
        ]
        .into_iter()
        .map(|(s, label)| StateFilter {
            label,
            href: url(s.as_str()),
            current: state == Some(s),
            count: count_of(s),
        })
        .chain(std::iter::once(StateFilter {
            label: "All",
            href: url("all"),
            current: state.is_none(),
            count: listing.counts.iter().map(|c| c.count).sum(),
        }))
        .collect();
        let state_name = state.map_or("all", |s| s.as_str());
        Self {
            csrf_token: &ctx.csrf_token,
            state,
            filters,
            letters: &listing.items,
            open: count_of(LetterState::Dead),
            continued,
            next_url: listing
                .next_cursor
                .map(|next| format!("/ops/dead-letters?state={state_name}&cursor={next}")),
            notice,
        }
    }

    /// Open dead letters are listed: they can be chosen and acted on.
    pub fn actionable(&self) -> bool {
        self.state == Some(LetterState::Dead) && !self.letters.is_empty()
    }
}

/// The order a dead letter is about, shortened, or a dash.
pub fn order_label(letter: &DeadLetter) -> String {
    letter.order_id.map_or_else(|| "–".to_owned(), |id| short_id(&id))
}

/// /ops/dead-letters/{id}: the dead letter, its body, what was done to it, and its actions.
#[derive(Template)]
#[template(path = "ops/dead_letter.html")]
pub struct OpsDeadLetterView<'a> {
    pub csrf_token: &'a str,
    pub letter: &'a DeadLetter,
    pub detail: &'a DeadLetterDetail,
    pub body: String,
}

impl<'a> OpsDeadLetterView<'a> {
    pub fn new(ctx: &'a PageContext, detail: &'a DeadLetterDetail) -> Self {
        Self {
            csrf_token: &ctx.csrf_token,
            letter: &detail.letter,
            detail,
            body: masked_body(&detail.body),
        }
    }

    pub fn title(&self) -> String {
        format!("Dead letter {} · Operator", short_id(&self.letter.id))
    }
}

/// The body pretty-printed, the shopper's contact and delivery details masked: an operator
/// needs the event's shape and ids to mend it, not who the shopper is. A body that is not
/// JSON is shown as it came.
pub fn masked_body(body: &str) -> String {
    let Ok(mut value) = serde_json::from_str::<Value>(body) else {
        return body.to_owned();
    };
    if let Value::Object(fields) = &mut value {
        for key in ["contact", "delivery"] {
            if let Some(personal) = fields.get_mut(key) {
                mask(personal);
            }
        }
    }
    serde_json::to_string_pretty(&value).unwrap_or_else(|_| body.to_owned())
}

fn mask(value: &mut Value) {
    match value {
        Value::String(text) => {
            let first: String = text.chars().take(1).collect();
            *text = if text.is_empty() {
                String::new()
            } else {
                format!("{first}***")
            };
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        Value::Object(fields) => fields.values_mut().for_each(mask),
        _ => {}
    }
}

/// The confirmation of an action on a selection: what it is about, and for a discard, why.
#[derive(Template)]
#[template(path = "ops/dead_letters_confirm.html")]
pub struct ConfirmView<'a> {
    pub csrf_token: &'a str,
    pub action: LetterAction,
    pub all: bool,
    /// The ids chosen, carried to the confirmed form.
    pub ids: Vec<Uuid>,
    /// How many the action is about.
    pub count: i64,
    /// The chosen dead letters that are open, to show.
    pub letters: Vec<&'a DeadLetter>,
    pub reason: String,
    /// Why the action was refused (a discard without a reason, say).
    pub error: Option<String>,
}

impl<'a> ConfirmView<'a> {
    pub fn new(
        ctx: &'a PageContext,
        action: LetterAction,
        selection: &Selection,
        open: &'a DeadLetterPage,
        reason: String,
        error: Option<String>,
    ) -> Self {
        let (all, ids) = match selection {
            Selection::All => (true, Vec::new()),
            Selection::Chosen(ids) => (false, ids.clone()),
        };
        let letters: Vec<&DeadLetter> = open
            .items
            .iter()
            .filter(|letter| all || ids.contains(&letter.id))
            .collect();
        let count = if all {
            open.counts
                .iter()
                .filter(|c| c.state == LetterState::Dead)
                .map(|c| c.count)
                .sum()
        } else {
            ids.len() as i64
        };
        Self {
            csrf_token: &ctx.csrf_token,
            action,
            all,
            ids,
            count,
            letters,
            reason,
            error,
        }
    }

    /// The page when nothing was chosen.
    pub fn nothing_chosen(ctx: &'a PageContext, action: LetterAction) -> Self {
        Self {
            csrf_token: &ctx.csrf_token,
            action,
            all: false,
            ids: Vec::new(),
            count: 0,
            letters: Vec::new(),
            reason: String::new(),
            error: Some("Choose at least one dead letter first.".into()),
        }
    }

    pub fn title(&self) -> &'static str {
        match self.action {
            LetterAction::Replay => "Replay dead letters? · Operator",
            LetterAction::Discard => "Discard dead letters? · Operator",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_details_in_a_body_are_masked() {
        let body = r#"{"order_id": "o-1", "contact": {"name": "Ada Lovelace", "email": "ada@example.com"},
                       "delivery": {"line1": "12 Square", "city": "London"}, "total": 1290}"#;
        let shown = masked_body(body);
        for secret in ["Ada Lovelace", "ada@example.com", "12 Square", "London"] {
            assert!(!shown.contains(secret), "{secret}: {shown}");
        }
        assert!(
            shown.contains("\"A***\"") && shown.contains("o-1") && shown.contains("1290"),
            "{shown}"
        );
        assert_eq!(masked_body("{ not json"), "{ not json");
    }

    #[test]
    fn the_notice_says_what_a_replay_did() {
        let outcome = Outcome {
            done: "replay".into(),
            applied: 2,
            failed: 1,
            ..Outcome::default()
        };
        assert_eq!(
            outcome.notice().as_deref(),
            Some("Replayed: 2 applied, 1 failed again (their errors are below).")
        );
        assert_eq!(
            dead_letters_url(&outcome),
            "/ops/dead-letters?done=replay&applied=2&failed=1"
        );
        assert_eq!(Outcome::default().notice(), None);
    }
}
