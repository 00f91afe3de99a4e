//! Customer's copies of orders, for the reconciliation web makes.

use contracts::reconciliation::OrderDigest;
use uuid::Uuid;

use super::{CustomerClient, Result};

impl CustomerClient {
    /// Customer's status and version of each of `order_ids` it has a copy of (operators only).
    pub async fn order_digest(&self, token: &str, order_ids: &[Uuid]) -> Result<OrderDigest> {
        let path = "/api/ops/orders/digest";
        let ids: Vec<String> = order_ids.iter().map(Uuid::to_string).collect();
        let request = self.get(path, token).query(&[("ids", ids.join(","))]);
        super::answer(self.send(path, request).await?).await
    }
}
