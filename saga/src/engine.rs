//! The durable engine: instances and attempts in PostgreSQL, steps driven by workers that
//! hold a lease on the instance they run.
//!
//! A worker claims an instance (a lease that lapses when it expires or when the worker's
//! heartbeat stops), then runs its steps one after another. Each attempt runs in one
//! transaction that first locks the instance row and checks the instance still stands where
//! the worker claimed it (the fence), then runs the action, then records the outcome and the
//! next position: the step's effects and the record commit together, so a step whose worker
//! dies takes effect exactly once however often it is run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::{PgConnection, PgPool, Postgres, Row, Transaction};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::definition::{Definition, Step, StepAction, StepContext, StepError};
use crate::error::Error;
use crate::faults::{FaultInjection, FaultPoint};
use crate::metrics::SagaMetrics;
use crate::queue;
use saga_core::{Action, Event, InstanceState, Phase, Position, transition};

/// How the engine's workers run.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Names this process's worker (a unique suffix is added).
    pub worker_name: String,
    /// Instances driven at once by this process.
    pub concurrency: usize,
    /// How often the worker tells the others it is alive.
    pub heartbeat: Duration,
    /// Heartbeats missed before a worker counts as dead: its jobs and leases go to others.
    pub missed_heartbeats: u32,
    /// How often the queue is polled for delayed work besides being woken by NOTIFY.
    pub poll_interval: Duration,
    /// How much longer than its step's timeout a lease runs: a lease that lapses means the
    /// instance's driving was lost, and the sweep hands it to a worker.
    pub lease_margin: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            worker_name: "saga".into(),
            concurrency: 16,
            heartbeat: Duration::from_secs(2),
            missed_heartbeats: 3,
            poll_interval: Duration::from_secs(1),
            lease_margin: Duration::from_secs(10),
        }
    }
}

impl EngineSettings {
    pub(crate) fn orphaned_after(&self) -> Duration {
        self.heartbeat * self.missed_heartbeats.max(1)
    }
}

/// A request to start an instance.
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// The instance's id, chosen by the caller so that what it writes beside the instance in
    /// the same transaction can name it (`Uuid::now_v7()`; under a key used before, the
    /// earlier instance's id is answered instead, and nothing of this one is written).
    pub id: Uuid,
    /// Who starts it; instances are listed and made idempotent per owner.
    pub owner: String,
    /// The same key from the same owner gives back the same instance.
    pub idempotency_key: Option<String>,
    /// A fingerprint of what was asked, to tell a repeat from a different request reusing a key.
    pub request_hash: Option<String>,
    pub input: Value,
}

/// The instance a start request leads to.
#[derive(Debug)]
pub struct Started {
    pub id: Uuid,
    /// False when the idempotency key had been used before.
    pub created: bool,
    /// The fingerprint recorded with the first request under this key.
    pub request_hash: Option<String>,
    /// The new instance handed to this process's worker: `commit_started` drives it.
    handover: Option<queue::Handover>,
}

/// The durable saga engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
    /// The worker this handle drives instances as: it names the apalis worker whose heartbeat
    /// keeps this process's leases, and it is recorded on attempts.
    worker: Arc<str>,
}

pub(crate) struct Inner {
    pub(crate) pool: PgPool,
    definitions: Vec<Definition>,
    pub(crate) settings: EngineSettings,
    pub(crate) metrics: SagaMetrics,
    pub(crate) faults: FaultInjection,
    /// Instances this process drives at once, whether its queue or a start handed them over.
    pub(crate) slots: Arc<tokio::sync::Semaphore>,
    /// Instances handed over by starts that this process holds at once, driving or waiting
    /// for a slot: twice the slots, so a burst waits here rather than in the queue.
    pub(crate) admitted: Arc<tokio::sync::Semaphore>,
    /// This process's worker while it runs, for the instances started here.
    pub(crate) local: std::sync::RwLock<Option<queue::LocalWorker>>,
}

/// An instance this worker holds, at the attempt it is about to run.
#[derive(Debug, Clone)]
pub(crate) struct Claim {
    id: Uuid,
    saga: &'static str,
    position: Position,
    input: Value,
    /// The attempt's record, written as running when the claim commits before the step runs;
    /// None while the step runs in the claim's transaction (a chain), whose end writes it.
    attempt_id: Option<i64>,
}

/// Whether the driving worker goes on with the next step.
#[derive(Debug)]
pub(crate) enum Next {
    Continue(Claim),
    Stop,
}

impl Engine {
    /// Creates the engine's schema (and apalis's) when missing.
    pub async fn new(pool: PgPool, definitions: Vec<Definition>, settings: EngineSettings) -> Result<Self, Error> {
        crate::schema::migrate(&pool).await?;
        let worker = worker_name(&settings);
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                definitions,
                slots: Arc::new(tokio::sync::Semaphore::new(settings.concurrency.max(1))),
                admitted: Arc::new(tokio::sync::Semaphore::new(settings.concurrency.max(1) * 2)),
                settings,
                metrics: SagaMetrics::default(),
                faults: FaultInjection::default(),
                local: std::sync::RwLock::default(),
            }),
            worker,
        })
    }

    /// The same engine as a new worker, for a worker that replaces one which stopped: the
    /// stopped one's jobs and leases go to live workers once its heartbeat is missed, as
    /// when a process dies.
    pub(crate) fn as_new_worker(&self) -> Self {
        Self::with_worker(self.inner.clone(), worker_name(&self.inner.settings))
    }

    pub(crate) fn with_worker(inner: Arc<Inner>, worker: Arc<str>) -> Self {
        Self { inner, worker }
    }

    /// Runs the workers (with the sweep for instances left by stopped workers, and the metrics
    /// sampler) until `shutdown`.
    pub fn spawn(&self, shutdown: CancellationToken, tasks: &TaskTracker) {
        queue::spawn_worker(self.clone(), shutdown.clone(), tasks);
        tasks.spawn(queue::rescue_orphans_regularly(self.clone(), shutdown.clone()));
        tasks.spawn(crate::metrics::sample(self.clone(), shutdown));
    }

    pub fn metrics(&self) -> &SagaMetrics {
        &self.inner.metrics
    }

    /// Lets tests stop this process's worker at a chosen point of a step.
    pub fn faults(&self) -> &FaultInjection {
        &self.inner.faults
    }

    /// Whether this process's worker runs, so that instances started here are handed to it.
    pub fn worker_is_running(&self) -> bool {
        self.inner.local.read().is_ok_and(|local| local.is_some())
    }

    /// The worker this handle drives instances as, as recorded on attempts.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    pub fn definition(&self, name: &str) -> Result<&Definition, Error> {
        self.inner
            .definitions
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| Error::UnknownSaga(name.to_owned()))
    }

    /// Records a new instance of `saga` inside the caller's transaction, with the job that
    /// starts it: both exist once the caller commits, or neither does.
    ///
    /// When this process runs a worker with room for it, the instance is handed to it instead
    /// of travelling through the queue: commit with `commit_started`, which drives it then. It has no job then; should this process die before driving it to a stop,
    /// another's worker finds it by its lapsed lease (`queue::rescue_orphans`). The saga's first transactional steps then run
    /// at once in the caller's transaction (a chain), behind a savepoint: should one fail, the
    /// chain is undone and the worker runs the steps one transaction each, as it would have.
    pub async fn start(&self, tx: &mut PgConnection, saga: &str, request: NewInstance) -> Result<Started, Error> {
        let definition = self.definition(saga)?;
        let id = request.id;
        let mut handover = queue::Handover::admit(&self.inner);
        // An instance handed over is leased to the worker it is handed to from the start.
        let lease_owner = handover.as_ref().map(|h| h.worker());
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO saga.instances \
               (id, saga, state, step, phase, attempts, input, owner, idempotency_key, request_hash, search_keys, \
                lease_owner, lease_until) \
             VALUES ($1, $2, 'running', 0, 'forward', 1, $3, $4, $5, $6, $7, \
                     $8, CASE WHEN $8 IS NOT NULL THEN now() + make_interval(secs => $9) END) \
             ON CONFLICT (saga, owner, idempotency_key) DO NOTHING \
             RETURNING id",
        )
        .bind(id)
        .bind(definition.name)
        .bind(&request.input)
        .bind(&request.owner)
        .bind(&request.idempotency_key)
        .bind(&request.request_hash)
        .bind(definition.search_keys_of(&request.input))
        .bind(lease_owner.as_deref())
        .bind(self.lease_seconds(definition.steps.first()))
        .fetch_optional(&mut *tx)
        .await?;
        if inserted.is_some() {
            match &mut handover {
                Some(handover) => {
                    let engine = Self::with_worker(self.inner.clone(), handover.worker());
                    let claim = Claim {
                        id,
                        saga: definition.name,
                        position: Position::start(),
                        input: request.input,
                        attempt_id: None,
                    };
                    handover.at_start = engine.chain_at_start(tx, claim).await?;
                }
                None => queue::enqueue(tx, id, None).await?,
            }
            self.inner.metrics.started(definition.name);
            return Ok(Started {
                id,
                created: true,
                request_hash: request.request_hash,
                handover,
            });
        }
        let row = sqlx::query(
            "SELECT id, request_hash FROM saga.instances WHERE saga = $1 AND owner = $2 AND idempotency_key = $3",
        )
        .bind(definition.name)
        .bind(&request.owner)
        .bind(&request.idempotency_key)
        .fetch_one(&mut *tx)
        .await?;
        Ok(Started {
            id: row.get("id"),
            created: false,
            request_hash: row.get("request_hash"),
            handover: None,
        })
    }

    /// Commits the transaction that started an instance and hands the instance (if `start`
    /// handed it to this process) to the worker, both in a task of their own: the caller's
    /// future may be dropped at any await (its client gone, a timeout) without separating the
    /// commit from the hand-over. Should the task itself fail after the commit, the
    /// instance's lease lapses and the sweep queues it (`queue::rescue_orphans`).
    pub async fn commit_started(&self, tx: Transaction<'static, Postgres>, started: Started) -> Result<(), Error> {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            tx.commit().await?;
            if let Some(handover) = started.handover {
                handover.drive(&inner, started.id);
            }
            Ok(())
        })
        .await
        .map_err(|e| {
            if e.is_cancelled() {
                Error::Stopping
            } else {
                Error::Queue(format!("the task committing a new instance failed: {e}"))
            }
        })?
    }

    /// Runs the first steps of a new instance in the transaction that starts it, when they
    /// are transactional, behind a savepoint. When one of them fails, the savepoint is rolled
    /// back and the instance waits at its first step.
    async fn chain_at_start(&self, tx: &mut PgConnection, claim: Claim) -> Result<AtStart, Error> {
        let definition = self.definition(claim.saga)?;
        if !step_at(definition, &claim.position)?.transactional {
            return Ok(AtStart::NotRun);
        }
        let id = claim.id;
        sqlx::raw_sql("SAVEPOINT saga_start").execute(&mut *tx).await?;
        match self.chain(tx, claim).await {
            Ok(Some(run)) => return Ok(AtStart::Ran(run)),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(instance = %id, error = %e, "the first steps failed at the start; the worker runs them")
            }
        }
        sqlx::raw_sql("ROLLBACK TO SAVEPOINT saga_start")
            .execute(&mut *tx)
            .await?;
        Ok(AtStart::Failed)
    }

    /// Goes on after a chain that ran at the start, now committed.
    pub(crate) async fn continue_after(&self, run: ChainRun) -> Result<(), Error> {
        self.chain_committed(run.saga, &run.succeeded).await?;
        self.run_on(run.next).await
    }

    /// The instance started under an idempotency key, with the fingerprint recorded with it.
    pub async fn find_by_key(
        &self,
        tx: &mut PgConnection,
        saga: &str,
        owner: &str,
        key: &str,
    ) -> Result<Option<(Uuid, Option<String>)>, Error> {
        let row = sqlx::query(
            "SELECT id, request_hash FROM saga.instances WHERE saga = $1 AND owner = $2 AND idempotency_key = $3",
        )
        .bind(saga)
        .bind(owner)
        .bind(key)
        .fetch_optional(tx)
        .await?;
        Ok(row.map(|r| (r.get("id"), r.get("request_hash"))))
    }

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
            Chain::RolledBack => self.drive_step_by_step(id).await,
        }
    }

    /// Drives the instance one step, one transaction, at a time: after its chain failed.
    pub(crate) async fn drive_step_by_step(&self, id: Uuid) -> Result<(), Error> {
        let next = self.claim(id).await?.map_or(Next::Stop, Next::Continue);
        self.run_on(next).await
    }

    /// Runs attempts, each in a transaction of its own, for as long as there is a next one.
    async fn run_on(&self, mut next: Next) -> Result<(), Error> {
        while let Next::Continue(claim) = next {
            next = self.run_attempt(claim).await?;
        }
        Ok(())
    }

    /// Claims the instance in a transaction of its own.
    async fn claim(&self, id: Uuid) -> Result<Option<Claim>, Error> {
        let mut tx = self.inner.pool.begin().await?;
        let claim = match self.claim_in(&mut tx, id).await? {
            Some(claim) => Some(self.record_start(&mut tx, claim).await?),
            None => None,
        };
        tx.commit().await?;
        Ok(claim)
    }

    /// The claim with its attempt recorded as running, for a step whose transaction commits
    /// apart from the claim's: a worker that dies in it leaves the attempt open to be decided.
    async fn record_start(&self, tx: &mut PgConnection, claim: Claim) -> Result<Claim, Error> {
        if claim.attempt_id.is_some() {
            return Ok(claim);
        }
        let definition = self.definition(claim.saga)?;
        let attempt_id: i64 = sqlx::query_scalar(
            "INSERT INTO saga.attempts (instance_id, step, step_name, phase, attempt, worker, outcome) \
             VALUES ($1, $2, $3, $4, $5, $6, 'running') RETURNING id",
        )
        .bind(claim.id)
        .bind(claim.position.step as i32)
        .bind(definition.step_name(claim.position.step))
        .bind(claim.position.phase.as_str())
        .bind(claim.position.attempts as i32)
        .bind(&*self.worker)
        .fetch_one(&mut *tx)
        .await?;
        Ok(Claim {
            attempt_id: Some(attempt_id),
            ..claim
        })
    }

    /// Takes the lease on a runnable instance whose lease is free, expired, or held by a worker
    /// whose heartbeat stopped. The attempt about to run is not recorded yet (`record_start`).
    /// Nothing is committed here: the caller commits, alone or with the steps that follow.
    async fn claim_in(&self, tx: &mut PgConnection, id: Uuid) -> Result<Option<Claim>, Error> {
        let inner = &self.inner;
        // Attempts still marked running belong to a worker that stopped before recording an
        // outcome: their outcome is unknown until the step's own check has said whether they
        // took effect. The claim marks them, and names the one of the step about to run.
        let row = sqlx::query(
            "WITH claimed AS ( \
                 UPDATE saga.instances SET lease_owner = $2, lease_until = now() + make_interval(secs => $3), \
                        updated_at = now() \
                 WHERE id = $1 AND state IN ('running', 'compensating') \
                   AND run_after <= now() + interval '1 second' \
                   AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until < now() \
                        OR NOT EXISTS (SELECT 1 FROM apalis.workers w \
                                       WHERE w.id = lease_owner AND w.last_seen > now() - make_interval(secs => $4))) \
                 RETURNING saga, state, step, phase, attempts, failure, public_failure, input), \
             abandoned AS ( \
                 UPDATE saga.attempts SET outcome = 'abandoned', ended_at = now(), \
                        error = 'outcome unknown: worker ' || worker || ' stopped before recording an outcome' \
                 WHERE instance_id = $1 AND outcome = 'running' AND EXISTS (SELECT 1 FROM claimed) \
                 RETURNING id, step, phase, attempt) \
             SELECT c.*, (SELECT a.id FROM abandoned a \
                          WHERE a.step = c.step AND a.phase = c.phase AND a.attempt = c.attempts \
                          LIMIT 1) AS abandoned_attempt \
             FROM claimed c",
        )
        .bind(id)
        .bind(&*self.worker)
        .bind(self.lease_seconds(None))
        .bind(inner.settings.orphaned_after().as_secs_f64())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            // Finished or not due yet: nothing to do (a job waits for the due time). Held by a
            // worker that still looks alive: look again once it would count as dead, since this
            // job may be the one its death handed over.
            let held_elsewhere: Option<f64> = sqlx::query_scalar(
                "SELECT extract(epoch FROM now() + make_interval(secs => $2))::float8 FROM saga.instances \
                 WHERE id = $1 AND state IN ('running', 'compensating') \
                   AND run_after <= now() + interval '1 second' AND lease_owner IS NOT NULL",
            )
            .bind(id)
            .bind(inner.settings.orphaned_after().as_secs_f64() + 1.0)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(look_again_at) = held_elsewhere {
                queue::enqueue(tx, id, Some(look_again_at)).await?;
            }
            tracing::debug!(instance = %id, "instance not claimable now");
            return Ok(None);
        };
        let saga = self.definition(row.get("saga"))?.name;
        let position = position_of(&row)?;
        let input: Value = row.get("input");
        if let Some(abandoned) = row.get::<Option<i64>, _>("abandoned_attempt") {
            let definition = self.definition(saga)?;
            self.inner
                .metrics
                .attempt(saga, definition.step_name(position.step), position.phase, "abandoned");
            let event = self
                .decide_abandoned(tx, definition, id, &position, &input, abandoned)
                .await?;
            let (next_position, action) =
                transition(definition.shape(), &position, event, random_unit()).map_err(|r| Error::Refused(r.0))?;
            return match self
                .apply(
                    tx,
                    id,
                    definition,
                    &position,
                    &next_position,
                    action,
                    Some(&input),
                    None,
                    ChainRecords::default(),
                )
                .await?
            {
                Next::Continue(claim) => Ok(Some(claim)),
                Next::Stop => Ok(None),
            };
        }
        Ok(Some(Claim {
            id,
            saga,
            position,
            input,
            attempt_id: None,
        }))
    }

    /// Asks the step's check whether an abandoned attempt took effect, records the decision on
    /// the attempt, and says what happened: the step is done, or it runs again.
    async fn decide_abandoned(
        &self,
        tx: &mut PgConnection,
        definition: &Definition,
        id: Uuid,
        position: &Position,
        input: &Value,
        attempt_id: i64,
    ) -> Result<Event, Error> {
        let step = step_at(definition, position)?;
        let context = StepContext {
            instance_id: id,
            saga: definition.name,
            step: step.name,
            attempt: position.attempts,
            input: input.clone(),
        };
        let verdict = match action_of(step, position.phase) {
            Ok(action) => action.took_effect(&context, tx).await,
            Err(_) => Ok(None),
        };
        let (decision, event) = match verdict {
            Ok(Some(true)) => ("the step's check found it done: recorded as done", Event::Succeeded),
            Ok(Some(false)) => ("the step's check found it not done: it runs again", redo()),
            Ok(None) => ("the step cannot tell: it runs again (it is safe to repeat)", redo()),
            Err(e) => {
                tracing::warn!(instance = %id, error = %e, "checking an abandoned attempt failed");
                ("checking it failed: it runs again", redo())
            }
        };
        // An attempt found done did succeed; the note says how that was learnt.
        let outcome = if event == Event::Succeeded {
            "succeeded"
        } else {
            "abandoned"
        };
        sqlx::query("UPDATE saga.attempts SET outcome = $3, error = error || '; ' || $2 WHERE id = $1")
            .bind(attempt_id)
            .bind(decision)
            .bind(outcome)
            .execute(&mut *tx)
            .await?;
        Ok(event)
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
        match self.chain(&mut tx, claim).await? {
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
    async fn chain(&self, conn: &mut PgConnection, claim: Claim) -> Result<Option<ChainRun>, Error> {
        let definition = self.definition(claim.saga)?;
        let faults = &self.inner.faults;
        let mut position = claim.position.clone();
        let mut succeeded = Vec::new();
        loop {
            let step = step_at(definition, &position)?;
            let phase = position.phase;
            faults.reach(step.name, phase, FaultPoint::BeforeStep).await;
            let started = Instant::now();
            let result = run_action(step, &claim, &position, conn, faults).await?;
            faults.reach(step.name, phase, FaultPoint::MidStep).await;
            if result.is_err() {
                return Ok(None);
            }
            succeeded.push(ChainedAttempt {
                position: position.clone(),
                started,
                ended: Instant::now(),
            });
            let (following, action) = transition(definition.shape(), &position, Event::Succeeded, random_unit())
                .map_err(|r| Error::Refused(r.0))?;
            if matches!(action, Action::Run { .. }) && step_at(definition, &following)?.transactional {
                faults.reach(step.name, phase, FaultPoint::AfterStep).await;
                position = following;
                continue;
            }
            let next = self
                .record_chain(conn, &claim, definition, &succeeded, &following, action)
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
        for attempt in succeeded {
            let name = definition.step_name(attempt.position.step);
            let metrics = &self.inner.metrics;
            metrics.attempt(saga, name, attempt.position.phase, "succeeded");
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

    /// Writes what a chain did: an attempt record for each of its steps, all succeeded, and
    /// the instance's move past the last of them to `position`.
    async fn record_chain(
        &self,
        tx: &mut PgConnection,
        claim: &Claim,
        definition: &Definition,
        succeeded: &[ChainedAttempt],
        position: &Position,
        action: Action,
    ) -> Result<Next, Error> {
        let now = Instant::now();
        let ago = |at: Instant| now.duration_since(at).as_secs_f64();
        // A claim that decided an abandoned attempt has already recorded the next as running.
        let (closed, unrecorded) = match (claim.attempt_id, succeeded.split_first()) {
            (Some(id), Some((first, rest))) => (
                Some(ClosedAttempt {
                    id: Some(id),
                    outcome: "succeeded",
                    error: None,
                    ended_ago: ago(first.ended),
                }),
                rest,
            ),
            _ => (None, succeeded),
        };
        let records = ChainRecords {
            steps: unrecorded.iter().map(|a| a.position.step as i32).collect(),
            names: unrecorded
                .iter()
                .map(|a| definition.step_name(a.position.step))
                .collect(),
            phases: unrecorded.iter().map(|a| a.position.phase.as_str()).collect(),
            attempts: unrecorded.iter().map(|a| a.position.attempts as i32).collect(),
            started_ago: unrecorded.iter().map(|a| ago(a.started)).collect(),
            ended_ago: unrecorded.iter().map(|a| ago(a.ended)).collect(),
        };
        let last = succeeded.last().map_or(&claim.position, |a| &a.position);
        self.apply(
            tx,
            claim.id,
            definition,
            last,
            position,
            action,
            Some(&claim.input),
            closed,
            records,
        )
        .await
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
        let outcome = match &event {
            Event::Succeeded => "succeeded",
            _ => "failed",
        };
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
        let holds: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM saga.instances \
             WHERE id = $1 AND lease_owner = $2 AND step = $3 AND phase = $4 AND attempts = $5 \
               AND state IN ('running', 'compensating') \
             FOR UPDATE",
        )
        .bind(claim.id)
        .bind(&*self.worker)
        .bind(claim.position.step as i32)
        .bind(claim.position.phase.as_str())
        .bind(claim.position.attempts as i32)
        .fetch_optional(&mut *tx)
        .await?;
        if holds.is_none() {
            tracing::info!(instance = %claim.id, "instance moved on without this worker; leaving it");
        }
        Ok(holds.is_some())
    }

    /// Closes the attempt with `event`'s outcome and moves the instance on.
    async fn record(
        &self,
        tx: &mut PgConnection,
        claim: &Claim,
        definition: &Definition,
        event: Event,
    ) -> Result<Next, Error> {
        let id = claim
            .attempt_id
            .ok_or_else(|| Error::Corrupt("an attempt run on its own was not recorded as running".into()))?;
        let closed = match &event {
            Event::Failed { error, .. } => ClosedAttempt {
                id: Some(id),
                outcome: "failed",
                error: Some(error.clone()),
                ended_ago: 0.0,
            },
            _ => ClosedAttempt {
                id: Some(id),
                outcome: "succeeded",
                error: None,
                ended_ago: 0.0,
            },
        };
        let (next_position, action) =
            transition(definition.shape(), &claim.position, event, random_unit()).map_err(|r| Error::Refused(r.0))?;
        self.apply(
            tx,
            claim.id,
            definition,
            &claim.position,
            &next_position,
            action,
            Some(&claim.input),
            Some(closed),
            ChainRecords::default(),
        )
        .await
    }

    /// Stores `position` and does what `action` asks, closing the attempt that led here if
    /// given and writing the attempts of the chain that led here, if any. With a `driver` (a worker driving the instance) a step to run now is claimed by
    /// this worker and its attempt recorded as running; without (an operator) it is queued for
    /// any worker. One statement, since every step of every instance passes here.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn apply(
        &self,
        tx: &mut PgConnection,
        id: Uuid,
        definition: &Definition,
        before: &Position,
        position: &Position,
        action: Action,
        input: Option<&Value>,
        closed: Option<ClosedAttempt>,
        chained: ChainRecords,
    ) -> Result<Next, Error> {
        let saga = definition.name;
        let claims_next = matches!(action, Action::Run { .. }) && input.is_some();
        let (run_after_seconds, ended) = match &action {
            Action::RunAfter { delay, .. } => (delay.as_secs_f64(), false),
            Action::Complete | Action::Fail { .. } => (0.0, true),
            Action::Run { .. } | Action::AwaitOperator { .. } => (0.0, false),
        };
        let closed = closed.unwrap_or_default();
        let (due, attempt_id): (Option<f64>, Option<i64>) = sqlx::query_as(
            "WITH closed AS ( \
                 UPDATE saga.attempts SET outcome = $11, error = $12, \
                        ended_at = clock_timestamp() - make_interval(secs => $16) \
                 WHERE id = $13), \
             moved AS ( \
                 UPDATE saga.instances SET state = $2, step = $3, phase = $4, attempts = $5, failure = $6, \
                        public_failure = $23, \
                        run_after = now() + make_interval(secs => $7), updated_at = now(), \
                        lease_owner = CASE WHEN $8 THEN lease_owner END, \
                        lease_until = CASE WHEN $8 THEN now() + make_interval(secs => $9) END, \
                        ended_at = CASE WHEN $10 THEN now() END \
                 WHERE id = $1 \
                 RETURNING run_after), \
             chained AS ( \
                 INSERT INTO saga.attempts \
                   (instance_id, step, step_name, phase, attempt, worker, outcome, started_at, ended_at) \
                 SELECT $1, step, step_name, phase, attempt, $15, 'succeeded', \
                        clock_timestamp() - make_interval(secs => started_ago), \
                        clock_timestamp() - make_interval(secs => ended_ago) \
                 FROM unnest($17::int[], $18::text[], $19::text[], $20::int[], $21::float8[], $22::float8[]) \
                      AS t(step, step_name, phase, attempt, started_ago, ended_ago) \
                 RETURNING id), \
             started AS ( \
                 INSERT INTO saga.attempts (instance_id, step, step_name, phase, attempt, worker, outcome) \
                 SELECT $1, $3, $14, $4, $5, $15, 'running' FROM moved \
                 WHERE $8 AND (SELECT count(*) FROM chained) >= 0 \
                 RETURNING id) \
             SELECT (SELECT extract(epoch FROM run_after)::float8 FROM moved), (SELECT id FROM started)",
        )
        .bind(id)
        .bind(position.state.as_str())
        .bind(position.step as i32)
        .bind(position.phase.as_str())
        .bind(position.attempts as i32)
        .bind(&position.failure)
        .bind(run_after_seconds)
        .bind(claims_next)
        .bind(self.lease_seconds(definition.steps.get(position.step)))
        .bind(ended)
        .bind(closed.outcome)
        .bind(closed.error)
        .bind(closed.id)
        .bind(definition.step_name(position.step))
        .bind(&*self.worker)
        .bind(closed.ended_ago)
        .bind(chained.steps)
        .bind(chained.names)
        .bind(chained.phases)
        .bind(chained.attempts)
        .bind(chained.started_ago)
        .bind(chained.ended_ago)
        .bind(&position.public_failure)
        .fetch_one(&mut *tx)
        .await?;
        let due = due.ok_or(Error::NotFound)?;
        let metrics = &self.inner.metrics;
        match action {
            Action::Run { .. } => match (input, attempt_id) {
                (Some(input), Some(attempt_id)) => Ok(Next::Continue(Claim {
                    id,
                    saga,
                    position: position.clone(),
                    input: input.clone(),
                    attempt_id: Some(attempt_id),
                })),
                _ => {
                    queue::enqueue(tx, id, None).await?;
                    Ok(Next::Stop)
                }
            },
            Action::RunAfter { .. } => {
                queue::enqueue(tx, id, Some(due)).await?;
                Ok(Next::Stop)
            }
            Action::Complete | Action::Fail { .. } => {
                if before.state != position.state {
                    metrics.ended(saga, position.state);
                }
                Ok(Next::Stop)
            }
            Action::AwaitOperator { reason } => {
                tracing::warn!(instance = %id, saga, %reason, "saga stuck: waiting for an operator");
                metrics.ended(saga, position.state);
                Ok(Next::Stop)
            }
        }
    }

    /// A lease outlives the step's timeout by the margin, so a live worker never loses it
    /// mid-attempt.
    fn lease_seconds(&self, step: Option<&crate::definition::Step>) -> f64 {
        let longest = step.map(|s| s.retry.timeout).unwrap_or_else(|| {
            self.inner
                .definitions
                .iter()
                .flat_map(|d| d.steps.iter().map(|s| s.retry.timeout))
                .max()
                .unwrap_or(Duration::from_secs(30))
        });
        (longest + self.inner.settings.lease_margin).as_secs_f64()
    }
}

/// The outcome of the attempt a move closes.
#[derive(Debug, Default)]
pub(crate) struct ClosedAttempt {
    /// None: no attempt is closed (an operator's move).
    id: Option<i64>,
    outcome: &'static str,
    error: Option<String>,
    /// How long ago it ended, when that was before its record is written (in a chain).
    ended_ago: f64,
}

/// What became of the first steps of an instance handed over at its start.
#[derive(Debug)]
pub(crate) enum AtStart {
    /// The first step is not transactional: the worker runs it.
    NotRun,
    /// They ran in the starting transaction.
    Ran(ChainRun),
    /// One failed and they were undone: the worker runs them one transaction each, so the
    /// failure is recorded after the successes before it (running the chain again would only
    /// fail again).
    Failed,
}

/// A chain that ran and wrote its record: what follows, and its steps.
#[derive(Debug)]
pub(crate) struct ChainRun {
    saga: &'static str,
    next: Next,
    succeeded: Vec<ChainedAttempt>,
}

/// The attempts of a chain, all succeeded, as `apply` writes them with the move that ends it
/// (before the next attempt, counting them first, so they keep the lower ids).
#[derive(Default)]
pub(crate) struct ChainRecords {
    steps: Vec<i32>,
    names: Vec<&'static str>,
    phases: Vec<&'static str>,
    attempts: Vec<i32>,
    started_ago: Vec<f64>,
    ended_ago: Vec<f64>,
}

/// A step that succeeded in a chain, recorded when the chain ends.
#[derive(Debug)]
struct ChainedAttempt {
    position: Position,
    started: Instant,
    ended: Instant,
}

/// How a chain of steps sharing one transaction ended.
enum Chain {
    /// Committed; the worker goes on (in transactions of their own) or stops.
    Ended(Next),
    /// A step failed: the chain's transaction, claim included, was rolled back.
    RolledBack,
}

fn step_at<'d>(definition: &'d Definition, position: &Position) -> Result<&'d Step, Error> {
    definition
        .steps
        .get(position.step)
        .ok_or_else(|| Error::Corrupt(format!("step {} is past the definition", position.step)))
}

/// The step's action, or its compensation when the instance compensates.
fn action_of(step: &Step, phase: Phase) -> Result<&dyn StepAction, Error> {
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

/// An abandoned attempt that did not take effect counts as a retryable failure, so a step
/// that keeps killing its workers still runs out of attempts.
fn redo() -> Event {
    Event::Failed {
        error: "the worker running this step stopped".into(),
        permanent: false,
        public: false,
    }
}

/// An instance's position, from a row with its state, step, phase, attempts and failure.
pub(crate) fn position_of(row: &sqlx::postgres::PgRow) -> Result<Position, Error> {
    let state: String = row.get("state");
    let phase: String = row.get("phase");
    Ok(Position {
        state: InstanceState::parse(&state).ok_or_else(|| Error::Corrupt(format!("unknown state {state:?}")))?,
        step: row.get::<i32, _>("step").max(0) as usize,
        phase: Phase::parse(&phase).ok_or_else(|| Error::Corrupt(format!("unknown phase {phase:?}")))?,
        attempts: row.get::<i32, _>("attempts").max(0) as u32,
        failure: row.get("failure"),
        public_failure: row.get("public_failure"),
    })
}

/// `<settings' name>-<pid>-<random>`: unique to one worker of one process.
fn worker_name(settings: &EngineSettings) -> Arc<str> {
    format!(
        "{}-{}-{:08x}",
        settings.worker_name,
        std::process::id(),
        random_u64() as u32
    )
    .into()
}

pub(crate) fn random_u64() -> u64 {
    getrandom::u64().unwrap_or(0x9e37_79b9_7f4a_7c15)
}

/// A random number in 0.0..1.0 for retry jitter.
pub(crate) fn random_unit() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}
