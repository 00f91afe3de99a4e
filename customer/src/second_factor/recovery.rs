//! Recovery codes: ten single-use codes shown once at enrolment, for an operator whose
//! authenticator is lost. Each carries 50 random bits, so a plain SHA-256 is enough to store it.

use sha2::{Digest, Sha256};

/// How many codes an enrolment hands out.
pub const COUNT: usize = 10;
const LETTERS: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const LENGTH: usize = 10;

/// `COUNT` new codes, written `xxxxx-xxxxx`.
pub fn generate() -> anyhow::Result<Vec<String>> {
    (0..COUNT)
        .map(|_| {
            let mut bytes = [0u8; LENGTH];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            // 32 divides 256: every letter is equally likely.
            let letters: String = bytes.iter().map(|b| LETTERS[usize::from(b % 32)] as char).collect();
            Ok(format!("{}-{}", &letters[..5], &letters[5..]))
        })
        .collect()
}

/// What is stored of a code, from the code as typed when it looks like one (case, spaces
/// and the dash do not matter).
pub fn digest(typed: &str) -> Option<Vec<u8>> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (code.len() == LENGTH && code.bytes().all(|b| LETTERS.contains(&b)))
        .then(|| Sha256::digest(code.as_bytes()).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_read_back_however_they_are_typed() {
        let codes = generate().unwrap();
        assert_eq!(codes.len(), COUNT);
        let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), COUNT);
        let code = &codes[0];
        assert_eq!(code.len(), 11);
        let stored = digest(code).unwrap();
        assert_eq!(stored.len(), 32);
        assert_eq!(digest(&code.to_uppercase()), Some(stored.clone()));
        assert_eq!(digest(&format!(" {} ", code.replace('-', " "))), Some(stored.clone()));
        assert_ne!(digest(&codes[1]), Some(stored));
        for typed in ["", "123456", "abcde-abcd", "abcde-abcde1", "abcd1-abcde"] {
            assert_eq!(digest(typed), None, "{typed:?}");
        }
    }
}
