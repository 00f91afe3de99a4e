//! Product-order's error type, mapped to HTTP responses here and nowhere else.

use api::ErrorCode;
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
    /// `cart`: the currencies of the cart's lines, the cart's own first.
    #[error("cart holds {cart:?}, product costs {product}")]
    CurrencyMismatch { cart: Vec<String>, product: String },
    #[error("image larger than {max} bytes")]
    ImageTooLarge { max: usize },
    #[error("no cart owner")]
    NoCartOwner,
    #[error("the cart is empty")]
    EmptyCart,
    /// `others`: the lines (name, currency) priced in another currency than the cart's.
    #[error("cart in {currency} holds lines in other currencies: {others:?}")]
    MixedCurrencies {
        currency: String,
        others: Vec<(String, String)>,
    },
    #[error("the cart's total is now {total} {currency}, not the one reviewed")]
    PricesChanged { total: i64, currency: String },
    #[error("missing or malformed Idempotency-Key")]
    MissingIdempotencyKey,
    #[error("idempotency key reused with other details")]
    IdempotencyKeyReused,
    #[error("checkout {checkout_id} is placing this cart's order")]
    CheckoutInProgress { checkout_id: uuid::Uuid },
    #[error("an order cannot move from {from} to {to}")]
    StatusMoveRefused {
        from: contracts::OrderStatus,
        to: contracts::OrderStatus,
    },
    #[error("the order's checkout is {}", state.as_str())]
    CheckoutBeingUndone { state: saga::InstanceState },
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

/// An amount as messages give it: "12.90 EUR".
fn money(minor: i64, currency: &str) -> String {
    let (sign, abs) = (if minor < 0 { "-" } else { "" }, minor.unsigned_abs());
    format!("{sign}{}.{:02} {currency}", abs / 100, abs % 100)
}

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
                ApiError::new(
                    StatusCode::CONFLICT,
                    ErrorCode::SkuTaken,
                    "Another product has this SKU.",
                ),
                "sku",
                "Another product already has this SKU.".into(),
            ),
            ProductOrderError::ProductUnavailable { name } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ProductUnavailable,
                format!("{name} is no longer for sale."),
            ),
            ProductOrderError::InsufficientStock { name, available } => {
                let message = match available {
                    0 => format!("{name} is out of stock."),
                    n => format!("Only {n} of {name} left."),
                };
                with_field(
                    ApiError::new(StatusCode::CONFLICT, ErrorCode::InsufficientStock, message.clone()),
                    "quantity",
                    message,
                )
            }
            ProductOrderError::CurrencyMismatch { cart, product } => {
                let message = match cart.as_slice() {
                    [currency] => format!(
                        "Your cart is in {currency}; this product is priced in {product}. Check out or empty the cart first."
                    ),
                    _ => format!(
                        "Your cart already holds items in {} since a price changed currency; this product is \
                         priced in {product}. Remove the items marked in your cart first.",
                        cart.join(" and ")
                    ),
                };
                ApiError::new(StatusCode::CONFLICT, ErrorCode::CurrencyMismatch, message)
            }
            ProductOrderError::ImageTooLarge { max } => {
                let message = format!(
                    "An image may be at most {} MiB; this file is larger.",
                    max / (1024 * 1024)
                );
                with_field(
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::ImageTooLarge, message.clone()),
                    "image",
                    message,
                )
            }
            ProductOrderError::NoCartOwner => {
                ApiError::unauthorized("Log in, or send the guest cart token in the X-Cart-Token header.")
            }
            ProductOrderError::EmptyCart => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::EmptyCart,
                "Your cart is empty: add something before checking out.",
            ),
            ProductOrderError::MixedCurrencies { currency, others } => {
                let others: Vec<String> = others
                    .iter()
                    .map(|(name, currency)| format!("{name} is now priced in {currency}"))
                    .collect();
                ApiError::new(
                    StatusCode::CONFLICT,
                    ErrorCode::MixedCurrencies,
                    format!(
                        "One order takes one currency: your cart is in {currency}, but {}. Remove those items \
                         to check out.",
                        others.join(", ")
                    ),
                )
            }
            ProductOrderError::PricesChanged { total, currency } => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::PricesChanged,
                format!(
                    "Prices changed since you reviewed your cart: the total is now {}. Review the cart and check \
                     out again.",
                    money(total, &currency)
                ),
            ),
            ProductOrderError::MissingIdempotencyKey => ApiError::bad_request(
                "Send an Idempotency-Key header (1 to 255 visible characters, e.g. a UUID) so a repeated \
                 request cannot place a second order.",
            ),
            ProductOrderError::IdempotencyKeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::IdempotencyKeyReused,
                "This Idempotency-Key was used for a checkout with other details; use a new key.",
            ),
            ProductOrderError::CheckoutInProgress { checkout_id } => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::CheckoutInProgress,
                format!(
                    "This cart's order is being placed by checkout {checkout_id}, which has not finished; \
                     wait for it (or change the cart) before checking out again."
                ),
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
                ApiError::new(StatusCode::CONFLICT, ErrorCode::StatusMoveRefused, message)
            }
            ProductOrderError::CheckoutBeingUndone { state } => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::CheckoutBeingUndone,
                format!(
                    "This order's checkout is {} (being undone): the order can only be cancelled now.",
                    state.as_str()
                ),
            ),
            ProductOrderError::Unavailable(cause) => ApiError::unavailable(cause),
            ProductOrderError::Saga(e) => match e {
                saga::Error::NotFound => ApiError::not_found(),
                saga::Error::Refused(message) => {
                    ApiError::new(StatusCode::CONFLICT, ErrorCode::SagaActionRefused, message)
                }
                saga::Error::Database(e) => ApiError::database(e),
                saga::Error::Stopping => {
                    ApiError::unavailable("This instance is stopping; send the same request again.")
                }
                other => ApiError::internal(other),
            },
            ProductOrderError::Api(e) => e,
            ProductOrderError::Auth(e) => e.into(),
            ProductOrderError::Database(e) => ApiError::database(e),
            ProductOrderError::Internal(e) => ApiError::internal(format!("{e:#}")),
            ProductOrderError::RepairRefused(why) => ApiError::new(StatusCode::CONFLICT, ErrorCode::RepairRefused, why),
        }
    }
}

impl IntoResponse for ProductOrderError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
