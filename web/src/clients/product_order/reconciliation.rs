//! Product-order's reconciliation, for operators: its own check, the digest of its orders,
//! and the repairs it makes.

use api::sagas::ReasonBody;
use chrono::{DateTime, Utc};
use contracts::reconciliation::{OrderDigest, Reconciliation, Repair, RepairRecord};
use reqwest::Method;
use serde::Serialize;
use uuid::Uuid;

use super::{Caller, ProductOrderClient, Result, answer, send};

#[derive(Serialize)]
struct DigestQuery {
    updated_since: DateTime<Utc>,
    settled_seconds: u32,
    limit: u32,
}

impl ProductOrderClient {
    /// Product-order's check of its own invariants, run now, with the latest repairs.
    pub async fn reconciliation(&self, token: &str) -> Result<Reconciliation> {
        let request = self.request(Method::GET, "/api/ops/reconciliation", Caller::Bearer(token));
        answer(send(request).await?).await
    }

    /// The orders changed since `updated_since` but not in the last `settled_seconds`, newest
    /// change first, at most `limit`.
    pub async fn order_digest(
        &self,
        token: &str,
        updated_since: DateTime<Utc>,
        settled_seconds: u32,
        limit: u32,
    ) -> Result<OrderDigest> {
        let request = self
            .request(Method::GET, "/api/ops/orders/digest", Caller::Bearer(token))
            .query(&DigestQuery {
                updated_since,
                settled_seconds,
                limit,
            });
        answer(send(request).await?).await
    }

    /// Makes `repair` on the order (republish) or the checkout (release) `id`, saying why;
    /// refused (409) when it does not apply, with why, or (422) without a reason.
    pub async fn repair(&self, token: &str, repair: Repair, id: Uuid, reason: &str) -> Result<RepairRecord> {
        let path = match repair {
            Repair::Republish => format!("/api/ops/orders/{id}/republish"),
            Repair::Release => format!("/api/ops/reservations/{id}/release"),
        };
        let request = self
            .request(Method::POST, &path, Caller::Bearer(token))
            .json(&ReasonBody {
                reason: reason.trim().to_owned(),
            });
        answer(send(request).await?).await
    }
}
