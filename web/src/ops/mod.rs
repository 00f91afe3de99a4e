//! Operator pages under /ops: products and their stock, orders and their statuses (with the
//! products running low), checkout sagas and acting on them by hand, dead letters, and the
//! shop's health with reconciliation, and the operator's own second factor. Visitors are sent
//! to log in, shoppers get 403.

mod dead_letter_views;
mod dead_letters;
mod form;
mod health;
mod order_views;
mod orders;
mod products;
mod reconciliation;
mod saga_bulk;
mod saga_drawing;
mod saga_views;
mod sagas;
mod second_factor;
mod views;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Redirect;
use axum::routing::get;

use crate::app::AppState;
use crate::error::WebError;
use crate::session::{CurrentUser, Session};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ops", get(|| async { Redirect::to("/ops/products") }))
        .merge(products::router())
        .merge(orders::router())
        .merge(sagas::router())
        .merge(dead_letters::router())
        .merge(health::router())
        .merge(reconciliation::router())
        .merge(second_factor::router())
}

/// The signed-in operator of an /ops request, with the token to call the services as them.
#[derive(Debug, Clone)]
pub struct OperatorSession {
    pub user: CurrentUser,
    pub access_token: String,
}

impl<S: Send + Sync> FromRequestParts<S> for OperatorSession {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if !user.is_operator() {
            return Err(WebError::Forbidden);
        }
        let access_token = parts
            .extensions
            .get::<Session>()
            .and_then(|s| s.access_token.clone())
            .ok_or_else(|| WebError::Internal("a signed-in user without an access token".into()))?;
        Ok(Self { user, access_token })
    }
}
