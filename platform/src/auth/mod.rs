//! Verification of access tokens: EdDSA only, issuer, audience and expiry checked, keys
//! taken from customer's published key set (so only customer can mint tokens), and the
//! tokens of sessions that ended refused (`ended`).

pub mod ended;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use contracts::claims::{LEEWAY_SECS, MAX_LIFETIME_SECS};
use contracts::{AUDIENCE, Claims, ISSUER, Role};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::{Mutex, RwLock};

use crate::ApiError;
use crate::http::WithRequestId;
use ended::EndedSessions;

/// The path under which customer publishes its public keys.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("signing keys unavailable: {0}")]
    KeysUnavailable(String),
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing => ApiError::unauthorized("Log in first: this needs a bearer token."),
            AuthError::Invalid(_) => ApiError::unauthorized("The access token is invalid or expired."),
            AuthError::KeysUnavailable(cause) => ApiError::unavailable(cause),
        }
    }
}

enum KeySource {
    /// Keys known up front (customer verifying its own tokens, tests).
    Fixed,
    /// Customer's JWKS endpoint, fetched lazily and again when an unknown key id appears.
    Remote { url: String, client: reqwest::Client },
}

/// Checks access tokens; shared by every service.
pub struct TokenVerifier {
    source: KeySource,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_fetch: Mutex<Option<Instant>>,
    validation: Validation,
    ended: EndedSessions,
}

/// How often at most the key set is fetched again for an unknown key id.
const REFETCH_INTERVAL: Duration = Duration::from_secs(10);

impl TokenVerifier {
    /// A verifier for a fixed key set.
    pub fn with_keys(set: &JwkSet) -> Self {
        Self {
            source: KeySource::Fixed,
            keys: RwLock::new(decoding_keys(set)),
            last_fetch: Mutex::new(None),
            validation: validation(),
            ended: EndedSessions::default(),
        }
    }

    /// A verifier that takes its keys from customer at `customer_base_url`.
    pub fn from_customer(customer_base_url: &str, client: reqwest::Client) -> Self {
        Self {
            source: KeySource::Remote {
                url: format!("{}{JWKS_PATH}", customer_base_url.trim_end_matches('/')),
                client,
            },
            keys: RwLock::new(HashMap::new()),
            last_fetch: Mutex::new(None),
            validation: validation(),
            ended: EndedSessions::default(),
        }
    }

    /// The claims of a valid token.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::Invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header.kid.ok_or_else(|| AuthError::Invalid("no key id".into()))?;
        // The read guard must be gone before a refresh takes the write lock.
        let cached = self.keys.read().await.get(&kid).cloned();
        let key = match cached {
            Some(key) => key,
            None => self.refresh_for(&kid).await?,
        };
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        if claims.exp.saturating_sub(claims.iat) > MAX_LIFETIME_SECS {
            return Err(AuthError::Invalid("lives longer than any access token may".into()));
        }
        if self.ended.contains(claims.sid) {
            return Err(AuthError::Invalid("its session has ended".into()));
        }
        Ok(claims)
    }

    /// The ended sessions this verifier refuses tokens of, for `ended::follow` to fill.
    pub fn ended_sessions(&self) -> EndedSessions {
        self.ended.clone()
    }

    async fn refresh_for(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        let KeySource::Remote { url, client } = &self.source else {
            return Err(AuthError::Invalid("unknown key id".into()));
        };
        let mut last_fetch = self.last_fetch.lock().await;
        // Another task may have fetched while we waited for the lock.
        if let Some(key) = self.keys.read().await.get(kid).cloned() {
            return Ok(key);
        }
        if last_fetch.is_some_and(|at| at.elapsed() < REFETCH_INTERVAL) {
            return Err(AuthError::Invalid("unknown key id".into()));
        }
        let set: JwkSet = async {
            client
                .get(url)
                .with_request_id()
                .send()
                .await?
                .error_for_status()?
                .json()
                .await
        }
        .await
        .map_err(|e: reqwest::Error| AuthError::KeysUnavailable(format!("fetching {url}: {}", e.without_url())))?;
        *last_fetch = Some(Instant::now());
        let keys = decoding_keys(&set);
        let found = keys.get(kid).cloned();
        *self.keys.write().await = keys;
        found.ok_or_else(|| AuthError::Invalid("unknown key id".into()))
    }
}

fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = LEEWAY_SECS;
    validation
}

fn decoding_keys(set: &JwkSet) -> HashMap<String, DecodingKey> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
        })
        .collect()
}

/// The bearer token of a request, if any.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The verified caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Claims);

impl<S> FromRequestParts<S> for Caller
where
    Arc<TokenVerifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or(AuthError::Missing)?;
        let verifier = Arc::<TokenVerifier>::from_ref(state);
        let claims = verifier.verify(token).await?;
        crate::http::record_user(&claims.sub);
        Ok(Self(claims))
    }
}

/// A verified caller with the operator role; shoppers get 403.
#[derive(Debug, Clone)]
pub struct Operator(pub Claims);

impl<S> FromRequestParts<S> for Operator
where
    Arc<TokenVerifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Caller(claims) = Caller::from_request_parts(parts, state).await?;
        if claims.role != Role::Operator {
            return Err(ApiError::forbidden());
        }
        Ok(Self(claims))
    }
}

/// The verified caller when the request carries a token (a bad token is still refused),
/// None for anonymous requests.
#[derive(Debug, Clone)]
pub struct MaybeCaller(pub Option<Claims>);

impl<S> FromRequestParts<S> for MaybeCaller
where
    Arc<TokenVerifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.headers.get(AUTHORIZATION).is_none() {
            return Ok(Self(None));
        }
        let Caller(claims) = Caller::from_request_parts(parts, state).await?;
        Ok(Self(Some(claims)))
    }
}
