//! Customer's settings, from the environment.

use std::net::SocketAddr;
use std::time::Duration;

use platform::StartupError;
use platform::config::{ip_ranges, parse_or, var_opt, var_or};
use platform::http::IpRange;
use secrecy::SecretString;

/// Everything customer reads at start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: SocketAddr,
    /// Where `/readyz` and `/metrics` answer (`CUSTOMER_INTERNAL_ADDR`): reachable by the
    /// platform's probes and scrapers only.
    pub internal_addr: SocketAddr,
    pub database_url: String,
    pub database_max_connections: u32,
    pub amqp_url: String,
    /// The topic exchange order events come through.
    pub events_exchange: String,
    /// The operator account ensured at start, when both are set.
    pub operator: Option<(String, SecretString)>,
    /// That operator's TOTP secret, base32 (`SHOP_OPERATOR_TOTP_SECRET`): it is then enrolled
    /// with it, so automation holding the secret can sign in.
    pub operator_totp_secret: Option<SecretString>,
    /// Every operator must sign in with a second factor, enrolling at their next login when
    /// they have none (`CUSTOMER_REQUIRE_OPERATOR_SECOND_FACTOR`, off by default; production
    /// sets it).
    pub require_operator_second_factor: bool,
    /// PEM (PKCS#8) Ed25519 key signing access tokens; when unset, one is generated and kept
    /// in the database.
    pub signing_key_file: Option<String>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// No session lasts longer than this after its login, however often it is refreshed
    /// (`CUSTOMER_SESSION_MAX_AGE_SECS`, default 30 days).
    pub session_max_age: Duration,
    pub login_limits: LoginLimits,
    pub registration_limits: RegistrationLimits,
    /// Peers (addresses or CIDR ranges) whose `X-Forwarded-For` is believed: web only
    /// (`CUSTOMER_TRUSTED_PROXIES`, none by default).
    pub trusted_proxies: Vec<IpRange>,
    /// Customer's queue of order events on `shop.events`.
    pub events: crate::orders::events::EventSettings,
}

/// How failed logins are held back within the window (see `throttle`).
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failures for one account from one address before its attempts from there are slowed.
    pub failures_before_delay: i64,
    /// Failures from one address, on any accounts, before it is refused.
    pub per_address: i64,
    pub window: Duration,
}

/// How many registrations one address may attempt within the window.
#[derive(Debug, Clone, Copy)]
pub struct RegistrationLimits {
    pub per_address: i64,
    pub window: Duration,
}

/// Access tokens never live longer than this (every verifier refuses longer ones).
pub const MAX_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(contracts::claims::MAX_LIFETIME_SECS);

impl Settings {
    /// How long sessions and their tokens live.
    pub fn session_lifetime(&self) -> crate::sessions::refresh::Lifetime {
        crate::sessions::refresh::Lifetime {
            access: self.access_token_ttl,
            idle: self.refresh_token_ttl,
            max_age: self.session_max_age,
        }
    }

    pub fn from_env() -> Result<Self, StartupError> {
        let access_secs: u64 = parse_or("CUSTOMER_ACCESS_TOKEN_TTL_SECS", 900)?;
        if access_secs == 0 || access_secs > MAX_ACCESS_TOKEN_TTL.as_secs() {
            return Err(StartupError::new(format!(
                "CUSTOMER_ACCESS_TOKEN_TTL_SECS must be between 1 and {} (got {access_secs})",
                MAX_ACCESS_TOKEN_TTL.as_secs()
            )));
        }
        let operator = match (var_opt("SHOP_OPERATOR_EMAIL"), var_opt("SHOP_OPERATOR_PASSWORD")) {
            (Some(email), Some(password)) => Some((email, SecretString::from(password))),
            (None, None) => None,
            _ => {
                return Err(StartupError::new(
                    "set both SHOP_OPERATOR_EMAIL and SHOP_OPERATOR_PASSWORD, or neither",
                ));
            }
        };
        let operator_totp_secret = var_opt("SHOP_OPERATOR_TOTP_SECRET").map(SecretString::from);
        if operator_totp_secret.is_some() && operator.is_none() {
            return Err(StartupError::new(
                "SHOP_OPERATOR_TOTP_SECRET needs SHOP_OPERATOR_EMAIL and SHOP_OPERATOR_PASSWORD",
            ));
        }
        let trusted_proxies = ip_ranges("CUSTOMER_TRUSTED_PROXIES")?;
        Ok(Self {
            addr: parse_or("CUSTOMER_ADDR", SocketAddr::from(([127, 0, 0, 1], 8081)))?,
            internal_addr: parse_or("CUSTOMER_INTERNAL_ADDR", SocketAddr::from(([127, 0, 0, 1], 9081)))?,
            database_url: var_or(
                "CUSTOMER_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/shop_customer",
            ),
            database_max_connections: parse_or("CUSTOMER_DATABASE_MAX_CONNECTIONS", 10)?,
            amqp_url: var_or("SHOP_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            events_exchange: var_or("SHOP_EVENTS_EXCHANGE", platform::broker::DEFAULT_EVENTS_EXCHANGE),
            operator,
            operator_totp_secret,
            require_operator_second_factor: parse_or("CUSTOMER_REQUIRE_OPERATOR_SECOND_FACTOR", false)?,
            signing_key_file: var_opt("SHOP_JWT_SIGNING_KEY_FILE"),
            access_token_ttl: Duration::from_secs(access_secs),
            refresh_token_ttl: Duration::from_secs(parse_or("CUSTOMER_REFRESH_TOKEN_TTL_SECS", 14 * 24 * 3600)?),
            session_max_age: Duration::from_secs(parse_or("CUSTOMER_SESSION_MAX_AGE_SECS", 30 * 24 * 3600)?),
            login_limits: LoginLimits {
                failures_before_delay: parse_or("CUSTOMER_LOGIN_FAILURES_BEFORE_DELAY", 5)?,
                per_address: parse_or("CUSTOMER_LOGIN_MAX_FAILURES_PER_ADDRESS", 20)?,
                window: Duration::from_secs(parse_or("CUSTOMER_LOGIN_WINDOW_SECS", 900)?),
            },
            registration_limits: RegistrationLimits {
                per_address: parse_or("CUSTOMER_REGISTRATIONS_PER_ADDRESS", 10)?,
                window: Duration::from_secs(parse_or("CUSTOMER_REGISTRATION_WINDOW_SECS", 3600)?),
            },
            trusted_proxies,
            events: crate::orders::events::EventSettings {
                workers: parse_or("CUSTOMER_EVENT_WORKERS", true)?,
                queue: var_or("CUSTOMER_EVENTS_QUEUE", "customer.order-events"),
                expires: None,
            },
        })
    }
}
