//! Product-order's shared state and its router.

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use platform::auth::TokenVerifier;
use sqlx::PgPool;

use crate::{cart, catalog};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub verifier: Arc<TokenVerifier>,
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// The capabilities' routes (checkout and orders join here as they land).
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(catalog::router())
        .merge(cart::router())
        .with_state(state)
}
