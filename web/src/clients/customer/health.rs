//! Customer's figures for the operators' health page.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{CustomerClient, Result};

/// Dead letters waiting for an operator.
#[derive(Debug, Clone, Deserialize)]
pub struct DeadLetterFigures {
    pub open: i64,
    pub oldest_at: Option<DateTime<Utc>>,
}

/// Events applied within the window and how long after they happened (milliseconds).
#[derive(Debug, Clone, Deserialize)]
pub struct EventFigures {
    pub applied: i64,
    pub per_minute: f64,
    pub lag_p50_ms: Option<f64>,
    pub lag_p99_ms: Option<f64>,
    pub lag_max_ms: Option<f64>,
    pub lag_latest_ms: Option<f64>,
    pub last_applied_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CustomerHealth {
    pub window_minutes: i32,
    pub dead_letters: DeadLetterFigures,
    pub events: EventFigures,
}

impl CustomerClient {
    /// Customer's health figures over the last `window_minutes`.
    pub async fn ops_health(&self, token: &str, window_minutes: i32) -> Result<CustomerHealth> {
        let path = "/api/ops/health";
        let request = self.get(path, token).query(&[("window_minutes", window_minutes)]);
        super::answer(self.send(path, request).await?).await
    }
}
