//! Dead letters at customer, for operators: the order events customer could not apply, and
//! replaying or discarding them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{CustomerClient, Result};

/// Where a dead letter stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LetterState {
    Dead,
    Replayed,
    Discarded,
}

impl LetterState {
    pub const ALL: [Self; 3] = [Self::Dead, Self::Replayed, Self::Discarded];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Dead => "dead",
            Self::Replayed => "replayed",
            Self::Discarded => "discarded",
        }
    }
}

impl std::str::FromStr for LetterState {
    type Err = ();

    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        Self::ALL.into_iter().find(|state| state.as_str() == s).ok_or(())
    }
}

/// A dead letter as listed.
#[derive(Debug, Clone, Deserialize)]
pub struct DeadLetter {
    pub id: Uuid,
    pub message_id: String,
    /// The event type (`order.placed`, ...), as the message said.
    pub kind: String,
    pub order_id: Option<Uuid>,
    /// The last error met applying it.
    pub error: String,
    pub attempts: i32,
    /// Why the broker dead-lettered it.
    pub dead_reason: String,
    pub dead_at: DateTime<Utc>,
    pub state: LetterState,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// How many dead letters are in `state`.
#[derive(Debug, Clone, Deserialize)]
pub struct LetterCount {
    pub state: LetterState,
    pub count: i64,
}

/// A page of dead letters, newest first, with the count of every state.
#[derive(Debug, Clone, Deserialize)]
pub struct DeadLetterPage {
    pub items: Vec<DeadLetter>,
    pub next_cursor: Option<Uuid>,
    pub counts: Vec<LetterCount>,
}

/// What an operator did to a dead letter.
#[derive(Debug, Clone, Deserialize)]
pub struct LetterAction {
    pub operator: String,
    pub action: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// A dead letter with its body and what was done to it.
#[derive(Debug, Clone, Deserialize)]
pub struct DeadLetterDetail {
    #[serde(flatten)]
    pub letter: DeadLetter,
    pub body: String,
    pub actions: Vec<LetterAction>,
}

/// What came of replaying one dead letter: `applied`, `already_applied`,
/// `older_than_stored`, `failed` or `not_open`.
#[derive(Debug, Clone, Deserialize)]
pub struct Replayed {
    pub id: Uuid,
    pub outcome: String,
    pub error: Option<String>,
}

/// What a replay did.
#[derive(Debug, Clone, Deserialize)]
pub struct ReplayReport {
    pub results: Vec<Replayed>,
    /// Open dead letters left for another "replay all".
    pub remaining: i64,
}

/// What came of discarding one dead letter: `discarded` or `not_open`.
#[derive(Debug, Clone, Deserialize)]
pub struct Discarded {
    pub id: Uuid,
    pub outcome: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DiscardReport {
    pub results: Vec<Discarded>,
}

/// Which dead letters an action is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These (at most 500).
    Chosen(Vec<Uuid>),
    /// Every open one.
    All,
}

#[derive(Serialize)]
struct SelectionBody<'a> {
    #[serde(skip_serializing_if = "<[Uuid]>::is_empty")]
    ids: &'a [Uuid],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    all: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

impl<'a> SelectionBody<'a> {
    fn new(selection: &'a Selection, reason: Option<&'a str>) -> Self {
        match selection {
            Selection::Chosen(ids) => Self {
                ids,
                all: false,
                reason,
            },
            Selection::All => Self {
                ids: &[],
                all: true,
                reason,
            },
        }
    }
}

/// What the list asks for.
#[derive(Debug, Clone, Copy, Serialize)]
struct ListQuery {
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<Uuid>,
    limit: u32,
}

impl CustomerClient {
    /// A page of dead letters in `state` (every state when None), newest first.
    pub async fn ops_dead_letters(
        &self,
        token: &str,
        state: Option<LetterState>,
        cursor: Option<Uuid>,
        limit: u32,
    ) -> Result<DeadLetterPage> {
        let query = ListQuery {
            state: state.map_or("all", |s| s.as_str()),
            cursor,
            limit,
        };
        let path = "/api/ops/dead-letters";
        let response = self.send(path, self.get(path, token).query(&query)).await?;
        super::answer(response).await
    }

    /// One dead letter with its body and actions.
    pub async fn ops_dead_letter(&self, token: &str, id: Uuid) -> Result<DeadLetterDetail> {
        let path = format!("/api/ops/dead-letters/{id}");
        let response = self.send(&path, self.get(&path, token)).await?;
        super::answer(response).await
    }

    /// Replays the selected dead letters, oldest first.
    pub async fn replay_dead_letters(&self, token: &str, selection: &Selection) -> Result<ReplayReport> {
        let response = self
            .post_as(
                "/api/ops/dead-letters/replay",
                token,
                &SelectionBody::new(selection, None),
            )
            .await?;
        super::answer(response).await
    }

    /// Discards the selected dead letters, saying why.
    pub async fn discard_dead_letters(
        &self,
        token: &str,
        selection: &Selection,
        reason: &str,
    ) -> Result<DiscardReport> {
        let body = SelectionBody::new(selection, Some(reason.trim()));
        let response = self.post_as("/api/ops/dead-letters/discard", token, &body).await?;
        super::answer(response).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selection_is_sent_as_ids_or_all() {
        let chosen = Selection::Chosen(vec![Uuid::nil()]);
        assert_eq!(
            serde_json::to_value(SelectionBody::new(&chosen, None)).unwrap(),
            serde_json::json!({"ids": [Uuid::nil()]})
        );
        assert_eq!(
            serde_json::to_value(SelectionBody::new(&Selection::All, Some("test data"))).unwrap(),
            serde_json::json!({"all": true, "reason": "test data"})
        );
    }

    #[test]
    fn a_dead_letter_reads_as_customer_writes_it() {
        let detail: DeadLetterDetail = serde_json::from_value(serde_json::json!({
            "id": Uuid::nil(), "message_id": "m-1", "kind": "order.status_changed", "order_id": null,
            "error": "order not known", "attempts": 5, "dead_reason": "delivery_limit",
            "dead_at": "2026-01-01T00:00:00Z", "state": "dead", "resolved_at": null,
            "body": "{}", "actions": [{"operator": "op", "action": "replay", "outcome": "failed",
                                        "reason": null, "error": "still", "at": "2026-01-01T00:01:00Z"}]
        }))
        .unwrap();
        assert_eq!(detail.letter.state, LetterState::Dead);
        assert_eq!(detail.actions[0].outcome, "failed");
    }
}
