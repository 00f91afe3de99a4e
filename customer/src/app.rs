//! Customer's shared state and its router.

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use platform::auth::TokenVerifier;
use platform::http::{IpRange, TrustsProxies};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use sqlx::PgPool;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::accounts::password::PasswordHasher;
use crate::config::Settings;
use crate::sessions::announce::Announcements;
use crate::sessions::signing::TokenSigner;
use crate::{accounts, dead_letters, health, orders, reconcile, second_factor, sessions};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    outcome: &'static str,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub settings: Arc<Settings>,
    pub signer: Arc<TokenSigner>,
    pub verifier: Arc<TokenVerifier>,
    pub hasher: PasswordHasher,
    pub logins: Family<OutcomeLabels, Counter>,
    /// Wakes the announcer of ended sessions after a commit that ended some.
    pub announcements: Announcements,
}

impl AppState {
    /// Counts a login attempt by outcome (`customer_logins_total`).
    pub fn login_outcome(&self, outcome: &'static str) {
        self.logins.get_or_create(&OutcomeLabels { outcome }).inc();
    }
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// Customer believes only web's `X-Forwarded-For` (`CUSTOMER_TRUSTED_PROXIES`).
impl TrustsProxies for AppState {
    fn trusted_proxies(&self) -> &[IpRange] {
        &self.settings.trusted_proxies
    }
}

/// Every route of the API, each with its description.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(accounts::router())
        .merge(sessions::router())
        .merge(second_factor::router())
        .merge(orders::router())
        .merge(dead_letters::router())
        .merge(health::router())
        .merge(reconcile::router())
}

pub fn router(state: AppState) -> Router {
    let (routes, _) = routes().split_for_parts();
    platform::http::json_fallbacks(routes).with_state(state)
}

/// The API's description, served at `/openapi.json` on the internal listener and kept in
/// `openapi/customer.json`.
pub fn openapi() -> OpenApi {
    platform::openapi::finish(
        routes().into_openapi(),
        "Shop customer",
        "Accounts, sessions (with a second factor), the shopper's order history, and for operators dead letters, health and reconciliation.",
    )
}
