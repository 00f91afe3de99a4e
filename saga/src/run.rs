//! Running an instance's steps: attempts one transaction each, or chains of transactional
//! steps sharing one, each attempt fenced against a worker that lost the instance.

use std::time::Instant;

use saga_core::{AttemptOutcome, Event, Phase, Position, transition};
use serde_json::Value;
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use crate::definition::{Definition, Step, StepAction, StepContext, StepError};
use crate::engine::{Engine, random_unit};
use crate::error::Error;
use crate::faults::{FaultInjection, FaultPoint};
use crate::store;

/// An instance this worker holds, at the attempt it is about to run.
#[derive(Debug, Clone)]
pub(crate) struct Claim {
    pub(crate) id: Uuid,
    pub(crate) saga: &'static str,
    pub(crate) position: Position,
    pub(crate) input: Value,
    /// The attempt's record, written as running when the claim commits before the step runs;
    /// None while the step runs in the claim's transaction (a chain), whose end writes it.
    pub(crate) attempt_id: Option<i64>,
}

impl Claim {
    /// A new instance at its first step, leased to the worker it is handed to.
    pub(crate) fn at_start(id: Uuid, saga: &'static str, input: Value) -> Self {
        Self {
            id,
            saga,
            position: Position::start(),
            input,
            attempt_id: None,
        }
    }
}

/// Whether the driving worker goes on with the next step.
#[derive(Debug)]
pub(crate) enum Next {
    Continue(Claim),
    Stop,
}

/// A chain that ran and wrote its record: what follows, and its steps.
#[derive(Debug)]
pub(crate) struct ChainRun {
    saga: &'static str,
    next: Next,
    succeeded: Vec<ChainedAttempt>,
}

/// A step that succeeded in a chain, recorded when the chain ends.
#[derive(Debug)]
pub(crate) struct ChainedAttempt {
    pub(crate) position: Position,
    pub(crate) started: Instant,
    pub(crate) ended: Instant,
}

/// How a chain of steps sharing one transaction ended.
enum Chain {
    /// Committed; the worker goes on (in transactions of their own) or stops.
    Ended(Next),
    /// A step failed: the chain's transaction, claim included, was rolled back.
    RolledBack,
}

impl Engine {
    /// Runs the instance's steps for as long as this worker can: until it completes, fails,
    /// waits for a backoff or an operator, or another worker holds it.
    ///
    /// The claim and the transactional steps that follow it share one transaction (a chain);
    /// a step with effects outside the database runs in a transaction of its own.
    pub(crate) async fn drive(&self, id: Uuid) -> Result<(), Error> {
        let mut tx = self.inner.pool.begin().await?;
        let Some(claim) = self.claim_in(&mut tx, id).await? else {
            tx.commit().await?;
            return Ok(());
        };
        match self.run_chain(tx, claim).await? {
            Chain::Ended(next) => self.run_on(next).await,
            // A step of the chain failed and took the chain with it: run the steps one
            // transaction each, so the failure is recorded after the successes before it.
            // Its claim went with it, so the lease is as this claim found it: claimable.
            Chain::RolledBack => {
                let next = self.claim(id).await?.map_or(Next::Stop, Next::Continue);
                self.run_on(next).await
            }
        }
    }

    /// Goes on after a chain that ran at the start, now committed.
    pub(crate) async fn continue_after(&self, run: ChainRun) -> Result<(), Error> {
        self.chain_committed(run.saga, &run.succeeded).await?;
        self.run_on(run.next).await
    }

    /// Runs attempts, each in a transaction of its own, for as long as there is a next one.
    pub(crate) async fn run_on(&self, mut next: Next) -> Result<(), Error> {
        while let Next::Continue(claim) = next {
            next = self.run_attempt(claim).await?;
        }
        Ok(())
    }

    /// Runs the claimed step and the transactional steps after it in `tx`, which holds the
    /// instance's row since the claim. Commits when the run stops or the next step is not
    /// transactional (that one runs in a transaction of its own); rolls everything back, claim
    /// included, when a step fails. The chain's attempts and the instance's move are written
    /// once, at its end: nobody can see them before the commit anyway.
    async fn run_chain(&self, mut tx: Transaction<'static, Postgres>, claim: Claim) -> Result<Chain, Error> {
        let definition = self.definition(claim.saga)?;
        if !step_at(definition, &claim.position)?.transactional {
            let claim = self.record_start(&mut tx, claim).await?;
            tx.commit().await?;
            return Ok(Chain::Ended(Next::Continue(claim)));
        }
        match self.chain(&mut tx, &claim).await? {
            Some(run) => {
                tx.commit().await?;
                self.chain_committed(run.saga, &run.succeeded).await?;
                Ok(Chain::Ended(run.next))
            }
            None => {
                tx.rollback().await?;
                Ok(Chain::RolledBack)
            }
        }
    }

    /// Runs the claimed step, transactional, and the transactional steps after it on `conn`,
    /// then writes their attempts and the instance's move; the caller commits. None when a
    /// step failed: the caller rolls back what the chain wrote.
    pub(crate) async fn chain(&self, conn: &mut PgConnection, claim: &Claim) -> Result<Option<ChainRun>, Error> {
        let definition = self.definition(claim.saga)?;
        let faults = &self.inner.faults;
        let mut position = claim.position.clone();
        let mut succeeded = Vec::new();
        loop {
            let step = step_at(definition, &position)?;
            let phase = position.phase;
            faults.reach(step.name, phase, FaultPoint::BeforeStep).await;
            let started = Instant::now();
            let result = run_action(step, claim, &position, conn, faults).await?;
            faults.reach(step.name, phase, FaultPoint::MidStep).await;
            if result.is_err() {
                return Ok(None);
            }
            succeeded.push(ChainedAttempt {
                position: position.clone(),
                started,
                ended: Instant::now(),
            });
            let (following, action) = transition(definition.shape(), &position, Event::Succeeded, random_unit())?;
            if definition.shape().chain_continues(&action) {
                faults.reach(step.name, phase, FaultPoint::AfterStep).await;
                position = following;
                continue;
            }
            let next = self
                .record_chain(conn, claim, definition, &succeeded, following, action)
                .await?;
            return Ok(Some(ChainRun {
                saga: claim.saga,
                next,
                succeeded,
            }));
        }
    }

    /// Counts a chain's attempts once it is committed, and lets a test stop after its last.
    async fn chain_committed(&self, saga: &'static str, succeeded: &[ChainedAttempt]) -> Result<(), Error> {
        let definition = self.definition(saga)?;
        let metrics = &self.inner.metrics;
        for attempt in succeeded {
            let name = definition.step_name(attempt.position.step);
            metrics.attempt(saga, name, attempt.position.phase, AttemptOutcome::Succeeded);
            metrics.duration(saga, name, attempt.ended.duration_since(attempt.started));
        }
        if let Some(last) = succeeded.last() {
            let name = definition.step_name(last.position.step);
            self.inner
                .faults
                .reach(name, last.position.phase, FaultPoint::AfterStep)
                .await;
        }
        Ok(())
    }

    /// Runs one attempt of the claimed step in a transaction of its own and records its
    /// outcome.
    async fn run_attempt(&self, claim: Claim) -> Result<Next, Error> {
        let definition = self.definition(claim.saga)?;
        let step = step_at(definition, &claim.position)?;
        let faults = &self.inner.faults;
        faults
            .reach(step.name, claim.position.phase, FaultPoint::BeforeStep)
            .await;

        let started = Instant::now();
        let mut tx = self.inner.pool.begin().await?;
        if !self.fence(&mut tx, &claim).await? {
            return Ok(Next::Stop);
        }
        let result = run_action(step, &claim, &claim.position, &mut tx, faults).await?;
        faults.reach(step.name, claim.position.phase, FaultPoint::MidStep).await;
        let (event, mut tx) = match result {
            Ok(()) => (Event::Succeeded, tx),
            Err(error) => {
                tx.rollback().await?;
                let mut tx = self.inner.pool.begin().await?;
                if !self.fence(&mut tx, &claim).await? {
                    return Ok(Next::Stop);
                }
                let event = Event::Failed {
                    error: error.message,
                    permanent: error.permanent,
                    public: error.public,
                };
                (event, tx)
            }
        };
        let outcome = event.outcome();
        let next = self.record(&mut tx, &claim, definition, event).await?;
        tx.commit().await?;
        let metrics = &self.inner.metrics;
        metrics.attempt(claim.saga, step.name, claim.position.phase, outcome);
        metrics.duration(claim.saga, step.name, started.elapsed());
        faults
            .reach(step.name, claim.position.phase, FaultPoint::AfterStep)
            .await;
        Ok(next)
    }

    /// Locks the instance row and checks it still stands where this worker claimed it.
    async fn fence(&self, tx: &mut PgConnection, claim: &Claim) -> Result<bool, Error> {
        let holds = store::fence(tx, claim.id, self.worker(), &claim.position).await?;
        if !holds {
            self.inner.metrics.fenced_out.inc();
            tracing::info!(instance = %claim.id, "instance moved on without this worker; leaving it");
        }
        Ok(holds)
    }
}

pub(crate) fn step_at<'d>(definition: &'d Definition, position: &Position) -> Result<&'d Step, Error> {
    definition
        .steps
        .get(position.step)
        .ok_or_else(|| Error::Corrupt(format!("step {} is past the definition", position.step)))
}

/// The step's action, or its compensation when the instance compensates.
pub(crate) fn action_of(step: &Step, phase: Phase) -> Result<&dyn StepAction, Error> {
    match phase {
        Phase::Forward => Ok(step.action.as_ref()),
        Phase::Compensation => step
            .compensation
            .as_deref()
            .ok_or_else(|| Error::Corrupt(format!("step {} has no compensation", step.name))),
    }
}

/// Runs the claimed attempt's action in `tx` within the step's timeout; a failure armed by a
/// test stands in for the action.
async fn run_action(
    step: &Step,
    claim: &Claim,
    position: &Position,
    tx: &mut PgConnection,
    faults: &FaultInjection,
) -> Result<Result<(), StepError>, Error> {
    let action = action_of(step, position.phase)?;
    if let Some(error) = faults.failure_of(step.name, position.phase) {
        return Ok(Err(error));
    }
    let context = StepContext {
        instance_id: claim.id,
        saga: claim.saga,
        step: step.name,
        attempt: position.attempts,
        input: claim.input.clone(),
    };
    Ok(
        match tokio::time::timeout(step.retry.timeout, action.run(&context, tx)).await {
            Ok(result) => result,
            Err(_) => Err(StepError::retryable(format!(
                "timed out after {} ms",
                step.retry.timeout.as_millis()
            ))),
        },
    )
}
