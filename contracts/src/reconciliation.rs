//! Reconciliation on the wire: what product-order finds when it checks its own invariants,
//! the order digests both services hand out for the cross-service comparison (which web
//! makes, with the operator's token), and the repairs product-order records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::OrderStatus;

/// What kind of disagreement a mismatch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MismatchKind {
    /// Stock is held for a checkout whose saga has ended or does not exist.
    ReservationWithoutLiveSaga,
    /// A completed saga without an order, or a failed one whose order stands.
    SagaAndOrderDisagree,
    /// A product's stock is not its initial stock plus operator changes less what
    /// reservations hold.
    StockDrift,
    /// An event left unpublished for longer than the relay ever takes.
    EventNotPublished,
    /// Customer has no copy of an order product-order changed a while ago.
    OrderMissingAtCustomer,
    /// Customer's copy is at an older version than product-order's.
    CustomerBehind,
    /// Customer's copy is at product-order's version or newer with another status: no event
    /// can explain that.
    CustomerDiffers,
}

impl MismatchKind {
    pub const ALL: [MismatchKind; 7] = [
        Self::ReservationWithoutLiveSaga,
        Self::SagaAndOrderDisagree,
        Self::StockDrift,
        Self::EventNotPublished,
        Self::OrderMissingAtCustomer,
        Self::CustomerBehind,
        Self::CustomerDiffers,
    ];
    /// The kinds product-order finds on its own.
    pub const OWN: [MismatchKind; 4] = [
        Self::ReservationWithoutLiveSaga,
        Self::SagaAndOrderDisagree,
        Self::StockDrift,
        Self::EventNotPublished,
    ];
    /// The kinds of the comparison between the services' digests.
    pub const ACROSS: [MismatchKind; 3] = [
        Self::OrderMissingAtCustomer,
        Self::CustomerBehind,
        Self::CustomerDiffers,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReservationWithoutLiveSaga => "reservation_without_live_saga",
            Self::SagaAndOrderDisagree => "saga_and_order_disagree",
            Self::StockDrift => "stock_drift",
            Self::EventNotPublished => "event_not_published",
            Self::OrderMissingAtCustomer => "order_missing_at_customer",
            Self::CustomerBehind => "customer_behind",
            Self::CustomerDiffers => "customer_differs",
        }
    }

    /// The kind in words, for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::ReservationWithoutLiveSaga => "Reservation without a live saga",
            Self::SagaAndOrderDisagree => "Saga and order disagree",
            Self::StockDrift => "Stock differs from its record",
            Self::EventNotPublished => "Event not published",
            Self::OrderMissingAtCustomer => "Order missing at customer",
            Self::CustomerBehind => "Customer behind product-order",
            Self::CustomerDiffers => "Customer differs from product-order",
        }
    }
}

/// A repair product-order offers, each recorded with who, when, why and what it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Repair {
    /// Send the order's events again, with their own ids, in version order
    /// (`POST /api/ops/orders/{order_id}/republish`).
    Republish,
    /// Give back the stock a checkout whose saga ended still holds
    /// (`POST /api/ops/reservations/{checkout_id}/release`).
    Release,
}

impl Repair {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Republish => "republish",
            Self::Release => "release",
        }
    }
}

impl std::str::FromStr for Repair {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        [Self::Republish, Self::Release]
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| format!("unknown repair {text:?}"))
    }
}

/// One disagreement, with its cause in words and the repair that applies, if one does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Mismatch {
    pub kind: MismatchKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<Uuid>,
    pub cause: String,
    #[serde(default)]
    pub repair: Option<Repair>,
}

/// `GET /api/ops/reconciliation`: product-order's own check, as it ran just now, and the
/// latest repairs.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reconciliation {
    pub checked_at: DateTime<Utc>,
    pub mismatches: Vec<Mismatch>,
    /// The latest repairs, newest first.
    pub repairs: Vec<RepairRecord>,
}

/// A repair as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RepairRecord {
    pub repair: Repair,
    pub operator: String,
    pub reason: String,
    pub order_id: Option<Uuid>,
    pub checkout_id: Option<Uuid>,
    /// What it changed.
    pub details: Value,
    pub at: DateTime<Utc>,
}

/// How many of `mismatches` are of each of `kinds` (every kind named, the ones found none at 0),
/// for the gauges.
pub fn counts(kinds: &[MismatchKind], mismatches: &[Mismatch]) -> Vec<(&'static str, i64)> {
    kinds
        .iter()
        .map(|kind| {
            let n = mismatches.iter().filter(|m| m.kind == *kind).count();
            (kind.as_str(), i64::try_from(n).unwrap_or(i64::MAX))
        })
        .collect()
}

/// An order's status and version (its per-order event sequence), as one service holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DigestItem {
    pub order_id: Uuid,
    pub status: OrderStatus,
    pub version: i64,
    /// When the service's copy last changed (product-order's time in both services: customer
    /// keeps when the change happened).
    pub updated_at: DateTime<Utc>,
}

/// `GET /api/ops/orders/digest` of either service.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderDigest {
    pub items: Vec<DigestItem>,
}

/// Where customer's copies disagree with product-order's orders: `product_order` are
/// product-order's orders whose last change is old enough that its events should have been
/// applied, `customer` customer's copies of (some of) them.
pub fn compare(product_order: &[DigestItem], customer: &[DigestItem]) -> Vec<Mismatch> {
    product_order
        .iter()
        .filter_map(|order| {
            let copy = customer.iter().find(|c| c.order_id == order.order_id);
            let (kind, cause, repair) = match copy {
                None => (
                    MismatchKind::OrderMissingAtCustomer,
                    format!(
                        "Customer has no copy of this order; product-order has it {} at version {}.",
                        order.status, order.version
                    ),
                    Some(Repair::Republish),
                ),
                Some(copy) if copy.version < order.version => (
                    MismatchKind::CustomerBehind,
                    format!(
                        "Customer holds version {} ({}); product-order is at version {} ({}).",
                        copy.version, copy.status, order.version, order.status
                    ),
                    Some(Repair::Republish),
                ),
                Some(copy) if copy.version == order.version && copy.status == order.status => return None,
                Some(copy) => (
                    MismatchKind::CustomerDiffers,
                    format!(
                        "Customer holds version {} ({}); product-order is at version {} ({}): no event says so.",
                        copy.version, copy.status, order.version, order.status
                    ),
                    None,
                ),
            };
            Some(Mismatch {
                kind,
                order_id: Some(order.order_id),
                checkout_id: None,
                product_id: None,
                cause,
                repair,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(order_id: Uuid, status: OrderStatus, version: i64) -> DigestItem {
        DigestItem {
            order_id,
            status,
            version,
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn copies_missing_behind_or_different_are_mismatches_and_equal_ones_are_not() {
        let (same, missing, behind, differs) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let product_order = [
            item(same, OrderStatus::Confirmed, 2),
            item(missing, OrderStatus::Placed, 1),
            item(behind, OrderStatus::Shipped, 3),
            item(differs, OrderStatus::Confirmed, 2),
        ];
        let customer = [
            item(same, OrderStatus::Confirmed, 2),
            item(behind, OrderStatus::Confirmed, 2),
            item(differs, OrderStatus::Cancelled, 2),
        ];
        let found: Vec<(Option<Uuid>, MismatchKind, Option<Repair>)> = compare(&product_order, &customer)
            .into_iter()
            .map(|m| (m.order_id, m.kind, m.repair))
            .collect();
        assert_eq!(
            found,
            [
                (
                    Some(missing),
                    MismatchKind::OrderMissingAtCustomer,
                    Some(Repair::Republish)
                ),
                (Some(behind), MismatchKind::CustomerBehind, Some(Repair::Republish)),
                (Some(differs), MismatchKind::CustomerDiffers, None),
            ]
        );
    }

    #[test]
    fn kinds_are_named_on_the_wire_as_in_metrics() {
        for kind in MismatchKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(
            MismatchKind::OWN.len() + MismatchKind::ACROSS.len(),
            MismatchKind::ALL.len()
        );
    }
}
