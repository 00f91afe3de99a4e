//! Product-order's figures for the operators' health page.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Caller, ProductOrderClient, Result, answer, send};

/// Why checkouts failed, and how many.
#[derive(Debug, Clone, Deserialize)]
pub struct FailureReason {
    pub reason: String,
    pub count: i64,
}

/// Checkouts started within the window, and how they stand.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutFigures {
    pub started: i64,
    pub per_minute: f64,
    pub completed: i64,
    pub failed: i64,
    pub stuck: i64,
    pub in_progress: i64,
    /// Failed (or stuck) among those that ended, 0 to 1; None when none ended.
    pub failed_share: Option<f64>,
    pub failure_reasons: Vec<FailureReason>,
}

/// Where stuck or idle sagas stand.
#[derive(Debug, Clone, Deserialize)]
pub struct StepCount {
    pub saga: String,
    pub step: String,
    pub phase: String,
    pub count: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SagaFigures {
    /// None where product-order runs no saga workers.
    pub queue_age_seconds: Option<f64>,
    pub stuck: i64,
    pub idle: i64,
    pub steps: Vec<StepCount>,
}

/// Events written and not published yet.
#[derive(Debug, Clone, Deserialize)]
pub struct OutboxFigures {
    pub unpublished: i64,
    pub oldest_age_seconds: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProductOrderHealth {
    pub window_minutes: i32,
    pub stuck_minutes: i32,
    pub checkouts: CheckoutFigures,
    pub sagas: SagaFigures,
    pub outbox: OutboxFigures,
}

#[derive(Serialize)]
struct HealthQuery {
    window_minutes: i32,
    stuck_minutes: i32,
}

impl ProductOrderClient {
    /// Product-order's health figures over the last `window_minutes`, sagas idle for
    /// `stuck_minutes` counted as idle (operators only).
    pub async fn ops_health(&self, token: &str, window_minutes: i32, stuck_minutes: i32) -> Result<ProductOrderHealth> {
        let request = self
            .request(Method::GET, "/api/ops/health", Caller::Bearer(token))
            .query(&HealthQuery {
                window_minutes,
                stuck_minutes,
            });
        answer(send(request).await?).await
    }
}
