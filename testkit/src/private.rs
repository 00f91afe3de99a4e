//! PostgreSQL and RabbitMQ servers of a test's own, on free ports with their files in a
//! temporary directory, for tests that stop and start them: the shared servers the other
//! tests use are never touched. Each is stopped and its files removed when dropped, also
//! when the test fails.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::process::free_port;

/// A temporary directory, removed when dropped.
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
        let _ = std::fs::remove_dir_all(&self.0);
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

/// A PostgreSQL server of the test's own (trust authentication, user `postgres`, no fsync).
pub struct PrivatePostgres {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    /// PostgreSQL refuses to run as root: as root, its tools run as this user.
    run_as: Option<&'static str>,
    /// Removed after the server is stopped (fields drop after `drop`).
    _dir: ScratchDir,
}

impl PrivatePostgres {
    /// Creates a cluster with `initdb` and starts it with `pg_ctl`.
    pub async fn start() -> Self {
        let bin = postgres_bin_dir();
        let dir = ScratchDir::new("postgres");
        let run_as = running_as_root(&dir.0).then_some("postgres");
        if let Some(user) = run_as {
            require_tool("runuser", "util-linux");
            run(Command::new("chown").arg(user).arg(&dir.0), "chown").await;
        }
        let postgres = Self {
            port: free_port(),
            data: dir.0.join("data"),
            log: dir.0.join("postgres.log"),
            bin,
            run_as,
            _dir: dir,
        };
        run(
            postgres.tool("initdb").arg("-D").arg(&postgres.data).args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]),
            "initdb",
        )
        .await;
        // Surviving power loss is not what these tests are about (no fsync), surviving the
        // server's own crash is: every commit is written out before it is acknowledged
        // (synchronous_commit stays on), so `stop -m immediate` loses nothing acknowledged.
        let settings = format!(
            "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\nmax_connections = 200\n\
             fsync = off\nfull_page_writes = off\n",
            postgres.port
        );
        append(&postgres.data.join("postgresql.conf"), &settings);
        postgres.start_server().await;
        postgres
    }

    /// A URL of the server for a user who may create databases.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A URL of database `name` on this server.
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub async fn start_server(&self) {
        run(
            self.tool("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(&self.log)
                .args(["-w", "-t", "60", "start"]),
            "pg_ctl start",
        )
        .await;
    }

    /// Stops the server at once, like a crash: every connection is cut, nothing is flushed.
    pub async fn stop_server(&self) {
        run(
            self.tool("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "-w", "stop"]),
            "pg_ctl stop",
        )
        .await;
    }

    /// One of PostgreSQL's programs, run as the user that owns the cluster.
    fn tool(&self, name: &str) -> Command {
        Command::from(self.std_tool(name))
    }

    fn std_tool(&self, name: &str) -> std::process::Command {
        let program = self.bin.join(name);
        match self.run_as {
            Some(user) => {
                let mut command = std::process::Command::new("runuser");
                command.args(["-u", user, "--"]).arg(program);
                command
            }
            None => std::process::Command::new(program),
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .std_tool("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` (Debian's layout), else the directory of
/// `initdb` on the PATH.
fn postgres_bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let initdb = require_tool("initdb", "postgresql");
    initdb.parent().expect("initdb sits in a directory").to_owned()
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

/// A RabbitMQ node of the test's own (user guest/guest, no plugins), run as a child process
/// with its own Erlang cookie, configuration and data.
pub struct PrivateRabbitMq {
    pub port: u16,
    node: String,
    ctl: PathBuf,
    env: Vec<(&'static str, String)>,
    pid_file: PathBuf,
    server: Child,
    /// Removed after the node is killed (fields drop after `drop`).
    _dir: ScratchDir,
}

impl PrivateRabbitMq {
    /// Starts a node and waits until its applications run and its AMQP port answers.
    pub async fn start() -> Self {
        let (server_script, ctl) = rabbitmq_scripts();
        let dir = ScratchDir::new("rabbitmq");
        let port = free_port();
        let node = format!("shoptest-{}@localhost", uuid::Uuid::new_v4().simple());
        let path = |name: &str| dir.0.join(name).to_string_lossy().into_owned();
        std::fs::write(
            dir.0.join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{port}\n"),
        )
        .and_then(|()| std::fs::write(dir.0.join("enabled_plugins"), ""))
        .and_then(|()| std::fs::write(dir.0.join("rabbitmq-env.conf"), ""))
        .expect("the node's configuration files");
        let env = vec![
            // The Erlang cookie is made in (and read from) $HOME.
            ("HOME", path("")),
            ("RABBITMQ_NODENAME", node.clone()),
            ("RABBITMQ_NODE_PORT", port.to_string()),
            ("RABBITMQ_DIST_PORT", free_port().to_string()),
            ("RABBITMQ_CONFIG_FILE", path("rabbitmq.conf")),
            ("RABBITMQ_ADVANCED_CONFIG_FILE", path("advanced.config")),
            ("RABBITMQ_CONF_ENV_FILE", path("rabbitmq-env.conf")),
            ("RABBITMQ_ENABLED_PLUGINS_FILE", path("enabled_plugins")),
            ("RABBITMQ_MNESIA_BASE", path("mnesia")),
            ("RABBITMQ_LOG_BASE", path("log")),
            ("RABBITMQ_PID_FILE", path("rabbitmq.pid")),
        ];
        let log = std::fs::File::create(dir.0.join("server.out")).expect("the server's output file");
        let server = Command::new(&server_script)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a second handle on the output file"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", server_script.display()));
        let rabbitmq = Self {
            port,
            node,
            ctl,
            pid_file: dir.0.join("rabbitmq.pid"),
            env,
            server,
            _dir: dir,
        };
        // `wait` follows the node from its pid file to its applications running (and fails
        // when the process ends first).
        let pid_file = rabbitmq.pid_file.to_string_lossy().into_owned();
        rabbitmq
            .ctl(&["wait", &pid_file, "--timeout", "120"], "rabbitmqctl wait")
            .await;
        rabbitmq
    }

    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// `rabbitmqctl stop_app`: the broker goes away (every connection closed), the node stays.
    pub async fn stop_app(&self) {
        self.ctl(&["stop_app"], "rabbitmqctl stop_app").await;
    }

    /// `rabbitmqctl start_app`: the broker is back, with its durable queues and messages.
    pub async fn start_app(&self) {
        self.ctl(&["start_app"], "rabbitmqctl start_app").await;
        self.ctl(&["await_startup"], "rabbitmqctl await_startup").await;
    }

    async fn ctl(&self, args: &[&str], what: &str) -> Output {
        let mut command = Command::new(&self.ctl);
        command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(["-n", &self.node])
            .args(args);
        tokio::time::timeout(Duration::from_secs(180), run(&mut command, what))
            .await
            .unwrap_or_else(|_| panic!("{what} did not finish within 3 minutes"))
    }
}

impl Drop for PrivateRabbitMq {
    fn drop(&mut self) {
        // The script may run the Erlang VM as a child of its own: kill the VM by its pid.
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", pid.trim()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.server.start_kill();
    }
}

/// `rabbitmq-server` and `rabbitmqctl`: Debian's own scripts (the ones in /usr/sbin switch to
/// the rabbitmq user, whose home holds another cookie), else those on the PATH.
fn rabbitmq_scripts() -> (PathBuf, PathBuf) {
    let debian = Path::new("/usr/lib/rabbitmq/bin");
    if debian.join("rabbitmq-server").exists() {
        return (debian.join("rabbitmq-server"), debian.join("rabbitmqctl"));
    }
    (
        require_tool("rabbitmq-server", "rabbitmq-server"),
        require_tool("rabbitmqctl", "rabbitmq-server"),
    )
}
