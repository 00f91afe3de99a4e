//! Access-token claims. Customer mints them (EdDSA); every other service only verifies.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `iss` of every access token.
pub const ISSUER: &str = "shop-customer";
/// `aud` of every access token: the shop's own services.
pub const AUDIENCE: &str = "shop";
/// No access token lives longer than this (seconds); verifiers refuse one that claims to.
pub const MAX_LIFETIME_SECS: u64 = 15 * 60;
/// How long past its expiry a token is still accepted, for clocks that differ (seconds).
pub const LEEWAY_SECS: u64 = 5;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Shopper,
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Shopper => "shopper",
            Role::Operator => "operator",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "shopper" => Ok(Role::Shopper),
            "operator" => Ok(Role::Operator),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The customer id.
    pub sub: Uuid,
    /// The session (login) the token belongs to: ending it refuses the token everywhere.
    pub sid: Uuid,
    pub role: Role,
    /// Display name, so pages can greet without a round trip.
    pub name: String,
    pub email: String,
    pub iss: String,
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
}
