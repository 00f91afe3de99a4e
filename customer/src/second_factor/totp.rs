//! Time-based one-time passwords (RFC 6238 over RFC 4226): HMAC-SHA1, six digits, 30-second
//! steps, as every authenticator app reads them from an `otpauth://` URI. Pure: the caller
//! passes the time and the last step already used, so a code works once and only near now.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};

/// Seconds per step.
pub const STEP_SECS: u64 = 30;
const DIGITS: u32 = 6;
/// Steps either side of now a code is accepted for: an app's clock a little off, or a code
/// typed just as it changed.
const DRIFT_STEPS: u64 = 1;
/// 160 bits, the length RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;

/// A shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    pub fn generate() -> anyhow::Result<Self> {
        let mut bytes = vec![0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        Ok(Self(bytes))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Reads the base32 form apps show and settings carry (spaces, case and padding ignored);
    /// at least 128 bits.
    pub fn parse(text: &str) -> Result<Self, String> {
        let cleaned: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=' && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let bytes = BASE32_NOPAD
            .decode(cleaned.as_bytes())
            .map_err(|_| "is not base32 (letters A–Z and digits 2–7)".to_owned())?;
        if bytes.len() < 16 {
            return Err("is shorter than 128 bits (26 base32 characters)".into());
        }
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    /// What authenticator apps scan: `otpauth://totp/<issuer>:<account>?secret=...`.
    pub fn uri(&self, issuer: &str, account: &str) -> String {
        let label: String = url_escape(&format!("{issuer}:{account}"));
        format!(
            "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            self.to_base32(),
            url_escape(issuer)
        )
    }
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => (b as char).to_string(),
            b':' => ":".to_owned(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The step `unix_secs` falls in.
pub fn step_at(unix_secs: u64) -> u64 {
    unix_secs / STEP_SECS
}

/// The code of `step` (RFC 4226 dynamic truncation).
pub fn code(secret: &Secret, step: u64) -> u32 {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let value = u32::from_be_bytes([
        digest[offset],
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]) & 0x7fff_ffff;
    value % 10u32.pow(DIGITS)
}

/// The code of `step` as apps show it: six digits, leading zeros kept.
pub fn code_text(secret: &Secret, step: u64) -> String {
    format!("{:0width$}", code(secret, step), width = DIGITS as usize)
}

/// The step `typed` is the code of, when it is one near `now_step` and after `last_used`
/// (each code works once: a code seen over a shoulder or replayed from a log is refused).
pub fn accepts(secret: &Secret, typed: &str, now_step: u64, last_used: u64) -> Option<u64> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != DIGITS as usize || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u32 = typed.parse().ok()?;
    (now_step.saturating_sub(DRIFT_STEPS)..=now_step + DRIFT_STEPS)
        .filter(|step| *step > last_used)
        // Every candidate is computed, so the time taken says nothing of which one matched.
        .fold(None, |found, step| {
            if code(secret, step) == value {
                found.or(Some(step))
            } else {
                found
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 key.
    fn rfc_secret() -> Secret {
        Secret::from_bytes(b"12345678901234567890".to_vec())
    }

    #[test]
    fn codes_match_the_rfc_6238_test_vectors_truncated_to_six_digits() {
        // The RFC lists eight digits; six are their last six.
        for (time, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_text(&rfc_secret(), step_at(time)), eight[2..], "at {time}");
        }
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_of_now_and_only_once() {
        let secret = rfc_secret();
        let now = step_at(1_234_567_890);
        let current = code_text(&secret, now);
        assert_eq!(accepts(&secret, &current, now, 0), Some(now));
        assert_eq!(accepts(&secret, &code_text(&secret, now - 1), now, 0), Some(now - 1));
        assert_eq!(accepts(&secret, &code_text(&secret, now + 1), now, 0), Some(now + 1));
        assert_eq!(accepts(&secret, &code_text(&secret, now - 2), now, 0), None, "too old");
        assert_eq!(accepts(&secret, &current, now, now), None, "already used");
        assert_eq!(
            accepts(&secret, &code_text(&secret, now - 1), now, now),
            None,
            "older than one used"
        );
        assert_eq!(
            accepts(&secret, &format!(" {} {} ", &current[..3], &current[3..]), now, 0),
            Some(now)
        );
    }

    #[test]
    fn anything_but_six_digits_is_refused() {
        let secret = rfc_secret();
        let now = step_at(59);
        for typed in ["", "28708", "2870822", "28708a", "２８７０８２", "-28708"] {
            assert_eq!(accepts(&secret, typed, now, 0), None, "{typed:?}");
        }
    }

    #[test]
    fn secrets_read_back_from_their_base32_and_uri() {
        let secret = Secret::generate().unwrap();
        assert_eq!(secret.as_bytes().len(), SECRET_BYTES);
        let text = secret.to_base32();
        assert_eq!(Secret::parse(&text).unwrap(), secret);
        assert_eq!(Secret::parse(&text.to_lowercase()).unwrap(), secret);
        assert!(Secret::parse("ABC").is_err());
        assert!(Secret::parse("not base32!").is_err());
        let uri = secret.uri("Shop", "ops@example.com");
        assert!(uri.starts_with("otpauth://totp/Shop:ops@example.com?secret="), "{uri}");
        assert!(uri.contains(&format!("secret={text}&issuer=Shop")), "{uri}");
        assert!(!format!("{secret:?}").contains(&text));
        assert!(Secret::generate().unwrap() != secret);
    }
}
