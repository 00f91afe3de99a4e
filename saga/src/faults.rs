//! Fault injection for tests: stop this process's worker at a chosen point of a step, as if
//! its process died there (or stalled, until thawed), make a step fail until the fault is
//! cleared, or make hand-overs of new instances fail as a transient database error would.
//! Nothing is armed unless a test arms it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

use crate::definition::StepError;
use saga_core::Phase;

/// Where in a step the worker stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// The attempt is recorded as running (in a chain of transactional steps, in the chain's
    /// open transaction); the action has not begun.
    BeforeStep,
    /// The action's effects are made but not committed.
    MidStep,
    /// The step's outcome is recorded (committed, unless the next step shares its
    /// transaction); the next step has not begun.
    AfterStep,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Armed {
    step: &'static str,
    phase: Phase,
    point: FaultPoint,
}

/// A step made to fail, and how.
#[derive(Debug, Clone)]
struct Failing {
    step: &'static str,
    phase: Phase,
    error: StepError,
}

/// Points at which the worker freezes until thawed, and a signal that one was reached; steps
/// that fail until cleared.
#[derive(Debug, Default)]
pub struct FaultInjection {
    armed: Mutex<Option<Armed>>,
    reached: Notify,
    thawed: AtomicBool,
    thaw: Notify,
    failing: Mutex<Vec<Failing>>,
    lost_hand_overs: AtomicUsize,
}

impl FaultInjection {
    /// The next worker to reach `point` of `step` freezes there, alive (its heartbeats go
    /// on), until `thaw`; forever if nobody thaws it.
    pub fn freeze_at(&self, step: &'static str, phase: Phase, point: FaultPoint) {
        *self.armed.lock().expect("fault lock poisoned") = Some(Armed { step, phase, point });
    }

    /// Lets a frozen worker go on from where it froze, as a stalled process would.
    pub fn thaw(&self) {
        self.thawed.store(true, Ordering::SeqCst);
        self.thaw.notify_waiters();
    }

    /// Waits until a worker froze at the armed point.
    pub async fn frozen(&self) {
        self.reached.notified().await;
    }

    /// Every attempt of `step` in `phase` this process runs fails with `error` instead of
    /// running, until `clear` is called.
    pub fn fail(&self, step: &'static str, phase: Phase, error: StepError) {
        let mut failing = self.failing.lock().expect("fault lock poisoned");
        failing.retain(|f| (f.step, f.phase) != (step, phase));
        failing.push(Failing { step, phase, error });
    }

    /// The step runs normally again.
    pub fn clear(&self, step: &'static str, phase: Phase) {
        let mut failing = self.failing.lock().expect("fault lock poisoned");
        failing.retain(|f| (f.step, f.phase) != (step, phase));
    }

    /// The next `count` instances handed to this process's worker at their start are dropped
    /// by it, as when its driving task fails on a transient database error (a pool timeout, a
    /// broken connection) while the worker lives on.
    pub fn lose_hand_overs(&self, count: usize) {
        self.lost_hand_overs.store(count, Ordering::SeqCst);
    }

    /// Whether this hand-over is one a test asked to lose.
    pub(crate) fn hand_over_lost(&self) -> bool {
        self.lost_hand_overs
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1))
            .is_ok()
    }

    /// The error an attempt of `step` in `phase` is made to fail with, if one is armed.
    pub(crate) fn failure_of(&self, step: &'static str, phase: Phase) -> Option<StepError> {
        let failing = self.failing.lock().expect("fault lock poisoned");
        failing
            .iter()
            .find(|f| (f.step, f.phase) == (step, phase))
            .map(|f| f.error.clone())
    }

    pub(crate) async fn reach(&self, step: &'static str, phase: Phase, point: FaultPoint) {
        let hit = {
            let mut armed = self.armed.lock().expect("fault lock poisoned");
            let hit = armed.as_ref() == Some(&Armed { step, phase, point });
            if hit {
                *armed = None;
            }
            hit
        };
        if hit {
            tracing::warn!(step, ?point, "fault injection: this worker freezes here");
            let thawed = self.thaw.notified();
            self.reached.notify_one();
            if !self.thawed.load(Ordering::SeqCst) {
                thawed.await;
            }
        }
    }
}
