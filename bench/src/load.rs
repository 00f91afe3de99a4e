//! The load generator: `concurrency` tasks each issuing one request after another until a
//! deadline, every latency recorded; percentiles are computed afterwards from all of them.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One kind of request the generator can issue.
pub trait Probe: Send + Sync + 'static {
    /// Issues one request and waits for its whole answer; Err describes a failure.
    fn once(&self) -> impl Future<Output = Result<(), String>> + Send;
}

/// Reads a whole HTTP answer; anything but 2xx is an error quoting the start of its body.
pub async fn whole_answer(sent: reqwest::Result<reqwest::Response>) -> Result<(), String> {
    let response = sent.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ));
    }
    Ok(())
}

/// What one measured case did.
#[derive(Debug, Clone)]
pub struct Stats {
    pub requests: usize,
    pub errors: usize,
    /// The first error seen, to show what went wrong.
    pub first_error: Option<String>,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Stats {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `probe` from `concurrency` tasks for `warmup` (not recorded), then for `duration`.
/// The rate counts every request completed in the measured phase over the time from its
/// start until the last task finished its last request.
pub async fn measure<P: Probe>(probe: Arc<P>, concurrency: usize, warmup: Duration, duration: Duration) -> Stats {
    if !warmup.is_zero() {
        run(probe.clone(), concurrency, warmup).await;
    }
    let started = Instant::now();
    let results = run(probe, concurrency, duration).await;
    let elapsed = started.elapsed();

    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for result in results {
        latencies.extend(result.latencies);
        errors += result.errors;
        if first_error.is_none() {
            first_error = result.first_error;
        }
    }
    Stats::from_latencies(latencies, errors, first_error, elapsed)
}

impl Stats {
    /// The stats of a case that completed one request per latency in `elapsed`.
    pub fn from_latencies(
        mut latencies: Vec<Duration>,
        errors: usize,
        first_error: Option<String>,
        elapsed: Duration,
    ) -> Self {
        latencies.sort_unstable();
        Stats {
            requests: latencies.len(),
            errors,
            first_error,
            elapsed,
            p50: percentile(&latencies, 0.50),
            p99: percentile(&latencies, 0.99),
            max: latencies.last().copied().unwrap_or_default(),
        }
    }
}

struct TaskResult {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

async fn run<P: Probe>(probe: Arc<P>, concurrency: usize, duration: Duration) -> Vec<TaskResult> {
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let probe = probe.clone();
            tokio::spawn(async move {
                let mut result = TaskResult {
                    latencies: Vec::with_capacity(16 * 1024),
                    errors: 0,
                    first_error: None,
                };
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let outcome = probe.once().await;
                    result.latencies.push(sent.elapsed());
                    if let Err(e) = outcome {
                        result.errors += 1;
                        result.first_error.get_or_insert(e);
                    }
                }
                result
            })
        })
        .collect();
    let mut results = Vec::with_capacity(concurrency);
    for task in tasks {
        results.push(task.await.expect("a load task does not panic"));
    }
    results
}

/// The nearest-rank percentile of sorted `latencies` (zero when there are none).
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&ms, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&ms[..1], 0.99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    struct Sleep;
    impl Probe for Sleep {
        async fn once(&self) -> Result<(), String> {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(())
        }
    }

    #[tokio::test]
    async fn counts_requests_of_every_task() {
        let stats = measure(Arc::new(Sleep), 4, Duration::ZERO, Duration::from_millis(200)).await;
        // 4 tasks, ~5 ms each, 200 ms: roughly 160 requests.
        assert!((80..=200).contains(&stats.requests), "{stats:?}");
        assert_eq!(stats.errors, 0);
        assert!(stats.p50 >= Duration::from_millis(5));
    }
}
