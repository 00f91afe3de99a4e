//! Argon2id password hashing with OWASP's recommended parameters (m = 19 MiB, t = 2, p = 1),
//! run off the async threads on a fixed set of threads, one per core, so a login burst
//! neither exhausts memory nor starves the rest.
//!
//! Each thread owns the 19 MiB a hash works in, allocated once and wiped after each use. Left
//! to allocate per hash on tokio's blocking pool, customer held about 630 MiB after a burst of
//! logins (glibc keeps freed memory in the arena of the thread that freed it, and the pool has
//! many); owning the memory bounds it at one hash's worth per core, whatever the allocator.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

/// OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 lane.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const LANES: u32 = 1;
/// Bytes of hash output (argon2's default).
const OUTPUT_LEN: usize = 32;

fn params() -> Params {
    Params::new(MEMORY_KIB, ITERATIONS, LANES, Some(OUTPUT_LEN)).expect("static argon2 parameters are valid")
}

/// Work for a hashing thread, given that thread's memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Hashes and verifies passwords, at most one per core at a time, in the order asked.
#[derive(Clone)]
pub struct PasswordHasher {
    jobs: mpsc::Sender<Job>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl PasswordHasher {
    /// Starts one hashing thread per core; they stop once every clone of this is dropped.
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..cores {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{n}"))
                .spawn(move || {
                    // Grown at the first hash (`blocks`), so an idle instance holds none.
                    let mut memory = Vec::new();
                    // The lock is held only while waiting for the next job.
                    while let Some(job) = queue.lock().ok().and_then(|q| q.recv().ok()) {
                        job(&mut memory);
                        memory.fill(Block::new());
                    }
                })
                .expect("a hashing thread starts");
        }
        Self { jobs }
    }

    /// Runs `work` on a hashing thread. A caller gone by its turn (its request dropped) costs
    /// no hash: the work is skipped.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            if !answer.is_closed() {
                let _ = answer.send(work(memory));
            }
        });
        self.jobs
            .send(job)
            .map_err(|_| anyhow::anyhow!("the password hashing threads have stopped"))?;
        answered
            .await
            .map_err(|_| anyhow::anyhow!("a password hashing thread stopped mid-hash"))
    }

    /// The PHC string of `password` with a fresh random salt.
    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let password = password.to_owned();
        self.run(move |memory| hash_in(memory, password.as_bytes())).await?
    }

    /// Whether `password` matches `phc`. With `phc = None` (unknown account) a hash of equal
    /// cost is still checked, so timing does not tell whether the account exists.
    pub async fn verify(&self, password: &str, phc: Option<String>) -> anyhow::Result<bool> {
        let password = password.to_owned();
        self.run(move |memory| {
            let stored = match &phc {
                Some(phc) => phc.as_str(),
                None => dummy_hash(memory),
            };
            let matches = verify_in(memory, password.as_bytes(), stored);
            phc.is_some() && matches
        })
        .await
    }
}

/// The first blocks of `memory` that `params` work in, growing it if it holds fewer (it
/// keeps its size: the next hash reuses it).
fn blocks<'m>(memory: &'m mut Vec<Block>, params: &Params) -> &'m mut [Block] {
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::new());
    }
    &mut memory[..params.block_count()]
}

/// `password` hashed in `memory` with a fresh salt, as a PHC string.
fn hash_in(memory: &mut Vec<Block>, password: &[u8]) -> anyhow::Result<String> {
    let salt = Salt::generate();
    let mut out = [0u8; OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
        .hash_password_into_with_memory(password, &salt, &mut out, blocks(memory, &params()))
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params()).map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("argon2 output: {e}"))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` hashes to `phc` (with the algorithm, version and parameters it names).
/// Outputs are compared in constant time.
fn verify_in(memory: &mut Vec<Block>, password: &[u8], phc: &str) -> bool {
    let Ok(stored) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(stored.algorithm.as_str()),
        Version::try_from(stored.version.unwrap_or(Version::V0x13.into())),
        Params::try_from(&stored),
    ) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let memory = blocks(memory, &params);
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, &mut out, memory)
        .is_ok()
        && Output::new(&out).is_ok_and(|computed| computed == *expected)
}

/// A hash no password is checked against for real (made once, in the asking thread's memory).
fn dummy_hash(memory: &mut Vec<Block>) -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_in(memory, b"not a real password, only spends the same time").expect("hashing a constant cannot fail")
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

    /// Hashes stored before the hashing threads owned their memory (made by argon2's own API)
    /// verify, and those made now verify with argon2's own API.
    #[test]
    fn hashes_are_argon2s_own_phc_strings() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let library = Argon2::new(Algorithm::Argon2id, Version::V0x13, params());
        let mut memory = vec![Block::new(); params().block_count()];
        let stored = library.hash_password(b"an older password").unwrap().to_string();
        assert!(verify_in(&mut memory, b"an older password", &stored));
        assert!(!verify_in(&mut memory, b"an older passworD", &stored));
        let made = hash_in(&mut memory, b"a newer password").unwrap();
        assert!(library.verify_password(b"a newer password", made.as_str()).is_ok());
        assert!(!verify_in(
            &mut memory,
            b"a newer password",
            "$argon2id$v=19$not-a-hash"
        ));
    }

    /// A caller that gave up while its hash waited (its request dropped) costs no hash: the
    /// threads skip its work when they reach it.
    #[tokio::test]
    async fn work_whose_caller_is_gone_by_its_turn_is_skipped() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let hasher = PasswordHasher::new();
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        // Every thread busy until released.
        let (release, released) = mpsc::channel::<()>();
        let released = Arc::new(Mutex::new(released));
        for _ in 0..cores {
            let released = released.clone();
            let busy: Job = Box::new(move |_| {
                let _ = released.lock().unwrap().recv();
            });
            hasher.jobs.send(busy).unwrap();
        }
        let ran = Arc::new(AtomicBool::new(false));
        let waiting = hasher.run({
            let ran = ran.clone();
            move |_| ran.store(true, Ordering::SeqCst)
        });
        // Queued, then given up on: the request's future is dropped while it waits.
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(20), waiting).await;
        assert!(gave_up.is_err(), "it waited behind the busy threads");
        for _ in 0..cores {
            release.send(()).unwrap();
        }
        // Work queued after it has run on every thread, so every thread is past it.
        for _ in 0..cores * 2 {
            hasher.run(|_| ()).await.unwrap();
        }
        assert!(!ran.load(Ordering::SeqCst), "the work of a caller gone was done");
        assert!(hasher.verify("x", None).await.is_ok(), "the threads still serve");
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
