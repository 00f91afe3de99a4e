//! Events on the `shop.events` exchange. Each is published as a persistent JSON message whose
//! `message_id` is the event id and whose `type` property is the routing key; the schema
//! version travels in the `schema_version` header. Fields may be added, never renamed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::OrderStatus;

/// Version of the event bodies below.
pub const SCHEMA_VERSION: u32 = 1;

pub const ORDER_PLACED: &str = "order.placed";
pub const ORDER_STATUS_CHANGED: &str = "order.status_changed";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contact {
    pub name: String,
    pub email: String,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    pub line1: String,
    #[serde(default)]
    pub line2: String,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 code.
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderLine {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    /// Minor units of `currency`.
    pub unit_price: i64,
    pub quantity: i32,
}

/// An order was placed (the checkout saga's place-order step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub order_id: Uuid,
    pub customer_id: Uuid,
    pub lines: Vec<OrderLine>,
    pub total: i64,
    pub currency: String,
    pub contact: Contact,
    pub delivery: Delivery,
    pub status: OrderStatus,
    /// Per-order sequence: 1 for the placement, +1 for each status change.
    pub version: i64,
}

/// An order moved to another status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStatusChanged {
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub order_id: Uuid,
    pub customer_id: Uuid,
    pub status: OrderStatus,
    pub previous_status: OrderStatus,
    pub version: i64,
    pub reason: Option<String>,
}
