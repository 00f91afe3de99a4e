//! Reading instances: lists for operators, one instance with its steps and every attempt, and
//! the figures of a health page (how recent instances stand, which ones wait and where).

use std::time::Duration;

// The shapes are the pure core's, so that readers without the engine (web) share them.
pub use saga_core::views::{
    AttemptView, CompensationView, FailureReason, InstanceSummary, InstanceView, OperatorActionView, RecentInstances,
    StepView, WaitingAt, WaitingInstances,
};
use saga_core::{InstanceState, Phase, Position, StepState};
use uuid::Uuid;

use crate::definition::Definition;
use crate::engine::Engine;
use crate::error::Error;
use crate::store;

/// Which instances to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub saga: Option<String>,
    pub state: Option<InstanceState>,
    pub owner: Option<String>,
    /// Only instances that have not moved for at least this long.
    pub idle_for: Option<Duration>,
    pub search: Option<Search>,
    /// Keyset cursor: instances created before this one.
    pub before: Option<Uuid>,
    pub limit: usize,
}

/// Instances with one of these ids, or with this search key (see `Definition::searchable_by`).
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub ids: Vec<Uuid>,
    pub key: Option<String>,
}

impl Engine {
    /// Instances matching `filter`, newest first.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<InstanceSummary>, Error> {
        let rows = store::list(self.pool(), filter).await?;
        Ok(rows.into_iter().map(|row| self.summary(row)).collect())
    }

    /// How many instances match `filter` (its cursor and limit aside).
    pub async fn count_matching(&self, filter: &ListFilter) -> Result<i64, Error> {
        store::count_matching(self.pool(), filter).await
    }

    /// How many instances are in each state, every state listed.
    pub async fn count_by_state(&self) -> Result<Vec<(InstanceState, i64)>, Error> {
        store::count_by_state(self.pool()).await
    }

    /// One instance with its steps, attempts and operator actions.
    pub async fn instance(&self, id: Uuid) -> Result<Option<InstanceView>, Error> {
        let Some(detail) = store::instance(self.pool(), id).await? else {
            return Ok(None);
        };
        let attempts = store::attempts(self.pool(), id).await?;
        let operator_actions = store::operator_actions(self.pool(), id).await?;
        let definition = self.definition(&detail.row.saga)?;
        let steps = step_views(definition, &detail.row.position, &attempts)?;
        Ok(Some(InstanceView {
            summary: self.summary(detail.row),
            input: detail.input,
            run_after: detail.due,
            lease_owner: detail.lease_owner,
            steps,
            edges: definition.edges(),
            attempts_log: attempts,
            operator_actions,
        }))
    }

    /// How the instances of `saga` started within `window` stand now, with the `top` commonest
    /// failure reasons: counted across every process, unlike the metrics.
    pub async fn recent(&self, saga: &str, window: Duration, top: usize) -> Result<RecentInstances, Error> {
        let [started, completed, failed, stuck] = store::recent_counts(self.pool(), saga, window).await?;
        let reasons = store::failure_reasons(self.pool(), saga, window, top).await?;
        Ok(RecentInstances {
            started,
            completed,
            failed,
            stuck,
            failure_reasons: (reasons.into_iter())
                .map(|(reason, count)| FailureReason { reason, count })
                .collect(),
        })
    }

    /// Instances stuck, or running and compensating without a move for `idle_for`.
    pub async fn waiting(&self, idle_for: Duration) -> Result<WaitingInstances, Error> {
        let mut waiting = WaitingInstances {
            stuck: 0,
            idle: 0,
            steps: Vec::new(),
        };
        for row in store::waiting_by_step(self.pool(), idle_for).await? {
            *(if row.stuck {
                &mut waiting.stuck
            } else {
                &mut waiting.idle
            }) += row.count;
            let step = self.step_name(&row.saga, row.step);
            match (waiting.steps.iter_mut()).find(|s| s.saga == row.saga && s.step == step && s.phase == row.phase) {
                Some(same) => same.count += row.count,
                None => waiting.steps.push(WaitingAt {
                    saga: row.saga,
                    step: step.to_owned(),
                    phase: row.phase,
                    count: row.count,
                }),
            }
        }
        Ok(waiting)
    }

    /// The name of step `index` of `saga`, or a placeholder when the saga or the step is not
    /// (or no longer) defined here.
    fn step_name(&self, saga: &str, index: usize) -> &'static str {
        self.definition(saga).map_or("(unknown step)", |d| d.step_name(index))
    }

    fn summary(&self, row: store::InstanceRow) -> InstanceSummary {
        let position = row.position;
        InstanceSummary {
            id: row.id,
            step: self.step_name(&row.saga, position.step).to_owned(),
            saga: row.saga,
            state: position.state,
            phase: position.phase,
            attempts: position.attempts,
            failure: position.failure,
            public_failure: position.public_failure,
            owner: row.owner,
            created_at: row.created_at,
            updated_at: row.updated_at,
            ended_at: row.ended_at,
        }
    }
}

/// Each step of the definition with the state its attempts give it.
fn step_views(definition: &Definition, position: &Position, attempts: &[AttemptView]) -> Result<Vec<StepView>, Error> {
    let waiting = !position.state.is_final();
    let state_of = |index: usize, name: &str, phase: Phase| -> Result<(StepState, u32, Option<String>), Error> {
        let mine: Vec<&AttemptView> = attempts.iter().filter(|a| a.step == name && a.phase == phase).collect();
        let last = mine.last();
        let outcome = last.map(|a| a.outcome);
        let retried = position.step == index && position.phase == phase && waiting;
        let error = last.and_then(|a| a.error.clone());
        Ok((StepState::after(outcome, retried), mine.len() as u32, error))
    };
    (definition.steps().iter().enumerate())
        .map(|(index, step)| {
            let (state, attempts, error) = state_of(index, step.name(), Phase::Forward)?;
            let compensation = match step.has_compensation() {
                true => {
                    let (state, attempts, error) = state_of(index, step.name(), Phase::Compensation)?;
                    Some(CompensationView { state, attempts, error })
                }
                false => None,
            };
            Ok(StepView {
                index,
                name: step.name().to_owned(),
                state,
                attempts,
                error,
                compensation,
            })
        })
        .collect()
}
