//! How a step is retried: attempts, exponential backoff with jitter, and a timeout; and how
//! long a worker's lease on an instance runs.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Retry rules for one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Delay before the second attempt; doubled for each further one.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// An attempt running longer than this is abandoned and counts as a retryable failure.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Whether another attempt may follow attempt number `attempts` (1-based).
    pub fn allows_another(&self, attempts: u32) -> bool {
        attempts < self.max_attempts.max(1)
    }

    /// The delay after attempt number `attempts` failed: exponential, capped, with "full
    /// jitter" (a uniformly random share of it, from `jitter` in 0.0..=1.0) so retries of many
    /// instances spread out instead of arriving together.
    pub fn backoff(&self, attempts: u32, jitter: f64) -> Duration {
        let exponent = attempts.saturating_sub(1).min(30);
        let ceiling = self.initial_backoff.saturating_mul(1 << exponent).min(self.max_backoff);
        // Never less than half the ceiling, so a retry is never immediate.
        ceiling.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// How long a worker's lease on an instance runs: the timeout of the step it is about to run
/// (the longest timeout of any step, `longest`, while that step is not known yet) and `margin`
/// on top, so a live worker never loses its lease mid-attempt.
pub fn lease(step_timeout: Option<Duration>, longest: Option<Duration>, margin: Duration) -> Duration {
    step_timeout.or(longest).unwrap_or(RetryPolicy::default().timeout) + margin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_stop_at_the_maximum() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(policy.allows_another(1));
        assert!(policy.allows_another(2));
        assert!(!policy.allows_another(3));
        let once = RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        };
        assert!(!once.allows_another(1), "zero means one attempt, not infinitely many");
    }

    #[test]
    fn backoff_doubles_is_capped_and_jittered() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
        };
        assert_eq!(policy.backoff(1, 1.0), Duration::from_millis(100));
        assert_eq!(policy.backoff(2, 1.0), Duration::from_millis(200));
        assert_eq!(policy.backoff(3, 1.0), Duration::from_millis(400));
        assert_eq!(policy.backoff(9, 1.0), Duration::from_secs(1), "capped");
        assert_eq!(
            policy.backoff(2, 0.0),
            Duration::from_millis(100),
            "jitter keeps at least half"
        );
        assert_eq!(
            policy.backoff(200, 1.0),
            Duration::from_secs(1),
            "huge attempt counts do not overflow"
        );
    }

    #[test]
    fn a_lease_outlives_the_step_s_timeout_by_the_margin() {
        let margin = Duration::from_secs(10);
        let (step, longest) = (Duration::from_secs(2), Duration::from_secs(60));
        assert_eq!(lease(Some(step), Some(longest), margin), Duration::from_secs(12));
        assert_eq!(
            lease(None, Some(longest), margin),
            Duration::from_secs(70),
            "an unknown step may be the slowest"
        );
        assert_eq!(
            lease(None, None, margin),
            Duration::from_secs(40),
            "no steps at all: the default timeout"
        );
    }
}
