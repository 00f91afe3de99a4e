//! The statuses of an order and the only moves allowed between them.

use serde::{Deserialize, Serialize};

/// placed -> confirmed -> shipped -> delivered, and cancelled from placed or confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Placed,
    Confirmed,
    Shipped,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 5] = [
        Self::Placed,
        Self::Confirmed,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Confirmed => "confirmed",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
        }
    }

    /// The statuses this one may move to.
    pub fn next(self) -> &'static [OrderStatus] {
        match self {
            Self::Placed => &[Self::Confirmed, Self::Cancelled],
            Self::Confirmed => &[Self::Shipped, Self::Cancelled],
            Self::Shipped => &[Self::Delivered],
            Self::Delivered | Self::Cancelled => &[],
        }
    }

    /// Whether moving from this status to `to` is allowed.
    pub fn can_move_to(self, to: OrderStatus) -> bool {
        self.next().contains(&to)
    }

    /// No move leaves this status.
    pub fn is_final(self) -> bool {
        self.next().is_empty()
    }

    /// A shopper may still cancel.
    pub fn is_cancellable(self) -> bool {
        self.can_move_to(Self::Cancelled)
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for OrderStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                format!("unknown order status {s:?}; one of placed, confirmed, shipped, delivered, cancelled")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::{self, *};

    #[test]
    fn only_the_designed_moves_are_allowed() {
        let allowed = [
            (Placed, Confirmed),
            (Placed, Cancelled),
            (Confirmed, Shipped),
            (Confirmed, Cancelled),
            (Shipped, Delivered),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(
                    from.can_move_to(to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
    }

    #[test]
    fn delivered_and_cancelled_are_final_and_shipped_orders_cannot_be_cancelled() {
        assert!(Delivered.is_final() && Cancelled.is_final());
        assert!(!Shipped.is_cancellable() && Placed.is_cancellable() && Confirmed.is_cancellable());
    }

    #[test]
    fn statuses_round_trip_as_text() {
        for status in OrderStatus::ALL {
            assert_eq!(status.as_str().parse::<OrderStatus>().unwrap(), status);
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{}\"", status.as_str())
            );
        }
        assert!("lost".parse::<OrderStatus>().is_err());
    }
}
