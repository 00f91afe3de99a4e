//! PostgreSQL servers of a test's own: one alone, or a primary with a streaming replica to
//! promote when the primary dies.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use sqlx::Connection;
use tokio::process::Command;

use super::{ScratchDir, append, require_tool, run, running_as_root};
use crate::process::free_port;

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
        Self::start_with("").await
    }

    /// A server that streaming replicas can follow (`start_replica_of`): full page writes on,
    /// as a backup taken from it needs.
    pub async fn start_primary() -> Self {
        Self::start_with("full_page_writes = on\nwal_level = replica\nmax_wal_senders = 4\n").await
    }

    async fn start_with(extra_settings: &str) -> Self {
        let postgres = Self::prepare("postgres").await;
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
             fsync = off\nfull_page_writes = off\n{extra_settings}",
            postgres.port
        );
        append(&postgres.data.join("postgresql.conf"), &settings);
        postgres.start_server().await;
        postgres
    }

    /// A streaming replica of `primary` (made by `start_primary`), started: a base backup
    /// taken with `pg_basebackup -R`, which writes `standby.signal` and the `primary_conninfo`
    /// it streams from, on a port of its own. Read-only until promoted.
    pub async fn start_replica_of(primary: &Self) -> Self {
        let replica = Self::prepare("postgres-replica").await;
        run(
            replica
                .tool("pg_basebackup")
                .arg("-D")
                .arg(&replica.data)
                .args(["-h", "127.0.0.1", "-p", &primary.port.to_string(), "-U", "postgres"])
                .args(["-R", "-X", "stream", "--checkpoint=fast", "--no-sync"]),
            "pg_basebackup",
        )
        .await;
        // The primary's settings came with the backup; a later line wins.
        append(
            &replica.data.join("postgresql.conf"),
            &format!("\nport = {}\ncluster_name = 'replica'\n", replica.port),
        );
        replica.start_server().await;
        replica
    }

    /// Makes every commit wait until a replica has flushed it too (`synchronous_standby_names
    /// = '*'`, reloaded), once one streams synchronously: from then on nothing acknowledged
    /// is lost when this server dies and the replica takes over.
    pub async fn require_synchronous_standby(&self) {
        let mut conn = sqlx::PgConnection::connect(&self.url())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.url()));
        // One statement each: several in one simple query run as one transaction, which
        // ALTER SYSTEM refuses.
        for statement in [
            "ALTER SYSTEM SET synchronous_standby_names = '*'",
            "SELECT pg_reload_conf()",
        ] {
            sqlx::raw_sql(statement)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        let conn = tokio::sync::Mutex::new(conn);
        crate::wait_until("a replica streaming synchronously", Duration::from_secs(30), || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")
                .fetch_one(&mut *conn.lock().await)
                .await
                .is_ok_and(|sync| sync > 0)
        })
        .await;
    }

    /// `pg_ctl promote`: a replica becomes a primary (read-write, on a new timeline), waiting
    /// until it is.
    pub async fn promote(&self) {
        run(
            self.tool("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["-w", "-t", "60", "promote"]),
            "pg_ctl promote",
        )
        .await;
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// A server's files in a scratch directory of their own (owned by the user who runs
    /// PostgreSQL), on a free port.
    async fn prepare(label: &str) -> Self {
        let bin = postgres_bin_dir();
        let dir = ScratchDir::new(label);
        let run_as = running_as_root(&dir.0).then_some("postgres");
        if let Some(user) = run_as {
            require_tool("runuser", "util-linux");
            run(Command::new("chown").arg(user).arg(&dir.0), "chown").await;
        }
        Self {
            port: free_port(),
            data: dir.0.join("data"),
            log: dir.0.join("postgres.log"),
            bin,
            run_as,
            _dir: dir,
        }
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
