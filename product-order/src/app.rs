//! Product-order's shared state and its router.

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use platform::auth::TokenVerifier;
use platform::broker::Publisher;
use platform::metrics::GaugeByKind;
use sqlx::PgPool;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

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

/// Every route of the API, each with its description.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(catalog::router())
        .merge(cart::router())
        .merge(checkout::router())
        .merge(orders::router())
        .merge(sagas::router())
        .merge(health::router())
        .merge(reconcile::router())
}

pub fn router(state: AppState) -> Router {
    let (routes, _) = routes().split_for_parts();
    platform::http::json_fallbacks(routes).with_state(state)
}

/// The API's description, served at `/openapi.json` on the internal listener and kept in
/// `openapi/product-order.json`.
pub fn openapi() -> OpenApi {
    platform::openapi::finish(
        routes().into_openapi(),
        "Shop product-order",
        "The catalog, carts (a shopper's, or a guest's by its token), checkout as a saga, orders, and for operators the saga console, health, reconciliation and repairs.",
    )
}
