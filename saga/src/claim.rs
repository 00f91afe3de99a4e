//! Claiming an instance: its lease taken by this worker, the attempts a stopped worker left
//! open decided, and the attempt about to run recorded as running when it commits apart.

use std::time::Duration;

use saga_core::recovery::{self, Check};
use saga_core::{AttemptOutcome, Event, transition};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::definition::{Definition, StepContext};
use crate::engine::{Engine, random_unit};
use crate::error::Error;
use crate::record::Move;
use crate::run::{Claim, Next, action_of, step_at};
use crate::{queue, store};

impl Engine {
    /// Claims the instance in a transaction of its own.
    pub(crate) async fn claim(&self, id: Uuid) -> Result<Option<Claim>, Error> {
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
    pub(crate) async fn record_start(&self, tx: &mut PgConnection, claim: Claim) -> Result<Claim, Error> {
        if claim.attempt_id.is_some() {
            return Ok(claim);
        }
        let step_name = self.definition(claim.saga)?.step_name(claim.position.step);
        let attempt_id = store::open_attempt(tx, claim.id, &claim.position, step_name, self.worker()).await?;
        Ok(Claim {
            attempt_id: Some(attempt_id),
            ..claim
        })
    }

    /// Takes the lease on a runnable instance whose lease is free, expired, or held by another
    /// worker whose heartbeat stopped (`store::claim`). The attempt about to run is not
    /// recorded yet (`record_start`). Nothing is committed here: the caller commits, alone or
    /// with the steps that follow.
    pub(crate) async fn claim_in(&self, tx: &mut PgConnection, id: Uuid) -> Result<Option<Claim>, Error> {
        let settings = &self.inner.settings;
        let Some(claimed) = store::claim(tx, id, self.worker(), self.lease(None), settings.orphaned_after()).await?
        else {
            // Finished or not due yet: nothing to do (a job waits for the due time). Leased
            // to a worker that still looks alive (this one included): look again once it
            // could be claimed, since this job may be the one a lapse or a death handed over.
            let after = settings.orphaned_after() + Duration::from_secs(1);
            if let Some(look_again_at) = store::claimable_at(tx, id, self.worker(), after).await? {
                queue::enqueue(tx, id, Some(look_again_at)).await?;
            }
            tracing::debug!(instance = %id, "instance not claimable now");
            return Ok(None);
        };
        let definition = self.definition(&claimed.saga)?;
        let claim = Claim {
            id,
            saga: definition.name,
            position: claimed.position,
            input: claimed.input,
            attempt_id: None,
        };
        let Some(abandoned) = claimed.abandoned_attempt else {
            return Ok(Some(claim));
        };
        let step_name = definition.step_name(claim.position.step);
        (self.inner.metrics).attempt(claim.saga, step_name, claim.position.phase, AttemptOutcome::Abandoned);
        let event = self.decide_abandoned(tx, definition, &claim, abandoned).await?;
        let (after, action) = transition(definition.shape(), &claim.position, event, random_unit())?;
        let next = self
            .apply(
                tx,
                Move {
                    instance: id,
                    definition,
                    before: &claim.position,
                    after,
                    action,
                    driven: Some(&claim.input),
                    closed: None,
                    chained: Vec::new(),
                },
            )
            .await?;
        Ok(match next {
            Next::Continue(claim) => Some(claim),
            Next::Stop => None,
        })
    }

    /// Asks the step's check whether an abandoned attempt took effect, records the verdict on
    /// the attempt, and says what happened: the step is done, or it runs again.
    async fn decide_abandoned(
        &self,
        tx: &mut PgConnection,
        definition: &Definition,
        claim: &Claim,
        attempt_id: i64,
    ) -> Result<Event, Error> {
        let step = step_at(definition, &claim.position)?;
        let context = StepContext {
            instance_id: claim.id,
            saga: definition.name,
            step: step.name,
            attempt: claim.position.attempts,
            input: claim.input.clone(),
        };
        let check = match action_of(step, claim.position.phase) {
            Ok(action) => match action.took_effect(&context, tx).await {
                Ok(answer) => Check::from_answer(answer),
                Err(e) => {
                    tracing::warn!(instance = %claim.id, error = %e, "checking an abandoned attempt failed");
                    Check::Failed
                }
            },
            Err(_) => Check::CannotTell,
        };
        let verdict = recovery::verdict(check);
        store::decide_attempt(tx, attempt_id, verdict.outcome, verdict.note).await?;
        Ok(verdict.event)
    }
}
