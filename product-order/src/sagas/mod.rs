//! Operator routes over the saga engine: list, search and inspect checkouts (personal details
//! masked, the order's events and how far each got), and act on them by hand (`actions`,
//! `bulk`). Every action names a reason and is recorded.

mod actions;
mod bulk;
mod privacy;

use std::time::Duration;

use api::sagas::{
    MAX_IDLE_MINUTES, REASON_MAX_CHARS, RefusedAction, Saga, SagaAction, SagaList, SagaListQuery, SagaStateCount,
};
use axum::Json;
use axum::extract::State;
use platform::auth::Operator;
use platform::http::{AppPath, AppQuery, keyset_page};
use saga::{InstanceState, InstanceView, ListFilter, OperatorMove, Search, StepState};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::checkout::steps::{CHECKOUT, CheckoutInput, PUBLISH_ORDER_PLACED, VALIDATE_DETAILS};
use crate::error::{ProductOrderError, Result};
use crate::outbox;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sagas))
        .routes(routes!(bulk::bulk_retry))
        .routes(routes!(show_saga))
        .routes(routes!(actions::retry_saga))
        .routes(routes!(actions::cancel_saga))
        .routes(routes!(actions::mark_compensated))
        .routes(routes!(actions::retry_publish))
        .routes(routes!(actions::reveal_details))
        .routes(routes!(actions::edit_details))
}

/// Which sagas: `?state=&idle_minutes=&q=` (q: a checkout id, an order id or an email address).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub(crate) struct FilterQuery {
    pub state: Option<String>,
    /// Only instances that have not moved for this many minutes (at most a year's).
    pub idle_minutes: Option<u32>,
    pub q: Option<String>,
    /// Only the sagas started by this owner (a shopper's id).
    #[serde(default, skip_serializing)]
    pub owner: Option<String>,
}

impl FilterQuery {
    /// The engine's filter, with checkout ids resolved from an order id.
    pub(crate) async fn to_filter(&self, state: &AppState) -> Result<ListFilter> {
        let mut errors = platform::FieldErrors::new();
        let saga_state = match self.state.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(text) => {
                let parsed = InstanceState::parse(text);
                if parsed.is_none() {
                    errors.add("state", "One of running, compensating, completed, failed, stuck.");
                }
                parsed
            }
        };
        let search = match self.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            None => None,
            Some(q) => match Uuid::parse_str(q) {
                Ok(id) => {
                    let of_order = crate::orders::store::checkout_of(&state.db, id).await?;
                    Some(Search {
                        ids: std::iter::once(id).chain(of_order).collect(),
                        key: None,
                    })
                }
                Err(_) if q.contains('@') && q.chars().count() <= 254 => Some(Search {
                    ids: Vec::new(),
                    key: Some(q.to_owned()),
                }),
                Err(_) => {
                    errors.add("q", "Search by a checkout id, an order id or an email address.");
                    None
                }
            },
        };
        if self.idle_minutes.is_some_and(|m| m > MAX_IDLE_MINUTES) {
            errors.add("idle_minutes", format!("At most a year: {MAX_IDLE_MINUTES} minutes."));
        }
        if !errors.is_empty() {
            return Err(ProductOrderError::Validation(errors));
        }
        Ok(ListFilter {
            saga: Some(CHECKOUT.to_owned()),
            state: saga_state,
            owner: self.owner.clone().filter(|o| !o.is_empty()),
            idle_for: self.idle_minutes.map(|m| Duration::from_secs(u64::from(m) * 60)),
            search,
            before: None,
            limit: 50,
        })
    }
}

/// Checkout sagas newest first, filtered, with the count in each state.
#[utoipa::path(get, path = "/api/ops/sagas", tag = "operators", params(SagaListQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of sagas.", body = SagaList)))]
async fn list_sagas(
    State(state): State<AppState>,
    _: Operator,
    AppQuery(query): AppQuery<SagaListQuery>,
) -> Result<Json<SagaList>> {
    let limit = query.limit.unwrap_or(50).clamp(1, 200) as usize;
    let filter = ListFilter {
        before: query.cursor,
        limit: limit + 1,
        ..FilterQuery {
            state: query.state,
            idle_minutes: query.idle_minutes,
            q: query.q,
            owner: query.owner,
        }
        .to_filter(&state)
        .await?
    };
    let (items, next_cursor) = keyset_page(state.saga.list(&filter).await?, limit, |i| i.id);
    let counts = state
        .saga
        .count_by_state()
        .await?
        .into_iter()
        .map(|(state, count)| SagaStateCount { state, count })
        .collect();
    Ok(Json(SagaList {
        items,
        next_cursor,
        counts,
    }))
}

/// One saga whole: steps, every attempt, operator actions, its order's events, what may be
/// done now.
#[utoipa::path(get, path = "/api/ops/sagas/{id}", tag = "operators", params(("id" = Uuid, Path, description = "The saga's id (the checkout's)")),
    security(("bearer" = [])),
    responses((status = 200, description = "The saga.", body = Saga)))]
async fn show_saga(State(state): State<AppState>, _: Operator, AppPath(id): AppPath<Uuid>) -> Result<Json<Saga>> {
    saga_body(&state, id).await.map(Json)
}

pub(crate) async fn saga_body(state: &AppState, id: Uuid) -> Result<Saga> {
    let mut instance = state.saga.instance(id).await?.ok_or(ProductOrderError::NotFound)?;
    let checkout = checkout_input(&instance).ok();
    let details_masked = match &checkout {
        Some(input) => {
            instance.input["details"] =
                serde_json::to_value(privacy::masked(&input.details)).map_err(anyhow::Error::from)?;
            true
        }
        None => false,
    };
    let order_id = crate::orders::store::placed_for(&state.db, id)
        .await?
        .map(|placed| placed.order_id);
    let outbox = match order_id {
        Some(order) => outbox::events_of(&state.db, order).await?,
        None => Vec::new(),
    };
    let refusals = state.saga.refused_moves(id).await?;
    let (actions, refused) = actions_for(&instance, checkout.is_some(), &refusals);
    Ok(Saga {
        instance,
        details_masked,
        order_id,
        outbox,
        actions,
        refused,
    })
}

/// The actions that apply to `instance` as it stands, and those its state allows but its
/// guard refuses (`refusals`), with why (the engine has the last word).
fn actions_for(
    instance: &InstanceView,
    is_checkout: bool,
    refusals: &[(OperatorMove, String)],
) -> (Vec<SagaAction>, Vec<RefusedAction>) {
    let summary = &instance.summary;
    let failed_at = |step: &str| {
        summary.state == InstanceState::Failed
            && instance
                .attempts_log
                .iter()
                .rfind(|a| a.phase == saga::Phase::Forward)
                .is_some_and(|a| a.step == step && a.outcome != saga::AttemptOutcome::Succeeded)
    };
    let at_publish = summary.state == InstanceState::Running
        && summary.step == PUBLISH_ORDER_PLACED
        && instance
            .steps
            .iter()
            .any(|s| s.name == PUBLISH_ORDER_PLACED && s.state != StepState::Succeeded);
    let offered = [
        (SagaAction::Retry, summary.state != InstanceState::Completed),
        (SagaAction::Cancel, summary.state == InstanceState::Running),
        (SagaAction::MarkCompensated, summary.state == InstanceState::Stuck),
        (
            SagaAction::RetryPublish,
            is_checkout && (at_publish || summary.state == InstanceState::Completed),
        ),
        (SagaAction::Reveal, is_checkout),
        (SagaAction::EditDetails, is_checkout && failed_at(VALIDATE_DETAILS)),
    ];
    let (mut actions, mut refused) = (Vec::new(), Vec::new());
    for (action, _) in offered.into_iter().filter(|(_, applies)| *applies) {
        let operator_move = match action {
            SagaAction::Retry => Some(OperatorMove::Retry),
            SagaAction::Cancel => Some(OperatorMove::Cancel),
            _ => None,
        };
        match refusals.iter().find(|(m, _)| Some(*m) == operator_move) {
            Some((_, reason)) => refused.push(RefusedAction {
                action,
                reason: reason.clone(),
            }),
            None => actions.push(action),
        }
    }
    (actions, refused)
}

pub(crate) fn checkout_input(instance: &InstanceView) -> Result<CheckoutInput> {
    if instance.summary.saga != CHECKOUT {
        return Err(ProductOrderError::NotFound);
    }
    Ok(serde_json::from_value(instance.input.clone()).map_err(anyhow::Error::from)?)
}

/// Who acts, as recorded: their email and id.
pub(crate) fn operator_name(claims: &contracts::Claims) -> String {
    format!("{} ({})", claims.email, claims.sub)
}

/// The reason an action needs, trimmed; 422 when blank or longer than 500 characters.
pub(crate) fn reason(text: &str) -> Result<&str> {
    let reason = text.trim();
    if reason.is_empty() || reason.chars().count() > REASON_MAX_CHARS {
        let mut errors = platform::FieldErrors::new();
        errors.add("reason", "Say why, in at most 500 characters.");
        return Err(ProductOrderError::Validation(errors));
    }
    Ok(reason)
}
