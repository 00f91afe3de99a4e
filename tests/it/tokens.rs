//! Access tokens: only customer's key, algorithm, issuer and audience are accepted, and
//! never after expiry; the verifier product-order and web use fetches customer's keys.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use contracts::{Claims, Role};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use platform::auth::TokenVerifier;
use reqwest::StatusCode;
use testkit::TestShop;

use crate::helpers::{CustomerApi, email};

const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

fn ed25519_der(seed: u8) -> Vec<u8> {
    let mut der = PKCS8_PREFIX.to_vec();
    der.extend_from_slice(&[seed; 32]);
    der
}

/// Writes `der` as a PEM file customer can be configured with.
fn pem_file(der: &[u8]) -> std::path::PathBuf {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let path = std::env::temp_dir().join(format!("shop-test-key-{}.pem", uuid::Uuid::new_v4()));
    std::fs::write(
        &path,
        format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"),
    )
    .unwrap();
    path
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

struct Forger {
    kid: String,
    key: EncodingKey,
}

impl Forger {
    fn sign(&self, claims: &Claims) -> String {
        self.sign_value(&serde_json::to_value(claims).unwrap())
    }

    fn sign_value(&self, claims: &serde_json::Value) -> String {
        let header = Header {
            kid: Some(self.kid.clone()),
            ..Header::new(Algorithm::EdDSA)
        };
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

fn claims_for(me: &serde_json::Value) -> Claims {
    Claims {
        sub: me["id"].as_str().unwrap().parse().unwrap(),
        sid: uuid::Uuid::now_v7(),
        role: Role::Shopper,
        name: "Test Shopper".into(),
        email: me["email"].as_str().unwrap().into(),
        iss: contracts::ISSUER.into(),
        aud: contracts::AUDIENCE.into(),
        iat: now(),
        exp: now() + 300,
    }
}

#[tokio::test]
async fn only_well_formed_unexpired_tokens_for_the_shop_are_accepted() {
    let key_file = pem_file(&ed25519_der(7));
    let path = key_file.to_str().unwrap().to_owned();
    let shop = TestShop::start_with(|s| s.signing_key_file = Some(path)).await;
    let api = CustomerApi::new(&shop.customer_url);
    let login = api.signed_up(&email("tokens")).await;
    let genuine = login["access_token"].as_str().unwrap();
    let me = api.me(genuine).await.body;

    let kid = jsonwebtoken::decode_header(genuine).unwrap().kid.unwrap();
    let customer_key = Forger {
        kid: kid.clone(),
        key: EncodingKey::from_ed_der(&ed25519_der(7)),
    };
    let valid = claims_for(&me);
    assert_eq!(
        api.me(&customer_key.sign(&valid)).await.status,
        StatusCode::OK,
        "the control token is accepted"
    );

    let expired = Claims {
        iat: now() - 3600,
        exp: now() - 60,
        ..valid.clone()
    };
    let too_long_lived = Claims {
        exp: now() + contracts::claims::MAX_LIFETIME_SECS + 60,
        ..valid.clone()
    };
    let without_session = {
        let mut claims = serde_json::to_value(&valid).unwrap();
        claims.as_object_mut().unwrap().remove("sid");
        customer_key.sign_value(&claims)
    };
    let wrong_audience = Claims {
        aud: "someone-else".into(),
        ..valid.clone()
    };
    let wrong_issuer = Claims {
        iss: "evil".into(),
        ..valid.clone()
    };
    let other_key = Forger {
        kid: kid.clone(),
        key: EncodingKey::from_ed_der(&ed25519_der(8)),
    };
    let hs256_with_public_key = {
        let jwks: serde_json::Value = reqwest::get(format!("{}/.well-known/jwks.json", shop.customer_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
        let header = Header {
            kid: Some(kid.clone()),
            ..Header::new(Algorithm::HS256)
        };
        jsonwebtoken::encode(&header, &valid, &EncodingKey::from_secret(x.as_bytes())).unwrap()
    };
    let tampered = {
        let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
        let mut payload: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&parts[1])
                .unwrap(),
        )
        .unwrap();
        payload["role"] = "operator".into();
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
        parts.join(".")
    };
    let unsigned = {
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_string(&valid).unwrap());
        format!("{header}.{payload}.")
    };

    let verifier = TokenVerifier::from_customer(&shop.customer_url, reqwest::Client::new());
    let rejected = [
        ("expired", customer_key.sign(&expired)),
        ("longer lived than any access token", customer_key.sign(&too_long_lived)),
        ("without a session", without_session),
        ("wrong audience", customer_key.sign(&wrong_audience)),
        ("wrong issuer", customer_key.sign(&wrong_issuer)),
        ("another key", other_key.sign(&valid)),
        ("HS256 keyed with the public key", hs256_with_public_key),
        ("tampered payload", tampered),
        ("alg none", unsigned),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (what, token) in &rejected {
        let answer = api.me(token).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{what} must be refused by customer"
        );
        assert_eq!(answer.body["error"]["code"], "unauthorized");
        assert!(
            verifier.verify(token).await.is_err(),
            "{what} must be refused by the shared verifier"
        );
    }
    // The verifier other services use accepts the genuine token, with its claims.
    let claims = verifier
        .verify(genuine)
        .await
        .expect("genuine token verifies through the JWKS");
    assert_eq!(claims.sub.to_string(), me["id"].as_str().unwrap());
    assert_eq!(claims.role, Role::Shopper);

    let missing = api
        .http
        .get(format!("{}/api/me", shop.customer_url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    std::fs::remove_file(key_file).ok();
}

#[tokio::test]
async fn every_instance_of_customer_signs_with_the_same_stored_key() {
    let shop = TestShop::start().await;
    let database_url = shop.customer_database_url.clone();
    // A second customer on the same database: its tokens verify with the first one's keys.
    let second = TestShop::start_with(|s| s.database_url = database_url).await;
    let first_api = CustomerApi::new(&shop.customer_url);
    let second_api = CustomerApi::new(&second.customer_url);
    let login = first_api.signed_up(&email("shared-key")).await;
    let token = login["access_token"].as_str().unwrap();
    assert_eq!(second_api.me(token).await.status, StatusCode::OK);
}
