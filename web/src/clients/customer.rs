//! The customer service: registration, sessions, the shopper's order history, and for
//! operators, dead letters and health figures.

mod dead_letters;
mod health;
mod orders;
mod reconciliation;
mod second_factor;

use std::collections::BTreeMap;
use std::net::IpAddr;

use api::ErrorCode;
use platform::http::WithRequestId;
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error_detail;
pub use dead_letters::{
    DeadLetter, DeadLetterDetail, DeadLetterPage, DiscardReport, Discarded, LetterAction, LetterCount, LetterState,
    ReplayReport, Replayed, Selection,
};
pub use health::{CustomerHealth, DeadLetterFigures, EventFigures};
pub use orders::{Order, OrderPage, OrderSummary, StatusAt};
pub use second_factor::{Challenge, Enrolled, Enrolment, Requirement, SecondFactorStatus, SignIn};

/// Calls customer at its base URL; cheap to clone.
#[derive(Clone)]
pub struct CustomerClient {
    base_url: String,
    http: reqwest::Client,
}

/// A newly registered account.
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub name: String,
}

/// What a login or a refresh hands out.
#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    /// Seconds the access token lives.
    pub expires_in: u64,
    pub refresh_token: String,
    /// Seconds the refresh token lives.
    pub refresh_expires_in: u64,
}

/// Why a call to customer did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CustomerCallError {
    /// Input refused, message per field (422, and 409 for a taken email).
    #[error("invalid input: {0:?}")]
    Fields(BTreeMap<String, String>),
    #[error("email or password is incorrect")]
    InvalidCredentials,
    #[error("too many attempts, retry in {retry_after}s")]
    RateLimited { retry_after: u64 },
    /// The refresh token (or, on a call made as the shopper, the access token) is unknown,
    /// expired or revoked.
    #[error("the session has ended")]
    SessionEnded,
    /// Signed in, but not allowed (403: an operator route called as a shopper).
    #[error("not allowed")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// An action refused (409), with why.
    #[error("refused: {0}")]
    Refused(String),
    /// Customer could not be reached or failed on its side.
    #[error("customer unavailable: {0}")]
    Unavailable(String),
    /// An answer this client does not expect.
    #[error("unexpected answer from customer: {0}")]
    Unexpected(String),
}

type Result<T> = std::result::Result<T, CustomerCallError>;

#[derive(Serialize)]
struct Credentials<'a> {
    email: &'a str,
    password: &'a str,
}

#[derive(Serialize)]
struct Registration<'a> {
    email: &'a str,
    password: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct PasswordChange<'a> {
    current_password: &'a str,
    new_password: &'a str,
}

#[derive(Serialize)]
struct RefreshToken<'a> {
    refresh_token: &'a str,
}

/// A 429 from customer, with how long it asks to wait.
fn rate_limited(response: &reqwest::Response) -> CustomerCallError {
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(60);
    CustomerCallError::RateLimited { retry_after }
}

impl CustomerClient {
    pub fn new(base_url: &str, http: reqwest::Client) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// Creates a shopper account for the shopper at `shopper` (customer limits registrations
    /// per address).
    pub async fn register(&self, email: &str, password: &str, name: &str, shopper: IpAddr) -> Result<Account> {
        let response = self
            .post(
                "/api/auth/register",
                &Registration { email, password, name },
                Some(shopper),
            )
            .await?;
        match response.status() {
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT => {
                let mut detail = error_detail(response).await;
                if detail.code == Some(ErrorCode::EmailTaken) && !detail.fields.contains_key("email") {
                    detail.fields.insert("email".into(), detail.message);
                }
                Err(CustomerCallError::Fields(detail.fields))
            }
            StatusCode::TOO_MANY_REQUESTS => Err(rate_limited(&response)),
            _ => json(response).await,
        }
    }

    /// Logs in on behalf of the shopper at `shopper`, whose address customer rate-limits by.
    pub async fn login(&self, email: &str, password: &str, shopper: IpAddr) -> Result<SignIn> {
        let response = self
            .post("/api/auth/login", &Credentials { email, password }, Some(shopper))
            .await?;
        match response.status() {
            // Customer refuses credentials no account can have (422: text with a NUL) too.
            StatusCode::UNAUTHORIZED | StatusCode::UNPROCESSABLE_ENTITY => Err(CustomerCallError::InvalidCredentials),
            StatusCode::TOO_MANY_REQUESTS => Err(rate_limited(&response)),
            _ => json(response).await,
        }
    }

    /// Trades a refresh token for new tokens (the old one is spent).
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens> {
        let response = self
            .post("/api/auth/refresh", &RefreshToken { refresh_token }, None)
            .await?;
        match response.status() {
            StatusCode::UNAUTHORIZED => Err(CustomerCallError::SessionEnded),
            _ => json(response).await,
        }
    }

    /// Ends the session the refresh token belongs to.
    pub async fn logout(&self, refresh_token: &str) -> Result<()> {
        let response = self
            .post("/api/auth/logout", &RefreshToken { refresh_token }, None)
            .await?;
        match response.status() {
            status if status.is_success() => Ok(()),
            _ => Err(unexpected(response).await),
        }
    }

    /// Ends every session of the shopper whose access token is `token`.
    pub async fn logout_everywhere(&self, token: &str) -> Result<()> {
        let response = self.post_as("/api/auth/logout-everywhere", token, &()).await?;
        match response.status() {
            status if status.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => Err(CustomerCallError::SessionEnded),
            _ => Err(unexpected(response).await),
        }
    }

    /// Changes the password of the shopper whose access token is `token`, on behalf of the
    /// shopper at `shopper` (wrong current passwords count as failed logins from there). Every
    /// session of the account ends; the tokens of the new one come back.
    pub async fn change_password(&self, token: &str, current: &str, new: &str, shopper: IpAddr) -> Result<Tokens> {
        let body = PasswordChange {
            current_password: current,
            new_password: new,
        };
        let response = self
            .send_post("/api/me/password", &body, Some(token), Some(shopper))
            .await?;
        answer(response).await
    }

    /// A GET of `path` on behalf of the shopper whose access token is `token`.
    fn get(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(token)
            .with_request_id()
    }

    async fn send(&self, path: &str, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        request
            .send()
            .await
            .map_err(|e| CustomerCallError::Unavailable(format!("GET {path}: {}", e.without_url())))
    }

    /// A POST of `body` to `path` on behalf of the user whose access token is `token`.
    async fn post_as(&self, path: &str, token: &str, body: &impl Serialize) -> Result<reqwest::Response> {
        self.send_post(path, body, Some(token), None).await
    }

    async fn post(&self, path: &str, body: &impl Serialize, shopper: Option<IpAddr>) -> Result<reqwest::Response> {
        self.send_post(path, body, None, shopper).await
    }

    /// A POST of `body` to `path`, as the user whose access token is `token` when there is
    /// one, for the shopper at `shopper` (whose address customer's limits count by).
    async fn send_post(
        &self,
        path: &str,
        body: &impl Serialize,
        token: Option<&str>,
        shopper: Option<IpAddr>,
    ) -> Result<reqwest::Response> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .json(body)
            .with_request_id();
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(ip) = shopper {
            request = request.header("x-forwarded-for", ip.to_string());
        }
        request
            .send()
            .await
            .map_err(|e| CustomerCallError::Unavailable(format!("POST {path}: {}", e.without_url())))
    }
}

/// The body of a 2xx answer; anything else is an error.
async fn json<T: DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    if !response.status().is_success() {
        return Err(unexpected(response).await);
    }
    let url = response.url().path().to_owned();
    response
        .json()
        .await
        .map_err(|e| CustomerCallError::Unexpected(format!("{url}: {}", e.without_url())))
}

/// The body of a 2xx answer to a call made as a signed-in user or an operator, or with a
/// login's challenge; refusals as their errors.
async fn answer<T: DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    match response.status() {
        StatusCode::UNAUTHORIZED => Err(CustomerCallError::SessionEnded),
        StatusCode::TOO_MANY_REQUESTS => Err(rate_limited(&response)),
        StatusCode::FORBIDDEN => Err(CustomerCallError::Forbidden),
        StatusCode::NOT_FOUND => Err(CustomerCallError::NotFound),
        StatusCode::UNPROCESSABLE_ENTITY => Err(CustomerCallError::Fields(error_detail(response).await.fields)),
        StatusCode::CONFLICT => Err(CustomerCallError::Refused(error_detail(response).await.message)),
        _ => json(response).await,
    }
}

async fn unexpected(response: reqwest::Response) -> CustomerCallError {
    let status = response.status();
    let path = response.url().path().to_owned();
    let detail = error_detail(response).await;
    let message = format!("{path} answered {status}: {}", detail.message);
    if status.is_server_error() {
        CustomerCallError::Unavailable(message)
    } else {
        CustomerCallError::Unexpected(message)
    }
}
