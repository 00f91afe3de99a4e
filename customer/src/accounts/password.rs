//! Argon2id password hashing with OWASP's recommended parameters (m = 19 MiB, t = 2, p = 1),
//! run off the async threads and bounded so a login burst cannot exhaust memory.

use std::sync::{Arc, OnceLock};

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use tokio::sync::Semaphore;

/// OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 lane.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes and verifies passwords; at most one hash per core runs at a time.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl PasswordHasher {
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            permits: Arc::new(Semaphore::new(cores)),
        }
    }

    /// The PHC string of `password` with a fresh random salt.
    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let password = password.to_owned();
        let _permit = self.permits.acquire().await?;
        tokio::task::spawn_blocking(move || {
            argon2()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
        })
        .await?
    }

    /// Whether `password` matches `phc`. With `phc = None` (unknown account) a hash of equal
    /// cost is still checked, so timing does not tell whether the account exists.
    pub async fn verify(&self, password: &str, phc: Option<String>) -> anyhow::Result<bool> {
        let password = password.to_owned();
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| dummy_hash().to_owned());
        let _permit = self.permits.acquire().await?;
        tokio::task::spawn_blocking(move || {
            let matches = argon2().verify_password(password.as_bytes(), phc.as_str()).is_ok();
            known && matches
        })
        .await
        .map_err(Into::into)
    }
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        argon2()
            .hash_password(b"not a real password, only spends the same time")
            .expect("hashing a constant cannot fail")
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = PasswordHasher::new();
        let phc = hasher.hash("correct horse battery").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(hasher.verify("correct horse battery", Some(phc.clone())).await.unwrap());
        assert!(!hasher.verify("correct horse batterY", Some(phc)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_account_never_verifies() {
        let hasher = PasswordHasher::new();
        assert!(
            !hasher
                .verify("not a real password, only spends the same time", None)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn salts_differ() {
        let hasher = PasswordHasher::new();
        assert_ne!(
            hasher.hash("same password").await.unwrap(),
            hasher.hash("same password").await.unwrap()
        );
    }
}
