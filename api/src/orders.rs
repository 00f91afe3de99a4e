//! Orders at product-order: a status move's answer.

use contracts::OrderStatus;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An order's status after a move (a shopper's cancel, an operator's move).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderStatusBody {
    pub order_id: Uuid,
    pub status: OrderStatus,
    pub version: i64,
}
