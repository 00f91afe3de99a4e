//! Customer's error type, mapped to HTTP responses here and nowhere else.

use api::ErrorCode;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use platform::auth::AuthError;
use platform::{ApiError, FieldErrors};

#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    #[error("validation failed: {0:?}")]
    Validation(FieldErrors),
    #[error("email already registered")]
    EmailTaken,
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("too many failed logins")]
    RateLimited { retry_after: u64 },
    #[error("refresh token invalid")]
    InvalidRefreshToken,
    #[error("second-factor challenge unknown, expired or used up")]
    InvalidChallenge,
    #[error("a second factor is enrolled already")]
    SecondFactorEnrolled,
    #[error("not found")]
    NotFound,
    #[error("the dead letter is {} already", .0.as_str())]
    DeadLetterClosed(crate::dead_letters::store::LetterState),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = CustomerError> = std::result::Result<T, E>;

impl From<CustomerError> for ApiError {
    fn from(error: CustomerError) -> Self {
        match error {
            CustomerError::Validation(fields) => ApiError::validation(fields),
            CustomerError::EmailTaken => {
                let mut fields = FieldErrors::new();
                fields.add("email", "An account with this email already exists. Log in instead.");
                ApiError {
                    fields: fields.0,
                    ..ApiError::new(
                        StatusCode::CONFLICT,
                        ErrorCode::EmailTaken,
                        "This email is already registered.",
                    )
                }
            }
            // One message whether the email exists or not.
            CustomerError::InvalidCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidCredentials,
                "Email or password is incorrect.",
            ),
            CustomerError::RateLimited { retry_after } => ApiError::too_many_requests(retry_after),
            CustomerError::InvalidRefreshToken => ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidRefreshToken,
                "The session has ended. Log in again.",
            ),
            CustomerError::InvalidChallenge => ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidChallenge,
                "This sign-in has expired or saw too many wrong codes. Log in again.",
            ),
            CustomerError::SecondFactorEnrolled => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::SecondFactorEnrolled,
                "A second factor is enrolled already.",
            ),
            CustomerError::NotFound => ApiError::not_found(),
            CustomerError::DeadLetterClosed(state) => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::DeadLetterClosed,
                format!("This dead letter was {} already.", state.as_str()),
            ),
            CustomerError::Auth(e) => e.into(),
            CustomerError::Database(e) => ApiError::database(e),
            CustomerError::Internal(e) => ApiError::internal(format!("{e:#}")),
        }
    }
}

impl IntoResponse for CustomerError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
