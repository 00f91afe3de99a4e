//! The body of every error answer, `{"error": {"code", "message", "fields"}}`, and the codes
//! programs branch on.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Every error answer's body.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
    /// A message per invalid field (422), else empty.
    pub fields: BTreeMap<String, String>,
}

/// What went wrong, for programs to branch on (the message is for people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // Any service, from the HTTP stack.
    BadRequest,
    InvalidBody,
    ValidationFailed,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    Internal,
    Unavailable,
    // customer
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidChallenge,
    SecondFactorEnrolled,
    DeadLetterClosed,
    // product-order
    SkuTaken,
    ProductUnavailable,
    InsufficientStock,
    CurrencyMismatch,
    MixedCurrencies,
    ImageTooLarge,
    EmptyCart,
    PricesChanged,
    IdempotencyKeyReused,
    CheckoutInProgress,
    CheckoutBeingUndone,
    StatusMoveRefused,
    SagaActionRefused,
    RepairRefused,
}

/// The code as sent (serde writes a unit variant's name to a formatter).
impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.serialize(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_sent_as_its_name() {
        assert_eq!(ErrorCode::PricesChanged.to_string(), "prices_changed");
        assert_eq!(
            serde_json::to_value(ErrorCode::SagaActionRefused).unwrap(),
            "saga_action_refused"
        );
        assert_eq!(
            serde_json::from_value::<ErrorCode>("email_taken".into()).unwrap(),
            ErrorCode::EmailTaken
        );
    }
}
