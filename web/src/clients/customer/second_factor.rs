//! Signing in with a second factor (TOTP), and enrolling one.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{CustomerClient, Result, Tokens, answer};

/// What a login with the right password earns.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SignIn {
    SecondFactor(Challenge),
    Tokens(Tokens),
}

/// A login still waiting for its second factor.
#[derive(Debug, Clone, Deserialize)]
pub struct Challenge {
    pub second_factor: Requirement,
    pub challenge: String,
    /// Seconds the challenge lives.
    pub expires_in: u64,
}

/// What the challenge asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    /// A code from the enrolled authenticator, or a recovery code.
    Code,
    /// An operator who must enrol one first.
    Enrolment,
}

/// A factor to enrol.
#[derive(Debug, Clone, Deserialize)]
pub struct Enrolment {
    /// Base32, for typing into an app.
    pub secret: String,
    /// For the QR code.
    pub otpauth_uri: String,
}

/// An enrolment confirmed: the new session, and recovery codes shown only now.
#[derive(Debug, Clone, Deserialize)]
pub struct Enrolled {
    #[serde(flatten)]
    pub tokens: Tokens,
    pub recovery_codes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SecondFactorStatus {
    pub enrolled: bool,
    pub required: bool,
    pub recovery_codes_left: i64,
}

#[derive(Serialize)]
struct ChallengeBody<'a> {
    challenge: &'a str,
}

#[derive(Serialize)]
struct CodeBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    challenge: Option<&'a str>,
    code: &'a str,
}

impl CustomerClient {
    /// Completes a login with its code, for the shopper at `shopper`.
    pub async fn sign_in_with_code(&self, challenge: &str, code: &str, shopper: IpAddr) -> Result<Tokens> {
        let body = CodeBody {
            challenge: Some(challenge),
            code,
        };
        let response = self
            .send_post("/api/auth/second-factor", &body, None, Some(shopper))
            .await?;
        answer(response).await
    }

    /// The factor a challenged operator is to enrol (the same one until it is confirmed).
    pub async fn enrolment_at_login(&self, challenge: &str) -> Result<Enrolment> {
        let response = self
            .send_post(
                "/api/auth/second-factor/enrolment",
                &ChallengeBody { challenge },
                None,
                None,
            )
            .await?;
        answer(response).await
    }

    /// Confirms a challenged operator's enrolment with its first code.
    pub async fn enrol_at_login(&self, challenge: &str, code: &str, shopper: IpAddr) -> Result<Enrolled> {
        let body = CodeBody {
            challenge: Some(challenge),
            code,
        };
        let response = self
            .send_post("/api/auth/second-factor/enrolment/confirm", &body, None, Some(shopper))
            .await?;
        answer(response).await
    }

    /// Whether the signed-in user whose access token is `token` has a second factor.
    pub async fn second_factor_status(&self, token: &str) -> Result<SecondFactorStatus> {
        let path = "/api/me/second-factor";
        answer(self.send(path, self.get(path, token)).await?).await
    }

    /// The factor the signed-in user is to enrol.
    pub async fn my_enrolment(&self, token: &str) -> Result<Enrolment> {
        let response = self.send_post("/api/me/second-factor", &(), Some(token), None).await?;
        answer(response).await
    }

    /// Confirms the signed-in user's enrolment; every other session of theirs ends.
    pub async fn enrol_mine(&self, token: &str, code: &str, shopper: IpAddr) -> Result<Enrolled> {
        let body = CodeBody { challenge: None, code };
        let response = self
            .send_post("/api/me/second-factor/confirm", &body, Some(token), Some(shopper))
            .await?;
        answer(response).await
    }
}
