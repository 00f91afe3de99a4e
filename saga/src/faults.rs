//! Fault injection for tests: stop this process's worker at a chosen point of a step, as if
//! its process died there. Nothing is armed unless a test arms it.

use std::sync::Mutex;

use tokio::sync::Notify;

use crate::machine::Phase;

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

/// Points at which the worker freezes for good, and a signal that one was reached.
#[derive(Debug, Default)]
pub struct FaultInjection {
    armed: Mutex<Option<Armed>>,
    reached: Notify,
}

impl FaultInjection {
    /// The next worker to reach `point` of `step` freezes there forever.
    pub fn freeze_at(&self, step: &'static str, phase: Phase, point: FaultPoint) {
        *self.armed.lock().expect("fault lock poisoned") = Some(Armed { step, phase, point });
    }

    /// Waits until a worker froze at the armed point.
    pub async fn frozen(&self) {
        self.reached.notified().await;
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
            self.reached.notify_one();
            std::future::pending::<()>().await;
        }
    }
}
