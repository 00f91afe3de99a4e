//! The saga engine on a definition of its own (not the checkout), against a real PostgreSQL:
//! claims shared by two workers, a lease lapsed under a live worker (and that worker fenced out
//! when it wakes), a chain rolled back, a hand-over lost after its commit, a starter dropped
//! after its commit, operator guards, and sequences of operator actions (cancel then retry,
//! retry during compensation).
//!
//! The saga ships a parcel: `pack` and `label` (transactional, each undone by its
//! compensation), then `ship` (in a transaction of its own, as a broker publish would be).
//! Every effect is a row in `ledger`, so a test reads what took effect, and how often.

use std::time::Duration;

use saga::{
    Actor, Definition, Engine, EngineSettings, FaultPoint, GuardContext, GuardFuture, InstanceState, NewInstance,
    OperatorGuard, OperatorMove, Phase, RetryPolicy, Step, StepAction, StepContext, StepError, StepFuture,
};
use serde_json::json;
use sqlx::{Connection, PgConnection, PgPool};
use testkit::wait_until;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

const SAGA: &str = "parcel";
const QUICK: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    initial_backoff: Duration::from_millis(100),
    max_backoff: Duration::from_millis(200),
    timeout: Duration::from_secs(1),
};
const SETTLES_WITHIN: Duration = Duration::from_secs(30);

/// Writes `(instance, step, phase)` to the ledger: the step's effect.
struct Record(&'static str, &'static str);

impl StepAction for Record {
    fn run<'a>(&'a self, context: &'a StepContext, tx: &'a mut PgConnection) -> StepFuture<'a> {
        Box::pin(async move {
            sqlx::query("INSERT INTO ledger (instance_id, step, phase) VALUES ($1, $2, $3)")
                .bind(context.instance_id)
                .bind(self.0)
                .bind(self.1)
                .execute(tx)
                .await?;
            Ok(())
        })
    }
}

/// Refuses to cancel a parcel the `shipped_by_hand` table says left already, as the
/// checkout refuses to undo a shipped order.
struct NotShippedByHand;

impl OperatorGuard for NotShippedByHand {
    fn refusal<'a>(
        &'a self,
        operator_move: OperatorMove,
        context: GuardContext<'a>,
        tx: &'a mut PgConnection,
    ) -> GuardFuture<'a> {
        Box::pin(async move {
            let shipped: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM shipped_by_hand WHERE instance_id = $1)")
                    .bind(context.instance_id)
                    .fetch_one(tx)
                    .await?;
            Ok((operator_move == OperatorMove::Cancel && shipped).then(|| "the parcel left by hand".to_owned()))
        })
    }
}

fn parcel() -> Definition {
    Definition::new(SAGA)
        .guard_operators_with(NotShippedByHand)
        .step(
            Step::new("pack", Record("pack", "forward"))
                .compensate_with(Record("pack", "compensation"))
                .retry(QUICK)
                .transactional(),
        )
        .step(
            Step::new("label", Record("label", "forward"))
                .compensate_with(Record("label", "compensation"))
                .retry(QUICK)
                .transactional(),
        )
        .step(Step::new("ship", Record("ship", "forward")).retry(RetryPolicy {
            max_attempts: 1_000,
            ..QUICK
        }))
}

/// A database of its own with the ledger, and engines ("processes") working on it.
struct Bench {
    pool: PgPool,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Bench {
    async fn new() -> Self {
        let infra = testkit::infra().await;
        let url = testkit::fresh_database_url(infra, "saga");
        let name = url.rsplit('/').next().unwrap().to_owned();
        let mut admin = PgConnection::connect(&infra.postgres_url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .unwrap();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(12)
            .connect(&url)
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE ledger (id bigserial PRIMARY KEY, instance_id uuid NOT NULL, step text NOT NULL, \
                                  phase text NOT NULL); \
             CREATE TABLE shipped_by_hand (instance_id uuid PRIMARY KEY);",
        )
        .execute(&pool)
        .await
        .unwrap();
        Self {
            pool,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }
    }

    /// An engine on the bench's database; with `workers`, it drives instances (its worker runs).
    async fn engine(&self, workers: bool) -> Engine {
        let settings = EngineSettings {
            worker_name: "parcel".into(),
            concurrency: 4,
            heartbeat: Duration::from_millis(200),
            poll_interval: Duration::from_millis(200),
            lease_margin: Duration::from_secs(1),
            ..EngineSettings::default()
        };
        let engine = Engine::new(self.pool.clone(), vec![parcel()], settings).await.unwrap();
        if workers {
            engine.spawn(self.shutdown.clone(), &self.tasks);
            // A start hands its instance over only once the worker runs.
            let probe = engine.clone();
            wait_until("the engine's worker to run", SETTLES_WITHIN, || {
                let probe = probe.clone();
                async move { probe.worker_is_running() }
            })
            .await;
        }
        engine
    }

    /// Starts a parcel in a transaction of its own and commits it as a request would.
    async fn ship(&self, engine: &Engine) -> Uuid {
        let mut tx = self.pool.begin().await.unwrap();
        let started = engine.start(&mut tx, SAGA, new_parcel()).await.unwrap();
        let id = started.id;
        engine.commit_started(tx, started).await.unwrap();
        id
    }

    async fn state(&self, engine: &Engine, id: Uuid) -> InstanceState {
        engine.instance(id).await.unwrap().unwrap().summary.state
    }

    async fn settled_in(&self, engine: &Engine, id: Uuid, state: InstanceState) {
        wait_until(
            &format!("parcel {id} to be {}", state.as_str()),
            SETTLES_WITHIN,
            || async { self.state(engine, id).await == state },
        )
        .await;
    }

    /// How often each effect took place: `(step, phase, count)`, in the saga's order.
    async fn ledger(&self, id: Uuid) -> Vec<(String, String, i64)> {
        sqlx::query_as(
            "SELECT step, phase, count(*) FROM ledger WHERE instance_id = $1 GROUP BY step, phase \
             ORDER BY min(id)",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    /// Each attempt so far: `(step, phase, outcome)`, in order.
    async fn attempts(&self, engine: &Engine, id: Uuid) -> Vec<(String, Phase, String)> {
        let view = engine.instance(id).await.unwrap().unwrap();
        view.attempts_log
            .into_iter()
            .map(|a| (a.step, a.phase, a.outcome.as_str().to_owned()))
            .collect()
    }

    /// The outcome of each attempt of `step` so far, in order.
    async fn outcomes_of(&self, engine: &Engine, id: Uuid, step: &str) -> Vec<String> {
        self.attempts(engine, id)
            .await
            .into_iter()
            .filter(|(s, ..)| s == step)
            .map(|(.., outcome)| outcome)
            .collect()
    }

    /// Waits until an attempt of `step` in `phase` has failed.
    async fn failed_once(&self, engine: &Engine, id: Uuid, step: &str, phase: Phase) {
        wait_until(&format!("{step} ({phase:?}) to fail once"), SETTLES_WITHIN, || async {
            self.attempts(engine, id)
                .await
                .iter()
                .any(|(s, p, outcome)| s == step && *p == phase && outcome == "failed")
        })
        .await;
    }

    /// Stops the workers, then checks that no attempt was left marked running where no worker
    /// can be running it.
    async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        let strays = crate::helpers::stray_attempts(&self.pool, None).await.unwrap();
        assert!(strays.is_empty(), "{strays:#?}");
    }
}

fn new_parcel() -> NewInstance {
    NewInstance {
        id: Uuid::now_v7(),
        owner: "tester".into(),
        idempotency_key: None,
        request_hash: None,
        input: json!({}),
    }
}

fn operator(reason: &str) -> Actor<'_> {
    Actor {
        operator: "test-operator",
        reason,
    }
}

fn shipped_once() -> Vec<(String, String, i64)> {
    ["pack", "label", "ship"]
        .into_iter()
        .map(|step| (step.to_owned(), "forward".to_owned(), 1))
        .collect()
}

#[tokio::test]
async fn a_start_handed_over_runs_its_chain_at_once_and_ships_once() {
    let bench = Bench::new().await;
    let engine = bench.engine(true).await;
    let id = bench.ship(&engine).await;
    bench.settled_in(&engine, id, InstanceState::Completed).await;
    assert_eq!(bench.ledger(id).await, shipped_once());
    bench.stop().await;
}

#[tokio::test]
async fn two_workers_share_queued_instances_and_each_step_takes_effect_once() {
    let bench = Bench::new().await;
    // Started by a process without workers: the instances go through the queue.
    let starter = bench.engine(false).await;
    let ids = futures::future::join_all((0..8).map(|_| bench.ship(&starter))).await;
    let (first, second) = (bench.engine(true).await, bench.engine(true).await);
    for id in &ids {
        bench.settled_in(&first, *id, InstanceState::Completed).await;
        assert_eq!(bench.ledger(*id).await, shipped_once());
    }
    let workers: std::collections::HashSet<String> = sqlx::query_scalar("SELECT DISTINCT worker FROM saga.attempts")
        .fetch_all(&bench.pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert!(
        workers.iter().all(|w| w == first.worker() || w == second.worker()),
        "{workers:?}"
    );
    bench.stop().await;
}

#[tokio::test]
async fn a_starter_dropped_after_its_commit_leaves_nothing_stranded() {
    let bench = Bench::new().await;
    let engine = bench.engine(true).await;
    // The starting request commits, then is dropped before it hands the instance over (its
    // client went away at that very await): the instance is leased to a live worker that
    // never heard of it.
    let mut tx = bench.pool.begin().await.unwrap();
    let started = engine.start(&mut tx, SAGA, new_parcel()).await.unwrap();
    let id = started.id;
    tx.commit().await.unwrap();
    drop(started);
    // Its lease lapses, and the sweep hands it to a worker.
    bench.settled_in(&engine, id, InstanceState::Completed).await;
    assert_eq!(bench.ledger(id).await, shipped_once());
    assert!(engine.metrics().rescued.get() >= 1);
    bench.stop().await;
}

#[tokio::test]
async fn a_hand_over_lost_on_a_transient_error_is_rescued_while_its_worker_lives() {
    let bench = Bench::new().await;
    let engine = bench.engine(true).await;
    engine.faults().lose_hand_overs(1);
    let id = bench.ship(&engine).await;
    bench.settled_in(&engine, id, InstanceState::Completed).await;
    assert_eq!(bench.ledger(id).await, shipped_once());
    assert_eq!(bench.outcomes_of(&engine, id, "ship").await, ["abandoned", "succeeded"]);
    bench.stop().await;
}

#[tokio::test]
async fn a_lease_that_lapses_under_a_live_worker_goes_to_another_and_the_stalled_one_is_fenced_out() {
    let bench = Bench::new().await;
    let stalled = bench.engine(true).await;
    // The worker driving the parcel stalls before shipping, alive (heartbeats go on).
    stalled
        .faults()
        .freeze_at("ship", Phase::Forward, FaultPoint::BeforeStep);
    let id = bench.ship(&stalled).await;
    stalled.faults().frozen().await;
    let rescuer = bench.engine(true).await;
    bench.settled_in(&rescuer, id, InstanceState::Completed).await;

    // The stalled worker goes on as if nothing happened: its claim is gone, so it leaves the
    // parcel as the rescuer left it.
    stalled.faults().thaw();
    wait_until("the stalled worker to find its claim gone", SETTLES_WITHIN, || async {
        stalled.metrics().fenced_out.get() >= 1
    })
    .await;
    assert_eq!(bench.ledger(id).await, shipped_once());
    assert_eq!(bench.state(&rescuer, id).await, InstanceState::Completed);
    assert_eq!(
        bench.outcomes_of(&rescuer, id, "ship").await,
        ["abandoned", "succeeded"],
        "the stalled attempt stays abandoned"
    );
    bench.stop().await;
}

#[tokio::test]
async fn a_step_failing_in_a_chain_rolls_the_chain_back_and_compensates_step_by_step() {
    let bench = Bench::new().await;
    let engine = bench.engine(true).await;
    engine
        .faults()
        .fail("label", Phase::Forward, StepError::rejected("no such address"));
    let id = bench.ship(&engine).await;
    bench.settled_in(&engine, id, InstanceState::Failed).await;
    // The chain's pack was rolled back with it; run alone, pack took effect and was undone.
    assert_eq!(
        bench.ledger(id).await,
        [
            ("pack".into(), "forward".into(), 1),
            ("pack".into(), "compensation".into(), 1)
        ]
    );
    let view = engine.instance(id).await.unwrap().unwrap();
    assert_eq!(view.summary.public_failure.as_deref(), Some("no such address"));
    let attempts = bench.attempts(&engine, id).await;
    let outcomes: Vec<(&str, Phase, &str)> = attempts.iter().map(|(s, p, o)| (s.as_str(), *p, o.as_str())).collect();
    assert_eq!(
        outcomes,
        [
            ("pack", Phase::Forward, "succeeded"),
            ("label", Phase::Forward, "failed"),
            ("pack", Phase::Compensation, "succeeded"),
        ]
    );
    bench.stop().await;
}

#[tokio::test]
async fn a_cancelled_parcel_retried_starts_over_and_its_effects_net_out_once() {
    let bench = Bench::new().await;
    let engine = bench.engine(true).await;
    engine
        .faults()
        .fail("ship", Phase::Forward, StepError::retryable("carrier unreachable"));
    let id = bench.ship(&engine).await;
    bench.failed_once(&engine, id, "ship", Phase::Forward).await;
    engine.cancel(id, operator("customer called")).await.unwrap();
    bench.settled_in(&engine, id, InstanceState::Failed).await;
    let failed = engine.instance(id).await.unwrap().unwrap().summary;
    assert!(failed.failure.unwrap().contains("customer called"));
    assert_eq!(
        failed.public_failure, None,
        "an operator's reason is not the requester's"
    );
    // A retry of the failed parcel starts it over.
    engine.faults().clear("ship", Phase::Forward);
    engine.retry(id, operator("customer called back")).await.unwrap();
    bench.settled_in(&engine, id, InstanceState::Completed).await;
    // Each step's effects less their undoing: once each, whatever ran and was undone before.
    let mut net: Vec<(String, i64)> = Vec::new();
    for (step, phase, n) in bench.ledger(id).await {
        let n = if phase == "forward" { n } else { -n };
        match net.iter_mut().find(|(s, _)| *s == step) {
            Some(entry) => entry.1 += n,
            None => net.push((step, n)),
        }
    }
    assert_eq!(net, [("pack".into(), 1), ("label".into(), 1), ("ship".into(), 1)]);
    bench.stop().await;
}

#[tokio::test]
async fn a_retry_during_compensation_runs_the_compensation_now() {
    let bench = Bench::new().await;
    let engine = bench.engine(true).await;
    engine
        .faults()
        .fail("ship", Phase::Forward, StepError::permanent("carrier gone"));
    engine
        .faults()
        .fail("label", Phase::Compensation, StepError::retryable("printer jammed"));
    let id = bench.ship(&engine).await;
    bench.failed_once(&engine, id, "label", Phase::Compensation).await;
    engine.faults().clear("label", Phase::Compensation);
    engine.retry(id, operator("printer fixed")).await.unwrap();
    bench.settled_in(&engine, id, InstanceState::Failed).await;
    let view = engine.instance(id).await.unwrap().unwrap();
    assert_eq!(view.operator_actions.len(), 1);
    assert_eq!(view.operator_actions[0].state_before, "compensating");
    assert_eq!(
        bench.ledger(id).await,
        [
            ("pack".into(), "forward".into(), 1),
            ("label".into(), "forward".into(), 1),
            ("label".into(), "compensation".into(), 1),
            ("pack".into(), "compensation".into(), 1),
        ]
    );
    bench.stop().await;
}

#[tokio::test]
async fn an_operator_move_the_saga_rules_out_is_refused_with_its_reason_and_changes_nothing() {
    let bench = Bench::new().await;
    let engine = bench.engine(true).await;
    engine
        .faults()
        .fail("ship", Phase::Forward, StepError::retryable("carrier unreachable"));
    let id = bench.ship(&engine).await;
    sqlx::query("INSERT INTO shipped_by_hand VALUES ($1)")
        .bind(id)
        .execute(&bench.pool)
        .await
        .unwrap();
    let refused = engine.cancel(id, operator("oops")).await.unwrap_err();
    assert!(refused.to_string().contains("left by hand"), "{refused}");
    let view = engine.instance(id).await.unwrap().unwrap();
    assert_eq!(view.summary.state, InstanceState::Running);
    assert!(view.operator_actions.is_empty());
    // What the guard allows still goes through.
    engine.faults().clear("ship", Phase::Forward);
    engine.retry(id, operator("carrier back")).await.unwrap();
    bench.settled_in(&engine, id, InstanceState::Completed).await;
    bench.stop().await;
}
