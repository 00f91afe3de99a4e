//! The services as separate processes, started from their own binaries as in production:
//! configured by environment variables only, killed like `kill -9`, restarted on their port.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::sync::OnceCell;

/// One of the shop's service binaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Customer,
    ProductOrder,
    Web,
}

impl Service {
    pub fn binary(self) -> &'static str {
        match self {
            Service::Customer => "customer",
            Service::ProductOrder => "product-order",
            Service::Web => "web",
        }
    }

    /// The variables of its public and internal addresses.
    fn addr_variables(self) -> [&'static str; 2] {
        match self {
            Service::Customer => ["CUSTOMER_ADDR", "CUSTOMER_INTERNAL_ADDR"],
            Service::ProductOrder => ["PRODUCT_ORDER_ADDR", "PRODUCT_ORDER_INTERNAL_ADDR"],
            Service::Web => ["WEB_ADDR", "WEB_INTERNAL_ADDR"],
        }
    }
}

/// How long a service may take to answer `/readyz` after it is started.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// A service binary running as a child process, on a port of its own that it keeps across
/// restarts. Killed when dropped.
pub struct ServiceProcess {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    /// Where its `/readyz` and `/metrics` answer.
    pub internal_url: String,
    /// Names it in messages and its log file (e.g. `product-order-2`).
    pub label: String,
    binary: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    http: reqwest::Client,
}

impl ServiceProcess {
    /// Starts `service` on a free port with only `env` (and `PATH`) in its environment,
    /// appending its output to `<label>.log` in `logs`, and waits until it is ready.
    pub async fn start(service: Service, label: &str, env: &[(&str, String)], logs: &LogDir) -> Self {
        let binary = service_binaries().await.join(service.binary());
        let [port, internal_port] = [free_port(), free_port()];
        let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        let [variable, internal_variable] = service.addr_variables();
        env.push((variable.to_owned(), format!("127.0.0.1:{port}")));
        env.push((internal_variable.to_owned(), format!("127.0.0.1:{internal_port}")));
        let mut process = Self {
            url: format!("http://127.0.0.1:{port}"),
            internal_url: format!("http://127.0.0.1:{internal_port}"),
            label: label.to_owned(),
            binary,
            env,
            log: logs.path.join(format!("{label}.log")),
            child: None,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("an HTTP client"),
        };
        process.restart().await;
        process
    }

    /// Starts the process again (it must not be running) and waits until it is ready.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.label);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.log.display()));
        let stderr = log.try_clone().expect("a second handle on the log file");
        let child = Command::new(&self.binary)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        self.child = Some(child);
        self.wait_ready().await;
    }

    /// Waits until `/readyz` answers 200 (its database and broker answer), failing the test
    /// with the end of the process's log if it exits or takes too long.
    pub async fn wait_ready(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.label,
                    self.log_tail()
                );
            }
            if self.readiness().await == Some(true) {
                return;
            }
            assert!(
                started.elapsed() < READY_WITHIN,
                "{} not ready within {READY_WITHIN:?}:\n{}",
                self.label,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `/readyz`: `Some(true)` when ready, `Some(false)` when it answers that a dependency is
    /// down, `None` when it does not answer.
    pub async fn readiness(&self) -> Option<bool> {
        let response = self
            .http
            .get(format!("{}/readyz", self.internal_url))
            .send()
            .await
            .ok()?;
        Some(response.status().is_success())
    }

    /// Like `kill -9`: SIGKILL, then reaps it.
    pub async fn kill(&mut self) {
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("{} is not running", self.label));
        child
            .kill()
            .await
            .unwrap_or_else(|e| panic!("cannot kill {}: {e}", self.label));
    }

    /// What it printed so far (its JSON log lines).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// Where the processes of a test write their output: removed when the test passes, kept (and
/// named on stderr) when it fails.
pub struct LogDir {
    pub path: PathBuf,
}

impl LogDir {
    pub fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!("shop-{label}-logs-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self { path }
    }
}

impl Drop for LogDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the services' logs are kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A port nobody listens on now (the OS's pick; a tiny race with other processes remains).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free local port")
        .port()
}

/// The directory holding the service binaries, built once per test process.
async fn service_binaries() -> &'static Path {
    static BUILT: OnceCell<PathBuf> = OnceCell::const_new();
    BUILT.get_or_init(build_service_binaries).await
}

/// Builds the workspace's binaries with cargo into the target directory and profile of the
/// running test binary (`<target>/<profile>/deps/<test>-<hash>`). The test targets are built
/// too (they are up to date), so features resolve as for `cargo nextest run --workspace`: the
/// libraries the tests were built with are reused, and an up-to-date build costs a second.
async fn build_service_binaries() -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary's path");
    let profile_dir = test_binary
        .parent()
        .and_then(Path::parent)
        .expect("the test binary sits in <target>/<profile>/deps");
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a profile directory");
    let target_dir = profile_dir.parent().expect("a target directory");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit sits in the workspace");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .args(["build", "--workspace", "--bins", "--tests", "--manifest-path"])
        .arg(workspace.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir)
        .stdin(Stdio::null());
    // Cargo compares the variables a build script reruns on (ring's name CARGO_PKG_NAME and
    // CARGO_MANIFEST_DIR) with its own environment: the ones cargo and nextest set for this
    // test would make it rebuild those crates, and the next `cargo nextest run` rebuild them back.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_tests = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_EXE_", "NEXTEST"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
            || [
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "OUT_DIR",
            ]
            .contains(&&*name);
        if set_for_tests {
            command.env_remove(&*name);
        }
    }
    match profile {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        other => {
            command.args(["--profile", other]);
        }
    }
    eprintln!("building the service binaries (cargo build --workspace --bins)");
    let output = tokio::time::timeout(Duration::from_secs(900), command.output())
        .await
        .expect("cargo builds the service binaries within 15 minutes")
        .unwrap_or_else(|e| panic!("cannot run cargo ({}): {e}", cargo.to_string_lossy()));
    assert!(
        output.status.success(),
        "building the service binaries failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    profile_dir.to_owned()
}
