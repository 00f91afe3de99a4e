//! Checkout sagas at product-order, for operators: the list by state, one saga with its
//! steps, attempts and operator actions, and the actions that move a saga on by hand.

use chrono::{DateTime, Utc};
use contracts::events::{Contact, Delivery};
use reqwest::Method;
use saga_core::InstanceState;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Caller, CheckoutDetails, ProductOrderClient, Result, answer, send};

/// A saga as listed.
#[derive(Debug, Clone, Deserialize)]
pub struct SagaSummary {
    pub id: Uuid,
    pub saga: String,
    pub state: InstanceState,
    /// The step it is at (or ended at).
    pub step: String,
    /// forward or compensation.
    pub phase: String,
    pub attempts: u32,
    pub failure: Option<String>,
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// How many sagas are in `state`.
#[derive(Debug, Clone, Deserialize)]
pub struct SagaCount {
    pub state: InstanceState,
    pub count: i64,
}

/// One page of the saga list, newest first, with the count of every state.
#[derive(Debug, Clone, Deserialize)]
pub struct SagaPage {
    pub items: Vec<SagaSummary>,
    pub next_cursor: Option<Uuid>,
    pub counts: Vec<SagaCount>,
}

/// A step's compensation, as it stands.
#[derive(Debug, Clone, Deserialize)]
pub struct SagaCompensation {
    /// pending, running, retrying, succeeded or failed.
    pub state: String,
    pub attempts: u32,
    pub error: Option<String>,
}

/// A step of a saga, as it stands.
#[derive(Debug, Clone, Deserialize)]
pub struct SagaStep {
    pub index: usize,
    pub name: String,
    /// pending, running, retrying, succeeded or failed.
    pub state: String,
    pub attempts: u32,
    pub error: Option<String>,
    /// None when the step has nothing to undo.
    pub compensation: Option<SagaCompensation>,
}

/// One attempt of a step or of its compensation.
#[derive(Debug, Clone, Deserialize)]
pub struct SagaAttempt {
    pub id: i64,
    pub step: String,
    pub phase: String,
    pub attempt: u32,
    pub worker: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// running, succeeded, failed or abandoned.
    pub outcome: String,
    pub error: Option<String>,
}

/// What an operator did to a saga, and why.
#[derive(Debug, Clone, Deserialize)]
pub struct SagaOperatorAction {
    pub operator: String,
    pub action: String,
    pub reason: String,
    pub state_before: String,
    pub state_after: String,
    /// What else it changed (fields edited, the event sent again, a bulk retry's due time).
    #[serde(default)]
    pub details: Option<serde_json::Value>,
    pub at: DateTime<Utc>,
}

/// A place in a saga's drawing: a step's action or compensation, or an end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SagaNode {
    Step { index: usize, phase: NodePhase },
    Completed,
    Failed,
}

/// forward or compensation, as a node names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodePhase {
    Forward,
    Compensation,
}

/// How the saga's definition moves from one node to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct SagaEdge {
    pub from: SagaNode,
    pub to: SagaNode,
    /// succeeds, fails_for_good or undone.
    pub kind: EdgeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    Succeeds,
    FailsForGood,
    Undone,
}

/// One event of the saga's order in product-order's outbox.
#[derive(Debug, Clone, Deserialize)]
pub struct OutboxEvent {
    pub event_id: Uuid,
    pub routing_key: String,
    /// written, published (sent, not confirmed) or confirmed.
    pub state: String,
    pub written_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub routed: Option<bool>,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// One saga, whole.
#[derive(Debug, Clone, Deserialize)]
pub struct SagaDetail {
    #[serde(flatten)]
    pub summary: SagaSummary,
    /// The saga's input, as the engine stores it (for a checkout: the shopper's details).
    pub input: serde_json::Value,
    pub run_after: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
    pub steps: Vec<SagaStep>,
    #[serde(default)]
    pub edges: Vec<SagaEdge>,
    pub attempts_log: Vec<SagaAttempt>,
    pub operator_actions: Vec<SagaOperatorAction>,
    /// The contact and delivery details in `input` come masked.
    #[serde(default)]
    pub details_masked: bool,
    #[serde(default)]
    pub order_id: Option<Uuid>,
    #[serde(default)]
    pub outbox: Vec<OutboxEvent>,
    /// The actions product-order says apply now (`retry`, `cancel`, `mark-compensated`,
    /// `retry-publish`, `reveal`, `edit-details`).
    #[serde(default)]
    pub actions: Vec<String>,
    /// The moves the saga's state would allow but product-order refuses, with why.
    #[serde(default)]
    pub refused: Vec<SagaRefusal>,
}

/// A move product-order does not offer (`retry`, `cancel`), and why.
#[derive(Debug, Clone, Deserialize)]
pub struct SagaRefusal {
    pub action: String,
    pub reason: String,
}

/// The contact and delivery details of a checkout saga's input.
#[derive(Debug, Clone, Deserialize)]
pub struct SagaContactDetails {
    pub contact: Contact,
    pub delivery: Delivery,
}

#[derive(Deserialize)]
struct CheckoutInput {
    details: SagaContactDetails,
}

impl SagaDetail {
    /// Whether product-order offers `action` (by its name in addresses) now.
    pub fn allows(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a == action)
    }

    /// The shopper's details (masked unless revealed), when the input is a checkout's.
    pub fn contact_details(&self) -> Option<SagaContactDetails> {
        serde_json::from_value::<CheckoutInput>(self.input.clone())
            .ok()
            .map(|input| input.details)
    }
}

/// What the saga list asks for.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SagaQuery<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<InstanceState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_minutes: Option<u32>,
    /// A checkout id, an order id or an email address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// What an operator may do to a saga by hand, saying why (besides revealing and editing its
/// details, which have their own forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SagaAction {
    Retry,
    RetryPublish,
    Cancel,
    MarkCompensated,
}

impl SagaAction {
    pub const ALL: [Self; 4] = [Self::Retry, Self::RetryPublish, Self::Cancel, Self::MarkCompensated];

    /// The action's name in addresses (`/retry`, `/retry-publish`, `/cancel`,
    /// `/mark-compensated`), as product-order lists it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::RetryPublish => "retry-publish",
            Self::Cancel => "cancel",
            Self::MarkCompensated => "mark-compensated",
        }
    }
}

impl std::str::FromStr for SagaAction {
    type Err = ();

    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        Self::ALL.into_iter().find(|action| action.as_str() == s).ok_or(())
    }
}

/// Which sagas a bulk retry takes, and how fast it goes.
#[derive(Debug, Clone, Serialize)]
pub struct BulkRetry<'a> {
    pub state: InstanceState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_minutes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<&'a str>,
    pub dry_run: bool,
    pub reason: &'a str,
    pub per_second: u32,
}

/// What a bulk retry took (or, in a dry run, would take).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BulkRetried {
    pub matching: i64,
    pub dry_run: bool,
    pub per_second: u32,
    pub items: Vec<BulkItem>,
    pub refused: Vec<BulkRefusal>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BulkItem {
    #[serde(flatten)]
    pub saga: SagaSummary,
    pub due_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BulkRefusal {
    pub id: Uuid,
    pub error: String,
}

#[derive(Serialize)]
struct EditBody<'a> {
    reason: &'a str,
    #[serde(flatten)]
    details: &'a CheckoutDetails,
}

/// The body of an operator's action: why.
#[derive(Serialize)]
pub(super) struct ActionBody<'a> {
    pub(super) reason: &'a str,
}

impl ProductOrderClient {
    /// A page of sagas, newest first, and the count of each state (operators only).
    pub async fn ops_sagas(&self, token: &str, query: &SagaQuery<'_>) -> Result<SagaPage> {
        let request = self
            .request(Method::GET, "/api/ops/sagas", Caller::Bearer(token))
            .query(query);
        answer(send(request).await?).await
    }

    /// One saga with its steps, attempts and operator actions (operators only).
    pub async fn ops_saga(&self, token: &str, id: Uuid) -> Result<SagaDetail> {
        let request = self.request(Method::GET, &format!("/api/ops/sagas/{id}"), Caller::Bearer(token));
        answer(send(request).await?).await
    }

    /// Acts on a saga by hand, saying why; refused (409) when the action does not apply to
    /// where the saga stands, or (422) without a reason.
    pub async fn act_on_saga(&self, token: &str, id: Uuid, action: SagaAction, reason: &str) -> Result<SagaDetail> {
        let path = format!("/api/ops/sagas/{id}/{}", action.as_str());
        let request = self
            .request(Method::POST, &path, Caller::Bearer(token))
            .json(&ActionBody { reason: reason.trim() });
        answer(send(request).await?).await
    }

    /// The shopper's details of a saga, unmasked; product-order records who read them and why.
    pub async fn reveal_saga_details(&self, token: &str, id: Uuid, reason: &str) -> Result<SagaContactDetails> {
        let path = format!("/api/ops/sagas/{id}/reveal");
        let request = self
            .request(Method::POST, &path, Caller::Bearer(token))
            .json(&ActionBody { reason: reason.trim() });
        answer(send(request).await?).await
    }

    /// Replaces the details of a saga that failed validation and runs it again; refused (422)
    /// with a message per wrong field, as the checkout form is.
    pub async fn edit_saga_details(
        &self,
        token: &str,
        id: Uuid,
        reason: &str,
        details: &CheckoutDetails,
    ) -> Result<SagaDetail> {
        let path = format!("/api/ops/sagas/{id}/details");
        let request = self.request(Method::PUT, &path, Caller::Bearer(token)).json(&EditBody {
            reason: reason.trim(),
            details,
        });
        answer(send(request).await?).await
    }

    /// Counts and lists the sagas a bulk retry takes, and (unless a dry run) schedules them.
    pub async fn bulk_retry(&self, token: &str, bulk: &BulkRetry<'_>) -> Result<BulkRetried> {
        let request = self
            .request(Method::POST, "/api/ops/sagas/bulk-retry", Caller::Bearer(token))
            .json(bulk);
        answer(send(request).await?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saga_reads_as_product_order_writes_it() {
        let detail: SagaDetail = serde_json::from_value(serde_json::json!({
            "id": Uuid::nil(), "saga": "checkout", "state": "failed", "step": "reserve_stock",
            "phase": "forward", "attempts": 1, "failure": "Tea is out of stock.", "owner": "u",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:01Z", "ended_at": null,
            "input": {"customer_id": Uuid::nil(), "details": {
                "contact": {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20"},
                "delivery": {"line1": "1 Square", "line2": "", "city": "London", "postal_code": "SW1", "country": "GB"}},
                "lines": [], "total": 0, "currency": "EUR"},
            "run_after": null, "lease_owner": null,
            "steps": [{"index": 0, "name": "reserve_stock", "state": "failed", "attempts": 1, "error": "out",
                       "compensation": {"state": "pending", "attempts": 0, "error": null}}],
            "attempts_log": [{"id": 1, "step": "reserve_stock", "phase": "forward", "attempt": 1, "worker": "w",
                              "started_at": "2026-01-01T00:00:00Z", "ended_at": null, "outcome": "failed", "error": "out"}],
            "operator_actions": []
        }))
        .unwrap();
        assert_eq!(detail.summary.state, InstanceState::Failed);
        assert_eq!(detail.contact_details().unwrap().contact.name, "Ada Lovelace");
        let query = SagaQuery {
            state: Some(InstanceState::Stuck),
            ..SagaQuery::default()
        };
        assert_eq!(
            serde_json::to_value(query).unwrap(),
            serde_json::json!({"state": "stuck"})
        );
        assert_eq!("mark-compensated".parse(), Ok(SagaAction::MarkCompensated));
        assert_eq!("retry-publish".parse(), Ok(SagaAction::RetryPublish));
        assert!(!detail.allows("retry"), "no actions listed: none offered");
    }
}
