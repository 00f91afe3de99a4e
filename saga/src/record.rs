//! Recording a move: where the instance goes, the attempts that led there, and what follows
//! (the mover runs the next step itself, a job is queued for it, or the instance waits).

use std::time::{Duration, Instant};

use saga_core::{Action, AttemptOutcome, Event, Position, transition};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::definition::Definition;
use crate::engine::{Engine, random_unit};
use crate::error::Error;
use crate::queue;
use crate::run::{ChainedAttempt, Claim, Next};
use crate::store::{self, ChainedRecord, ClosedAttempt, MoveRecord, NextAttempt};

/// A move of an instance, decided: from where to where, what follows, and the attempts that
/// led to it.
pub(crate) struct Move<'a> {
    pub(crate) instance: Uuid,
    pub(crate) definition: &'a Definition,
    pub(crate) before: &'a Position,
    pub(crate) after: Position,
    pub(crate) action: Action,
    /// The instance's input when a worker driving it moves it: a step to run now is claimed
    /// by that worker. None for an operator's move: the step is queued for any worker.
    pub(crate) driven: Option<&'a Value>,
    /// The attempt that led here, if it was recorded as running.
    pub(crate) closed: Option<ClosedAttempt>,
    /// The attempts of the chain that led here, not recorded yet.
    pub(crate) chained: Vec<ChainedRecord>,
}

impl Engine {
    /// Closes the attempt with `event`'s outcome and moves the instance on.
    pub(crate) async fn record(
        &self,
        tx: &mut PgConnection,
        claim: &Claim,
        definition: &Definition,
        event: Event,
    ) -> Result<Next, Error> {
        let id = claim
            .attempt_id
            .ok_or_else(|| Error::Corrupt("an attempt run on its own was not recorded as running".into()))?;
        let closed = ClosedAttempt {
            id,
            outcome: event.outcome(),
            error: match &event {
                Event::Failed { error, .. } => Some(error.clone()),
                _ => None,
            },
            ended_ago: Duration::ZERO,
        };
        let (after, action) = transition(definition.shape(), &claim.position, event, random_unit())?;
        let change = Move {
            instance: claim.id,
            definition,
            before: &claim.position,
            after,
            action,
            driven: Some(&claim.input),
            closed: Some(closed),
            chained: Vec::new(),
        };
        self.apply(tx, change).await
    }

    /// Writes what a chain did: an attempt record for each of its steps, all succeeded, and
    /// the instance's move past the last of them to `after`.
    pub(crate) async fn record_chain(
        &self,
        tx: &mut PgConnection,
        claim: &Claim,
        definition: &Definition,
        succeeded: &[ChainedAttempt],
        after: Position,
        action: Action,
    ) -> Result<Next, Error> {
        let now = Instant::now();
        let ago = |at: Instant| now.duration_since(at);
        // A claim that decided an abandoned attempt has already recorded the next as running.
        let (closed, unrecorded) = match (claim.attempt_id, succeeded.split_first()) {
            (Some(id), Some((first, rest))) => (
                Some(ClosedAttempt {
                    id,
                    outcome: AttemptOutcome::Succeeded,
                    error: None,
                    ended_ago: ago(first.ended),
                }),
                rest,
            ),
            _ => (None, succeeded),
        };
        let chained = unrecorded
            .iter()
            .map(|a| ChainedRecord {
                position: a.position.clone(),
                step_name: definition.step_name(a.position.step),
                started_ago: ago(a.started),
                ended_ago: ago(a.ended),
            })
            .collect();
        let change = Move {
            instance: claim.id,
            definition,
            before: succeeded.last().map_or(&claim.position, |a| &a.position),
            after,
            action,
            driven: Some(&claim.input),
            closed,
            chained,
        };
        self.apply(tx, change).await
    }

    /// Stores the move and does what its action asks: a step to run now is claimed by the
    /// worker driving the instance (its attempt recorded as running), or queued for any
    /// worker; a step to run later is queued for then. One statement, since every step of
    /// every instance passes here.
    pub(crate) async fn apply(&self, tx: &mut PgConnection, change: Move<'_>) -> Result<Next, Error> {
        let Move {
            instance: id,
            definition,
            before,
            after,
            action,
            driven,
            closed,
            chained,
        } = change;
        let saga = definition.name;
        let runs_next = driven.filter(|_| matches!(action, Action::Run { .. }));
        let record = MoveRecord {
            instance: id,
            to: &after,
            due_in: action.delay(),
            ends: action.ends_saga(),
            worker: self.worker(),
            closed,
            chained: &chained,
            next: runs_next.map(|_| NextAttempt {
                step_name: definition.step_name(after.step),
                lease: self.lease(definition.steps.get(after.step)),
            }),
        };
        let moved = store::write_move(tx, &record).await?;
        let metrics = &self.inner.metrics;
        match action {
            Action::Run { .. } => match (runs_next, moved.next_attempt) {
                (Some(input), Some(attempt_id)) => Ok(Next::Continue(Claim {
                    id,
                    saga,
                    position: after,
                    input: input.clone(),
                    attempt_id: Some(attempt_id),
                })),
                _ => {
                    queue::enqueue(tx, id, None).await?;
                    Ok(Next::Stop)
                }
            },
            Action::RunAfter { .. } => {
                queue::enqueue(tx, id, Some(moved.due)).await?;
                Ok(Next::Stop)
            }
            Action::Complete | Action::Fail { .. } => {
                if before.state != after.state {
                    metrics.ended(saga, after.state);
                }
                Ok(Next::Stop)
            }
            Action::AwaitOperator { reason } => {
                tracing::warn!(instance = %id, saga, %reason, "saga stuck: waiting for an operator");
                metrics.ended(saga, after.state);
                Ok(Next::Stop)
            }
        }
    }
}
