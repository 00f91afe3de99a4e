//! Reading instances: lists for operators, one instance with its steps and every attempt.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::engine::{Engine, position_of};
use crate::error::Error;
use saga_core::{Edge, InstanceState, Phase, Position, StepState};

/// An instance in a list.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceSummary {
    pub id: Uuid,
    pub saga: String,
    pub state: InstanceState,
    /// The step it is at (or ended at) and in which phase.
    pub step: String,
    pub phase: Phase,
    pub attempts: u32,
    /// Why it failed, in full (for operators).
    pub failure: Option<String>,
    /// Why it failed in words meant for whoever started it, when the failing step gave them
    /// (`StepError::rejected`); otherwise the host says it in words of its own.
    pub public_failure: Option<String>,
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// A step of the definition with how it went in this instance.
#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    pub index: usize,
    pub name: String,
    pub state: StepState,
    pub attempts: u32,
    pub error: Option<String>,
    /// `None` when the step has no compensation.
    pub compensation: Option<CompensationView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompensationView {
    pub state: StepState,
    pub attempts: u32,
    pub error: Option<String>,
}

/// One attempt of a step or of its compensation.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptView {
    pub id: i64,
    pub step: String,
    pub phase: Phase,
    pub attempt: u32,
    pub worker: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// running, succeeded, failed or abandoned.
    pub outcome: String,
    pub error: Option<String>,
}

/// What an operator did to the instance.
#[derive(Debug, Clone, Serialize)]
pub struct OperatorActionView {
    pub operator: String,
    pub action: String,
    pub reason: String,
    pub state_before: String,
    pub state_after: String,
    /// What the action changed besides the state, for people to read.
    pub details: Option<Value>,
    pub at: DateTime<Utc>,
}

/// One instance, whole.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    #[serde(flatten)]
    pub summary: InstanceSummary,
    pub input: Value,
    /// When the next attempt is due, while one is scheduled.
    pub run_after: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
    pub steps: Vec<StepView>,
    /// How the definition's steps and compensations lead to each other, for drawing.
    pub edges: Vec<Edge>,
    pub attempts_log: Vec<AttemptView>,
    pub operator_actions: Vec<OperatorActionView>,
}

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

const SUMMARY_COLUMNS: &str =
    "id, saga, state, step, phase, attempts, failure, public_failure, owner, created_at, updated_at, ended_at";

impl Engine {
    /// Instances matching `filter`, newest first.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<InstanceSummary>, Error> {
        let rows = bind_filter(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {SUMMARY_COLUMNS} FROM saga.instances WHERE {FILTER} \
                   AND ($8::uuid IS NULL OR (created_at, id) < \
                        (SELECT created_at, id FROM saga.instances WHERE id = $8)) \
                 ORDER BY created_at DESC, id DESC LIMIT $9"
            ))),
            filter,
        )
        .bind(filter.before)
        .bind(filter.limit.clamp(1, 1000) as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| self.summary(row)).collect()
    }

    /// How many instances match `filter` (its cursor and limit aside).
    pub async fn count_matching(&self, filter: &ListFilter) -> Result<i64, Error> {
        let count = bind_filter(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) AS n FROM saga.instances WHERE {FILTER}"
            ))),
            filter,
        )
        .fetch_one(self.pool())
        .await?;
        Ok(count.get("n"))
    }

    /// How many instances are in each state: the ended ones from the counters a trigger keeps
    /// (a few dozen rows read, however many have ended), the few at work from the state index.
    pub async fn count_by_state(&self) -> Result<Vec<(InstanceState, i64)>, Error> {
        let rows = sqlx::query(
            "SELECT state, sum(n)::bigint AS n FROM saga.state_counts GROUP BY state \
             UNION ALL \
             SELECT state, count(*) FROM saga.instances \
             WHERE state IN ('running', 'compensating', 'stuck') GROUP BY state",
        )
        .fetch_all(self.pool())
        .await?;
        let mut counts: Vec<(InstanceState, i64)> = InstanceState::ALL.into_iter().map(|s| (s, 0)).collect();
        for row in rows {
            let state: String = row.get("state");
            if let Some(slot) = counts.iter_mut().find(|(s, _)| s.as_str() == state) {
                slot.1 = row.get("n");
            }
        }
        Ok(counts)
    }

    /// One instance with its steps, attempts and operator actions.
    pub async fn instance(&self, id: Uuid) -> Result<Option<InstanceView>, Error> {
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SUMMARY_COLUMNS}, input, lease_owner, \
                    CASE WHEN run_after > now() AND state IN ('running', 'compensating') THEN run_after END AS due \
             FROM saga.instances WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let summary = self.summary(&row)?;
        let attempts: Vec<AttemptView> = sqlx::query(
            "SELECT id, step_name, phase, attempt, worker, started_at, ended_at, outcome, error \
             FROM saga.attempts WHERE instance_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|a| {
            Ok(AttemptView {
                id: a.get("id"),
                step: a.get("step_name"),
                phase: parse_phase(a.get("phase"))?,
                attempt: a.get::<i32, _>("attempt").max(0) as u32,
                worker: a.get("worker"),
                started_at: a.get("started_at"),
                ended_at: a.get("ended_at"),
                outcome: a.get("outcome"),
                error: a.get("error"),
            })
        })
        .collect::<Result<_, Error>>()?;
        let operator_actions = sqlx::query(
            "SELECT operator, action, reason, state_before, state_after, details, at \
             FROM saga.operator_actions WHERE instance_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|a| OperatorActionView {
            operator: a.get("operator"),
            action: a.get("action"),
            reason: a.get("reason"),
            state_before: a.get("state_before"),
            state_after: a.get("state_after"),
            details: a.get("details"),
            at: a.get("at"),
        })
        .collect();
        let position = position_of(&row)?;
        let steps = self.step_views(&summary.saga, &position, &attempts)?;
        let edges = self.definition(&summary.saga)?.edges();
        Ok(Some(InstanceView {
            summary,
            input: row.get("input"),
            run_after: row.get("due"),
            lease_owner: row.get("lease_owner"),
            steps,
            edges,
            attempts_log: attempts,
            operator_actions,
        }))
    }

    /// Each step of the definition with the state its attempts give it.
    fn step_views(&self, saga: &str, position: &Position, attempts: &[AttemptView]) -> Result<Vec<StepView>, Error> {
        let definition = self.definition(saga)?;
        let waiting = !position.state.is_final();
        let state_of = |index: usize, name: &str, phase: Phase| {
            let mine: Vec<&AttemptView> = attempts.iter().filter(|a| a.step == name && a.phase == phase).collect();
            let last = mine.last();
            let is_current = position.step == index && position.phase == phase;
            let state = match last.map(|a| a.outcome.as_str()) {
                None => StepState::Pending,
                Some("succeeded") => StepState::Succeeded,
                Some("running") => StepState::Running,
                Some(_) if is_current && waiting => StepState::Retrying,
                Some(_) => StepState::Failed,
            };
            let error = last.and_then(|a| a.error.clone());
            (state, mine.len() as u32, error)
        };
        Ok(definition
            .steps()
            .iter()
            .enumerate()
            .map(|(index, step)| {
                let (state, attempts, error) = state_of(index, step.name(), Phase::Forward);
                StepView {
                    index,
                    name: step.name().to_owned(),
                    state,
                    attempts,
                    error,
                    compensation: step.has_compensation().then(|| {
                        let (state, attempts, error) = state_of(index, step.name(), Phase::Compensation);
                        CompensationView { state, attempts, error }
                    }),
                }
            })
            .collect())
    }

    fn summary(&self, row: &PgRow) -> Result<InstanceSummary, Error> {
        let position = position_of(row)?;
        let saga: String = row.get("saga");
        let step = self
            .definition(&saga)
            .map(|d| d.step_name(position.step))
            .unwrap_or("(unknown step)");
        Ok(InstanceSummary {
            id: row.get("id"),
            step: step.to_owned(),
            saga,
            state: position.state,
            phase: position.phase,
            attempts: position.attempts,
            failure: position.failure,
            public_failure: position.public_failure,
            owner: row.get("owner"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
            ended_at: row.get("ended_at"),
        })
    }
}

/// The conditions of a `ListFilter`, bound as $1 to $7.
const FILTER: &str = "($1::text IS NULL OR saga = $1) \
       AND ($2::text IS NULL OR state = $2) \
       AND ($3::text IS NULL OR owner = $3) \
       AND ($4::float8 IS NULL OR updated_at < now() - make_interval(secs => $4)) \
       AND (NOT $5 OR id = ANY($6) OR search_keys @> ARRAY[$7]::text[])";

fn bind_filter<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    filter: &'q ListFilter,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let search = filter.search.as_ref();
    query
        .bind(&filter.saga)
        .bind(filter.state.map(InstanceState::as_str))
        .bind(&filter.owner)
        .bind(filter.idle_for.map(|d| d.as_secs_f64()))
        .bind(search.is_some())
        .bind(search.map(|s| s.ids.clone()).unwrap_or_default())
        .bind(search.and_then(|s| s.key.as_ref()).map(|k| k.trim().to_lowercase()))
}

fn parse_phase(text: String) -> Result<Phase, Error> {
    Phase::parse(&text).ok_or_else(|| Error::Corrupt(format!("unknown phase {text:?}")))
}
