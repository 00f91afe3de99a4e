//! PostgreSQL and RabbitMQ servers of a test's own, on free ports with their files in a
//! temporary directory, for tests that stop and start them: the shared servers the other
//! tests use are never touched. Each is stopped and its files removed when dropped, also
//! when the test fails.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use tokio::process::Command;

mod postgres;
mod rabbitmq;

pub use postgres::PrivatePostgres;
pub use rabbitmq::{PrivateRabbitMq, PrivateRabbitMqCluster, QueueReplicas};

/// A temporary directory, removed when dropped (kept when the test failed).
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!("shop-test-{label}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self(path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The servers' logs say what they saw of a failed test.
            eprintln!("a private server's files are kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Runs `command` to its end, failing the test with its output unless it succeeds.
async fn run(command: &mut Command, what: &str) -> Output {
    let output = command
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Whether this process runs as root (it owns what it creates).
fn running_as_root(created: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(created).is_ok_and(|m| m.uid() == 0)
}

/// The path of `tool` on the PATH, or a one-line failure naming the package to install.
fn require_tool(tool: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(tool))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{tool} not found: these tests need it (apt-get install {package})"))
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
