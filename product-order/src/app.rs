//! Product-order's shared state and its router.

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use platform::auth::TokenVerifier;
use platform::broker::Publisher;
use platform::metrics::GaugeByKind;
use sqlx::PgPool;

use crate::catalog::word_stats::WordStats;
use crate::outbox::RelayWaker;
use crate::{cart, catalog, checkout, health, orders, reconcile, sagas};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub verifier: Arc<TokenVerifier>,
    pub saga: saga::Engine,
    /// Wakes the outbox relay after a transaction that wrote events.
    pub relay: RelayWaker,
    /// This instance runs saga workers (and samples the saga metrics).
    pub saga_workers: bool,
    /// Sends an event again when an operator asks.
    pub publisher: Publisher,
    /// How common the catalog's words are, for searches to choose how they run.
    pub word_stats: WordStats,
    /// What the last reconciliation check found, by kind (`reconciliation_mismatches`).
    pub mismatches: GaugeByKind,
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// The capabilities' routes.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(catalog::router())
        .merge(cart::router())
        .merge(checkout::router())
        .merge(orders::router())
        .merge(sagas::router())
        .merge(health::router())
        .merge(reconcile::router());
    platform::http::json_fallbacks(routes).with_state(state)
}
