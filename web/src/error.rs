//! Web's error type, mapped to pages here and nowhere else.
//!
//! A handler (or middleware) returns a [`WebError`]; its response carries the error in its
//! extensions, and [`error_pages`], which knows who is signed in and whether htmx asked,
//! turns it into a friendly page or partial.

use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::clients::customer::CustomerCallError;
use crate::clients::product_order::ProductOrderCallError;
use crate::render::{self, PageContext};

/// What can go wrong while answering a page.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    /// The CSRF check failed (the reason is logged, never shown).
    #[error("form refused: {0}")]
    FormExpired(&'static str),
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A request axum could not read (an address, query or form of the wrong shape), answered
    /// with this status and no page of its own.
    #[error("request refused: {0}")]
    Unreadable(StatusCode),
    /// The page needs a signed-in user; `next` is where to come back after login.
    #[error("login required")]
    LoginRequired { next: String },
    /// Signed in, but not allowed here (a shopper on an operator page).
    #[error("forbidden")]
    Forbidden,
    /// A service could not be reached or failed.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<CustomerCallError> for WebError {
    fn from(e: CustomerCallError) -> Self {
        match e {
            CustomerCallError::Unavailable(cause) => WebError::Unavailable(cause),
            CustomerCallError::Forbidden => WebError::Forbidden,
            CustomerCallError::NotFound => WebError::NotFound,
            CustomerCallError::Refused(message) => WebError::BadRequest(message),
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<ProductOrderCallError> for WebError {
    fn from(e: ProductOrderCallError) -> Self {
        match e {
            ProductOrderCallError::NotFound => WebError::NotFound,
            ProductOrderCallError::Forbidden => WebError::Forbidden,
            ProductOrderCallError::Refused(refusal) => WebError::BadRequest(refusal.message),
            ProductOrderCallError::Unavailable(cause) => WebError::Unavailable(cause),
            other @ ProductOrderCallError::Unexpected(_) => WebError::Internal(other.to_string()),
        }
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Internal(format!("rendering a template: {e}"))
    }
}

/// What a visitor is told.
struct Public {
    status: StatusCode,
    title: &'static str,
    message: String,
}

impl WebError {
    fn public(&self) -> Public {
        let (status, title, message) = match self {
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is no page at this address.".into(),
            ),
            WebError::FormExpired(_) => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form has expired. Reload the page and try again.".into(),
            ),
            WebError::BadRequest(message) => (StatusCode::BAD_REQUEST, "Bad request", message.clone()),
            WebError::Unreadable(status) => (
                *status,
                "Bad request",
                match *status {
                    StatusCode::PAYLOAD_TOO_LARGE => "What was sent is too large.".to_owned(),
                    StatusCode::METHOD_NOT_ALLOWED => "This address cannot be used this way.".to_owned(),
                    _ => "This address has something we cannot read. Check the link, or go back and try again."
                        .to_owned(),
                },
            ),
            WebError::LoginRequired { .. } => (
                StatusCode::UNAUTHORIZED,
                "Log in first",
                "Log in to see this page.".into(),
            ),
            WebError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                "This page is for the shop's operators.".into(),
            ),
            WebError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "The shop is having trouble right now. Please try again in a moment.".into(),
            ),
            WebError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Something went wrong on our side. Please try again in a moment.".into(),
            ),
        };
        Public { status, title, message }
    }

    fn log(&self) {
        match self {
            WebError::Internal(cause) => tracing::error!(error = %cause, "internal error"),
            WebError::Unavailable(cause) => tracing::warn!(error = %cause, "dependency unavailable"),
            WebError::FormExpired(reason) => tracing::info!(reason, "form refused by the CSRF check"),
            _ => {}
        }
    }

    /// The page (or htmx partial, or redirect) for this error.
    pub fn page(&self, ctx: &PageContext) -> Response {
        if let WebError::LoginRequired { next } = self {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("next", next)
                .finish();
            return render::see_other(ctx, &format!("/login?{query}"));
        }
        let public = self.public();
        let view = ErrorView {
            title: public.title,
            message: &public.message,
        };
        match view.render() {
            Ok(html) => render::page_html(ctx, public.status, public.title, html),
            Err(e) => {
                tracing::error!(error = %e, "rendering the error page failed");
                (public.status, public.message).into_response()
            }
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorView<'a> {
    title: &'a str,
    message: &'a str,
}

/// Logs the error and leaves it in the response for [`error_pages`] to render; the plain
/// text body is only seen if that middleware is missing.
impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        self.log();
        let public = self.public();
        let mut response = (public.status, public.message).into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Renders the [`WebError`] a response carries, keeping the cookies it sets.
pub async fn error_pages(request: Request, next: Next) -> Response {
    let ctx = PageContext::of(&request);
    let mut response = next.run(request).await;
    let error = match response.extensions_mut().remove::<WebError>() {
        Some(error) => error,
        // An extractor's rejection (plain text, or nothing, with a 4xx): shown as a page too.
        None if is_bare_refusal(&response) => WebError::Unreadable(response.status()),
        None => return response,
    };
    let mut page = error.page(&ctx);
    for cookie in response.headers().get_all(SET_COOKIE) {
        page.headers_mut().append(SET_COOKIE, cookie.clone());
    }
    page
}

/// A 4xx that is not a page: what axum answers when it cannot read a request.
fn is_bare_refusal(response: &Response) -> bool {
    let html = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    response.status().is_client_error() && !html
}

/// A failed call to a service, as the services' clients report it.
pub trait CallFailure: Into<WebError> {
    /// The service no longer accepts the session the call was made with.
    fn session_refused(&self) -> bool;
}

impl CallFailure for ProductOrderCallError {
    fn session_refused(&self) -> bool {
        matches!(self, ProductOrderCallError::Forbidden)
    }
}

impl CallFailure for CustomerCallError {
    fn session_refused(&self) -> bool {
        matches!(self, CustomerCallError::SessionEnded)
    }
}

/// The error page for a call made as the signed-in shopper that failed; a session the service
/// no longer accepts (it expired on the way) logs in again and comes back to `next`.
pub fn call_error(error: impl CallFailure, next: &str) -> WebError {
    if error.session_refused() {
        WebError::LoginRequired { next: next.to_owned() }
    } else {
        error.into()
    }
}

/// The fallback: every unknown address gets the 404 page.
pub async fn not_found() -> WebError {
    WebError::NotFound
}

/// A urlencoded form whose rejection is our error page.
pub struct AppForm<T>(pub T);

impl<S, T> FromRequest<S> for AppForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Form::<T>::from_request(req, state).await {
            Ok(Form(value)) => Ok(Self(value)),
            Err(FormRejection::FailedToDeserializeForm(e)) => Err(WebError::BadRequest(e.body_text())),
            Err(_) => Err(WebError::BadRequest(
                "Send the form from the page it belongs to.".into(),
            )),
        }
    }
}

/// An id from an address or a form; anything that is not one names no page.
pub fn parse_id(raw: &str) -> Result<uuid::Uuid, WebError> {
    uuid::Uuid::parse_str(raw.trim()).map_err(|_| WebError::NotFound)
}

/// A list's `cursor` parameter: none when empty, else the id to continue after.
pub fn parse_cursor(raw: &str) -> Result<Option<uuid::Uuid>, WebError> {
    match raw.trim() {
        "" => Ok(None),
        raw => parse_id(raw).map(Some),
    }
}
