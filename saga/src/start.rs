//! Starting an instance: recorded in the caller's transaction with what starts it. When this
//! process runs a worker with room for it, the instance is handed to that worker instead of
//! travelling through the queue, and its first transactional steps run at once in the
//! caller's transaction (a chain), behind a savepoint.

use serde_json::Value;
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use crate::engine::Engine;
use crate::error::Error;
use crate::run::{ChainRun, Claim, Next};
use crate::worker::Handover;
use crate::{queue, store};

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
    /// The new instance handed to this process's worker, with what became of its first
    /// steps: `commit_started` drives it.
    handover: Option<(Handover, AtStart)>,
}

/// What became of the first steps of an instance handed over at its start.
#[derive(Debug)]
enum AtStart {
    /// They ran in the starting transaction.
    Ran(ChainRun),
    /// The first step is the worker's to run, one transaction at a time: it is not
    /// transactional, or it failed in a chain that was undone (running the chain again would
    /// only fail again; alone, its failure is recorded after the successes before it). Its
    /// attempt is recorded as running in the starting transaction, under the lease the
    /// instance starts with, so the worker goes on with this claim rather than claiming a
    /// lease it already holds.
    Claimed(Claim),
}

impl Engine {
    /// Records a new instance of `saga` inside the caller's transaction, with the job that
    /// starts it: both exist once the caller commits, or neither does.
    ///
    /// When this process runs a worker with room for it, the instance is handed to it instead
    /// of travelling through the queue: commit with `commit_started`, which drives it then. It
    /// has no job then; should this process die before driving it to a stop, another's worker
    /// finds it by its lapsed lease (`queue::rescue_orphans`). The saga's first transactional
    /// steps then run at once in the caller's transaction (a chain), behind a savepoint: should
    /// one fail, the chain is undone and the worker runs the steps one transaction each, as it
    /// would have.
    pub async fn start(&self, tx: &mut PgConnection, saga: &str, request: NewInstance) -> Result<Started, Error> {
        let definition = self.definition(saga)?;
        let id = request.id;
        let handover = Handover::admit(&self.inner);
        let row = store::NewInstanceRow {
            id,
            saga: definition.name,
            input: &request.input,
            owner: &request.owner,
            idempotency_key: request.idempotency_key.as_deref(),
            request_hash: request.request_hash.as_deref(),
            search_keys: definition.search_keys_of(&request.input),
            // An instance handed over is leased to the worker it is handed to from the start.
            lease_owner: handover.as_ref().map(Handover::worker),
            lease: self.lease(definition.steps.first()),
        };
        if !store::insert_instance(tx, &row).await? {
            let (id, request_hash) = store::find_by_key(tx, definition.name, &request.owner, row.idempotency_key)
                .await?
                .ok_or(sqlx::Error::RowNotFound)?;
            return Ok(Started {
                id,
                created: false,
                request_hash,
                handover: None,
            });
        }
        let handover = match handover {
            Some(handover) => {
                let engine = Self::with_worker(self.inner.clone(), handover.worker().into());
                let at_start = engine
                    .chain_at_start(tx, Claim::at_start(id, definition.name, request.input))
                    .await?;
                Some((handover, at_start))
            }
            None => {
                queue::enqueue(tx, id, None).await?;
                None
            }
        };
        self.inner.metrics.started(definition.name);
        Ok(Started {
            id,
            created: true,
            request_hash: request.request_hash,
            handover,
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
            if let Some((handover, at_start)) = started.handover {
                let instance = started.id;
                handover.drive(&inner, instance, move |engine: Engine| async move {
                    match at_start {
                        AtStart::Ran(run) => engine.continue_after(run).await,
                        AtStart::Claimed(claim) => engine.run_on(Next::Continue(claim)).await,
                    }
                });
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
    /// back and the instance waits at its first step, claimed by the worker it is handed to.
    async fn chain_at_start(&self, tx: &mut PgConnection, claim: Claim) -> Result<AtStart, Error> {
        let definition = self.definition(claim.saga)?;
        if !definition.shape().chains(claim.position.step) {
            return Ok(AtStart::Claimed(self.record_start(tx, claim).await?));
        }
        let id = claim.id;
        store::savepoint_at_start(tx).await?;
        match self.chain(tx, &claim).await {
            Ok(Some(run)) => return Ok(AtStart::Ran(run)),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(instance = %id, error = %e, "the first steps failed at the start; the worker runs them")
            }
        }
        store::roll_back_to_start(tx).await?;
        Ok(AtStart::Claimed(self.record_start(tx, claim).await?))
    }

    /// The instance started under an idempotency key, with the fingerprint recorded with it.
    pub async fn find_by_key(
        &self,
        tx: &mut PgConnection,
        saga: &str,
        owner: &str,
        key: &str,
    ) -> Result<Option<(Uuid, Option<String>)>, Error> {
        store::find_by_key(tx, saga, owner, Some(key)).await
    }
}
