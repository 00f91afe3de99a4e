//! Product-order's error type, mapped to HTTP responses here and nowhere else.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use platform::auth::AuthError;
use platform::{ApiError, FieldErrors};

#[derive(Debug, thiserror::Error)]
pub enum ProductOrderError {
    #[error("validation failed: {0:?}")]
    Validation(FieldErrors),
    #[error("not found")]
    NotFound,
    #[error("operator only")]
    Forbidden,
    #[error("SKU taken")]
    SkuTaken,
    #[error("{name} is not sold any more")]
    ProductUnavailable { name: String },
    #[error("only {available} of {name} left")]
    InsufficientStock { name: String, available: i32 },
    #[error("cart holds {cart}, product costs {product}")]
    CurrencyMismatch { cart: String, product: String },
    #[error("image larger than {max} bytes")]
    ImageTooLarge { max: usize },
    #[error("no cart owner")]
    NoCartOwner,
    #[error("the cart is empty")]
    EmptyCart,
    #[error("missing or malformed Idempotency-Key")]
    MissingIdempotencyKey,
    #[error("idempotency key reused with other details")]
    IdempotencyKeyReused,
    #[error("an order cannot move from {from} to {to}")]
    StatusMoveRefused {
        from: contracts::OrderStatus,
        to: contracts::OrderStatus,
    },
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Saga(#[from] saga::Error),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
    #[error("repair refused: {0}")]
    RepairRefused(String),
}

pub type Result<T, E = ProductOrderError> = std::result::Result<T, E>;

fn with_field(mut error: ApiError, field: &str, message: String) -> ApiError {
    error.fields.insert(field.to_owned(), message);
    error
}

impl From<ProductOrderError> for ApiError {
    fn from(error: ProductOrderError) -> Self {
        match error {
            ProductOrderError::Validation(fields) => ApiError::validation(fields),
            ProductOrderError::NotFound => ApiError::not_found(),
            ProductOrderError::Forbidden => ApiError::forbidden(),
            ProductOrderError::SkuTaken => with_field(
                ApiError::new(StatusCode::CONFLICT, "sku_taken", "Another product has this SKU."),
                "sku",
                "Another product already has this SKU.".into(),
            ),
            ProductOrderError::ProductUnavailable { name } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "product_unavailable",
                format!("{name} is no longer for sale."),
            ),
            ProductOrderError::InsufficientStock { name, available } => {
                let message = match available {
                    0 => format!("{name} is out of stock."),
                    n => format!("Only {n} of {name} left."),
                };
                with_field(
                    ApiError::new(StatusCode::CONFLICT, "insufficient_stock", message.clone()),
                    "quantity",
                    message,
                )
            }
            ProductOrderError::CurrencyMismatch { cart, product } => ApiError::new(
                StatusCode::CONFLICT,
                "currency_mismatch",
                format!(
                    "Your cart is in {cart}; this product is priced in {product}. Check out or empty the cart first."
                ),
            ),
            ProductOrderError::ImageTooLarge { max } => {
                let message = format!(
                    "An image may be at most {} MiB; this file is larger.",
                    max / (1024 * 1024)
                );
                with_field(
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "image_too_large", message.clone()),
                    "image",
                    message,
                )
            }
            ProductOrderError::NoCartOwner => {
                ApiError::unauthorized("Log in, or send the guest cart token in the X-Cart-Token header.")
            }
            ProductOrderError::EmptyCart => ApiError::new(
                StatusCode::CONFLICT,
                "empty_cart",
                "Your cart is empty: add something before checking out.",
            ),
            ProductOrderError::MissingIdempotencyKey => ApiError::bad_request(
                "Send an Idempotency-Key header (1 to 255 visible characters, e.g. a UUID) so a repeated \
                 request cannot place a second order.",
            ),
            ProductOrderError::IdempotencyKeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "This Idempotency-Key was used for a checkout with other details; use a new key.",
            ),
            ProductOrderError::StatusMoveRefused { from, to } => {
                let allowed: Vec<&str> = from.next().iter().map(|s| s.as_str()).collect();
                let message = if allowed.is_empty() {
                    format!("The order is {from}; its status can no longer change.")
                } else {
                    format!(
                        "The order is {from}; it can move to {} but not to {to}.",
                        allowed.join(" or ")
                    )
                };
                ApiError::new(StatusCode::CONFLICT, "status_move_refused", message)
            }
            ProductOrderError::Unavailable(cause) => ApiError::unavailable(cause),
            ProductOrderError::Saga(e) => match e {
                saga::Error::NotFound => ApiError::not_found(),
                saga::Error::Refused(message) => ApiError::new(StatusCode::CONFLICT, "saga_action_refused", message),
                saga::Error::Database(e) => ApiError::database(e),
                other => ApiError::internal(other),
            },
            ProductOrderError::Api(e) => e,
            ProductOrderError::Auth(e) => e.into(),
            ProductOrderError::Database(e) => ApiError::database(e),
            ProductOrderError::Internal(e) => ApiError::internal(format!("{e:#}")),
            ProductOrderError::RepairRefused(why) => ApiError::new(StatusCode::CONFLICT, "repair_refused", why),
        }
    }
}

impl IntoResponse for ProductOrderError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
