//! The Ed25519 key that signs access tokens, its public JWK set, and minting.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use contracts::{AUDIENCE, Claims, ISSUER, Role};
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sqlx::PgPool;
use uuid::Uuid;

/// RFC 8410 PKCS#8 prefix of an Ed25519 private key; the 32-byte seed follows it.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Mints access tokens; only customer holds one.
pub struct TokenSigner {
    key: EncodingKey,
    kid: String,
    jwks: JwkSet,
    ttl: Duration,
}

/// Who an access token is for.
pub struct Subject<'a> {
    pub id: Uuid,
    /// The session the token is issued in.
    pub session: Uuid,
    pub role: Role,
    pub name: &'a str,
    pub email: &'a str,
}

impl TokenSigner {
    fn from_key(key: EncodingKey, ttl: Duration) -> anyhow::Result<Self> {
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::EdDSA).context("deriving the public key")?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).context("computing the key id")?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.key_algorithm = Some(KeyAlgorithm::EdDSA);
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(Self {
            key,
            kid,
            jwks: JwkSet { keys: vec![jwk] },
            ttl,
        })
    }

    /// The key from a PEM (PKCS#8) file.
    pub fn from_pem_file(path: &str, ttl: Duration) -> anyhow::Result<Self> {
        let pem = std::fs::read(path).with_context(|| format!("reading {path}"))?;
        let key = EncodingKey::from_ed_pem(&pem).with_context(|| format!("{path} is not an Ed25519 PKCS#8 PEM key"))?;
        Self::from_key(key, ttl)
    }

    /// The key kept in the database, generated on first use; every instance shares it.
    pub async fn from_database(db: &PgPool, ttl: Duration) -> anyhow::Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let mut candidate = ED25519_PKCS8_PREFIX.to_vec();
        candidate.extend_from_slice(&seed);
        sqlx::query("INSERT INTO signing_keys (slot, pkcs8_der) VALUES (1, $1) ON CONFLICT (slot) DO NOTHING")
            .bind(&candidate)
            .execute(db)
            .await?;
        let der: Vec<u8> = sqlx::query_scalar("SELECT pkcs8_der FROM signing_keys WHERE slot = 1")
            .fetch_one(db)
            .await?;
        Self::from_key(EncodingKey::from_ed_der(&der), ttl)
    }

    /// The public keys, as served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// Lifetime of the tokens minted.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A signed access token for `subject`.
    pub fn mint(&self, subject: &Subject<'_>) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let claims = Claims {
            sub: subject.id,
            sid: subject.session,
            role: subject.role,
            name: subject.name.to_owned(),
            email: subject.email.to_owned(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            exp: now + self.ttl.as_secs(),
        };
        let header = Header {
            kid: Some(self.kid.clone()),
            ..Header::new(Algorithm::EdDSA)
        };
        jsonwebtoken::encode(&header, &claims, &self.key).context("signing access token")
    }
}
