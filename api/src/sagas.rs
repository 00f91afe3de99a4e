//! product-order's saga console: the list of checkouts' sagas by state, one saga whole (with
//! its order's events and the actions that apply), the actions an operator takes, and bulk
//! retry. The instance's own shapes are the engine's (`saga_core::views`).

use chrono::{DateTime, Utc};
use saga_core::InstanceState;
use saga_core::views::{InstanceSummary, InstanceView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::checkout::{ContactForm, DeliveryForm};

/// What an operator can do to a saga, as `actions` and `refused` name it; each is a
/// `POST /api/ops/sagas/{id}/<action>` (edit-details: `PUT .../details`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SagaAction {
    Retry,
    Cancel,
    MarkCompensated,
    RetryPublish,
    Reveal,
    EditDetails,
}

impl SagaAction {
    /// The actions that move a saga on and need nothing but a reason.
    pub const MOVES: [Self; 4] = [Self::Retry, Self::RetryPublish, Self::Cancel, Self::MarkCompensated];

    /// The action's name in addresses and lists (serde's).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::Cancel => "cancel",
            Self::MarkCompensated => "mark-compensated",
            Self::RetryPublish => "retry-publish",
            Self::Reveal => "reveal",
            Self::EditDetails => "edit-details",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Reveal, Self::EditDetails]
            .into_iter()
            .chain(Self::MOVES)
            .find(|a| a.as_str() == text)
    }
}

impl std::fmt::Display for SagaAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest idleness a filter asks about: a year, in minutes.
pub const MAX_IDLE_MINUTES: u32 = 525_600;

/// The saga list's query: `?state=&idle_minutes=&q=&owner=&cursor=&limit=`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SagaListQuery {
    /// Only sagas in this state (empty: all).
    #[param(schema_with = state_filter)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Only sagas that have not moved for this many minutes (at most a year's).
    #[param(maximum = 525_600)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_minutes: Option<u32>,
    /// A checkout id, an order id or an email address.
    #[param(
        max_length = 254,
        pattern = "^\\s*([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[^@]*@.*)?\\s*$"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Only the sagas started by this owner (a shopper's id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The `next_cursor` of the page before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Uuid>,
    /// 1 to 200 (default 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

fn state_filter() -> utoipa::openapi::schema::Object {
    crate::schema::one_of_or_blank(InstanceState::ALL.map(InstanceState::as_str))
}

/// A page of sagas, newest first, with the count in each state.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = SagaList)]
pub struct SagaList {
    pub items: Vec<InstanceSummary>,
    pub next_cursor: Option<Uuid>,
    pub counts: Vec<SagaStateCount>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SagaStateCount {
    pub state: InstanceState,
    pub count: i64,
}

/// A saga as operators read it: the instance with its shopper's details masked, its order,
/// that order's events and how far each got, and the actions that apply now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Saga {
    #[serde(flatten)]
    pub instance: InstanceView,
    /// The contact and delivery details in `input` are masked (`POST .../reveal` shows them).
    pub details_masked: bool,
    pub order_id: Option<Uuid>,
    /// The order's events: written, published (sent, not confirmed) or confirmed.
    pub outbox: Vec<OutboxEvent>,
    /// What an operator may do now.
    pub actions: Vec<SagaAction>,
    /// The moves the saga's state would allow but what its steps made rules out, with why.
    pub refused: Vec<RefusedAction>,
}

impl Saga {
    /// Whether product-order offers `action` now.
    pub fn allows(&self, action: SagaAction) -> bool {
        self.actions.contains(&action)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefusedAction {
    pub action: SagaAction,
    pub reason: String,
}

/// Where an event of the outbox stands: written, sent to the broker (published, not
/// confirmed), or confirmed by the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventDelivery {
    Written,
    Published,
    Confirmed,
}

/// The state as sent (serde writes a unit variant's name to a formatter).
impl std::fmt::Display for EventDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.serialize(f)
    }
}

/// An event of the outbox as operators see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutboxEvent {
    pub event_id: Uuid,
    pub routing_key: String,
    pub state: EventDelivery,
    pub written_at: DateTime<Utc>,
    /// The last time it was handed to the broker.
    pub sent_at: Option<DateTime<Utc>>,
    /// When the broker's confirm was recorded.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Whether the broker routed it to a queue (false: no queue was bound; it was dropped).
    pub routed: Option<bool>,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// An operator's action that needs nothing but why.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Why, for the record (at most 500 characters).
    #[schema(max_length = 500, pattern = "\\S")]
    pub reason: String,
}

/// The longest reason an action takes, in characters.
pub const REASON_MAX_CHARS: usize = 500;

/// New contact and delivery details for a saga that failed validation, and why.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    /// Why, for the saga's record (at most 500 characters).
    #[schema(max_length = 500, pattern = "\\S")]
    pub reason: String,
    pub contact: ContactForm,
    pub delivery: DeliveryForm,
}

/// Which sagas a bulk retry takes, and how fast it goes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BulkBody {
    /// The state of the sagas to retry (completed ones have nothing to retry).
    #[serde(default)]
    #[schema(schema_with = retryable_state, required = true)]
    pub state: Option<String>,
    /// Only sagas that have not moved for this many minutes (at most a year's).
    #[serde(default, deserialize_with = "crate::whole_number::optional")]
    #[schema(maximum = 525_600)]
    pub idle_minutes: Option<u32>,
    /// A checkout id, an order id or an email address.
    #[schema(
        max_length = 254,
        pattern = "^\\s*([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[^@]*@.*)?\\s*$"
    )]
    pub q: Option<String>,
    /// Only the sagas started by this owner (a shopper's id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// List what would be retried and change nothing (the default).
    #[serde(default = "yes")]
    pub dry_run: bool,
    /// Why (needed unless a dry run; at most 500 characters).
    #[serde(default)]
    #[schema(max_length = 500)]
    pub reason: String,
    /// Retries started per second, 1 to 50 (default 5).
    #[serde(default = "default_rate", deserialize_with = "crate::whole_number::required")]
    #[schema(minimum = 1, maximum = 50)]
    pub per_second: u32,
    /// At most this many sagas (newest first), 1 to 1000 (default 1000).
    #[serde(
        default,
        deserialize_with = "crate::whole_number::optional",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// The states a bulk retry takes: any but completed.
fn retryable_state() -> utoipa::openapi::schema::Object {
    let states = InstanceState::ALL
        .into_iter()
        .filter(|s| *s != InstanceState::Completed);
    crate::schema::one_of(states.map(InstanceState::as_str))
}

fn yes() -> bool {
    true
}

fn default_rate() -> u32 {
    5
}

/// What a bulk retry took (or, in a dry run, would take).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct BulkAnswer {
    /// How many sagas match the filter now.
    pub matching: i64,
    pub dry_run: bool,
    pub per_second: u32,
    /// The sagas taken (newest first): those a run would retry, or did schedule.
    pub items: Vec<BulkItem>,
    /// Sagas the engine refused to retry (they moved meanwhile), with why.
    pub refused: Vec<BulkRefusal>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BulkItem {
    #[serde(flatten)]
    pub saga: InstanceSummary,
    /// When its retry starts.
    pub due_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = Refusal)]
pub struct BulkRefusal {
    pub id: Uuid,
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_reads_as_it_is_sent() {
        for action in [SagaAction::Reveal, SagaAction::EditDetails]
            .into_iter()
            .chain(SagaAction::MOVES)
        {
            assert_eq!(serde_json::to_value(action).unwrap(), action.as_str());
            assert_eq!(SagaAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(SagaAction::parse("delete"), None);
    }
}
