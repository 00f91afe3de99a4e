//! RabbitMQ nodes of a test's own: one alone, or several clustered with one Erlang cookie, each
//! node stopped, killed and started again on its own.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

use super::{ScratchDir, require_tool, run};
use crate::process::free_port;

/// A RabbitMQ node of the test's own (user guest/guest, no plugins), run as a child process
/// with its own Erlang cookie, configuration and data. Its data stays across a stop or a kill,
/// so it starts again with its queues and messages (and, in a cluster, rejoins its peers).
pub struct PrivateRabbitMq {
    pub port: u16,
    /// Its Erlang node name (`shoptest-...@localhost`), as `rabbitmqctl` and the queues' members
    /// name it.
    pub node: String,
    server_script: PathBuf,
    ctl: PathBuf,
    env: Vec<(&'static str, String)>,
    pid_file: PathBuf,
    dir: PathBuf,
    server: Option<Child>,
    /// Removed after the node is killed (fields drop after `drop`).
    _dir: ScratchDir,
}

impl PrivateRabbitMq {
    /// Starts a node and waits until its applications run and its AMQP port answers.
    pub async fn start() -> Self {
        let mut rabbitmq = Self::configure(None);
        rabbitmq.start_node().await;
        rabbitmq
    }

    /// Writes a node's files: its configuration, and `cookie` (else a new one Erlang makes) as
    /// the Erlang cookie in its `$HOME`, where the server and `rabbitmqctl` both read it.
    fn configure(cookie: Option<&str>) -> Self {
        let (server_script, ctl) = rabbitmq_scripts();
        let dir = ScratchDir::new("rabbitmq");
        let port = free_port();
        let node = format!("shoptest-{}@localhost", uuid::Uuid::new_v4().simple());
        let path = |name: &str| dir.0.join(name).to_string_lossy().into_owned();
        // As the shop's production cluster: a node cut off from the majority pauses rather
        // than serve a split brain.
        std::fs::write(
            dir.0.join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{port}\ncluster_partition_handling = pause_minority\n"),
        )
        .and_then(|()| std::fs::write(dir.0.join("enabled_plugins"), ""))
        .and_then(|()| std::fs::write(dir.0.join("rabbitmq-env.conf"), ""))
        .expect("the node's configuration files");
        if let Some(cookie) = cookie {
            write_cookie(&dir.0.join(".erlang.cookie"), cookie);
        }
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
        Self {
            port,
            node,
            server_script,
            ctl,
            pid_file: dir.0.join("rabbitmq.pid"),
            dir: dir.0.clone(),
            env,
            server: None,
            _dir: dir,
        }
    }

    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// True while its server process runs (started and not stopped or killed since).
    pub fn is_running(&self) -> bool {
        self.server.is_some()
    }

    /// Starts the node's server (it must not be running) and waits until its applications run;
    /// a clustered node is back in its cluster then.
    pub async fn start_node(&mut self) {
        assert!(self.server.is_none(), "{} is already running", self.node);
        // `wait` reads the pid from the file: not the one of the node's previous life.
        let _ = std::fs::remove_file(&self.pid_file);
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.out"))
            .expect("the server's output file");
        let server = Command::new(&self.server_script)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("a second handle on the output file"))
            .stderr(output)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.server_script.display()));
        self.server = Some(server);
        // `wait` follows the node from its pid file to its applications running (and fails
        // when the process ends first).
        let pid_file = self.pid_file.to_string_lossy().into_owned();
        self.ctl(&["wait", &pid_file, "--timeout", "120"], "rabbitmqctl wait")
            .await;
    }

    /// `rabbitmqctl shutdown`: the node stops cleanly (its clients are disconnected, its Erlang
    /// VM exits), as a node taken down for maintenance.
    pub async fn stop_node(&mut self) {
        self.ctl(&["shutdown"], "rabbitmqctl shutdown").await;
        self.reap().await;
    }

    /// SIGKILL to the node's Erlang VM: a crash, or a machine gone, with no goodbye to its
    /// clients or its peers.
    pub async fn kill_node(&mut self) {
        self.kill_vm();
        self.reap().await;
    }

    /// Waits for the server script to end once its VM is gone (killing it if it lingers).
    async fn reap(&mut self) {
        let mut server = self
            .server
            .take()
            .unwrap_or_else(|| panic!("{} is not running", self.node));
        if tokio::time::timeout(Duration::from_secs(30), server.wait())
            .await
            .is_err()
        {
            let _ = server.kill().await;
        }
    }

    /// The script may run the Erlang VM as a child of its own: kill the VM by its pid.
    fn kill_vm(&self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", pid.trim()])
                .stderr(Stdio::null())
                .status();
        }
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

    /// Runs `rabbitmqctl` against this node, failing the test unless it succeeds within 3
    /// minutes.
    pub async fn ctl(&self, args: &[&str], what: &str) -> Output {
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
        self.kill_vm();
        if let Some(server) = self.server.as_mut() {
            let _ = server.start_kill();
        }
    }
}

/// An Erlang cookie file: read by the node and its tools only if no one else may read it.
fn write_cookie(path: &Path, cookie: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, cookie)
        .and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o400)))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// A RabbitMQ cluster of the test's own: nodes as `PrivateRabbitMq` starts them, sharing one
/// Erlang cookie, joined to the first with `stop_app; join_cluster; start_app`.
pub struct PrivateRabbitMqCluster {
    nodes: Vec<PrivateRabbitMq>,
}

/// Where a queue's replicas are, by node index in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueReplicas {
    pub kind: String,
    /// The node that leads it (a quorum queue's Raft leader, a stream's writer).
    pub leader: Option<usize>,
    pub members: Vec<usize>,
    /// The members running now.
    pub online: Vec<usize>,
    /// Messages ready or unacknowledged.
    pub messages: i64,
}

impl PrivateRabbitMqCluster {
    /// Starts `size` nodes at once, then clusters them and waits until every node sees all.
    pub async fn start(size: usize) -> Self {
        assert!(size >= 1, "a cluster has a node");
        let cookie = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
        let mut starting = tokio::task::JoinSet::new();
        for index in 0..size {
            let mut node = PrivateRabbitMq::configure(Some(&cookie));
            starting.spawn(async move {
                node.start_node().await;
                (index, node)
            });
        }
        let mut nodes: Vec<(usize, PrivateRabbitMq)> = starting.join_all().await;
        nodes.sort_by_key(|(index, _)| *index);
        let nodes: Vec<PrivateRabbitMq> = nodes.into_iter().map(|(_, node)| node).collect();
        let first = nodes[0].node.clone();
        for node in &nodes[1..] {
            node.ctl(&["stop_app"], "rabbitmqctl stop_app").await;
            node.ctl(&["join_cluster", &first], "rabbitmqctl join_cluster").await;
            node.start_app().await;
        }
        let cluster = Self { nodes };
        let running = cluster.running_nodes().await;
        assert_eq!(running.len(), size, "every node runs in the cluster: {running:?}");
        cluster
    }

    pub fn nodes(&self) -> &[PrivateRabbitMq] {
        &self.nodes
    }

    /// Every node's AMQP URL, comma-separated, as `SHOP_AMQP_URL` takes a cluster's: node
    /// `first`'s first, then the others in turn (a service connects to the first that answers,
    /// so services given different firsts spread over the nodes, as behind a load balancer).
    pub fn amqp_urls(&self, first: usize) -> String {
        let count = self.nodes.len();
        (0..count)
            .map(|i| self.nodes[(first + i) % count].amqp_url())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The nodes that hold the AMQP connections whose client-given name starts with `prefix`
    /// (the services name theirs `<service>@<address>`).
    pub async fn connected_to(&self, prefix: &str) -> Vec<usize> {
        let output = self
            .any_running()
            .ctl(
                &[
                    "-q",
                    "list_connections",
                    "client_properties",
                    "port",
                    "--formatter",
                    "json",
                ],
                "rabbitmqctl list_connections",
            )
            .await;
        let connections: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "list_connections is JSON ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        });
        let mut nodes: Vec<usize> = connections
            .iter()
            // The client-given name is one of the client properties (`connection_name`).
            .filter(|c| c["client_properties"].to_string().contains(&format!("\"{prefix}")))
            .filter_map(|c| {
                let port = c["port"].as_u64()?;
                self.nodes.iter().position(|n| u64::from(n.port) == port)
            })
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    }

    /// Moves the leadership of quorum queue `name` (default virtual host) to node `to` and
    /// waits until it is there. RabbitMQ 3.10's tools have no command for one queue, so this
    /// asks Ra, the Raft library under quorum queues, through `rabbitmqctl eval`.
    pub async fn transfer_leadership(&self, name: &str, to: usize) {
        let from = self.leader_of(name).await;
        if from == to {
            return;
        }
        let ra_name = format!("'%2F_{name}'");
        let expression = format!(
            "ra:transfer_leadership({{{ra_name}, '{}'}}, {{{ra_name}, '{}'}}).",
            self.nodes[from].node, self.nodes[to].node
        );
        self.nodes[from]
            .ctl(&["eval", &expression], "rabbitmqctl eval ra:transfer_leadership")
            .await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.leader_of(name).await != to {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name}'s leadership did not move to node {to} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn stop_node(&mut self, index: usize) {
        self.nodes[index].stop_node().await;
    }

    pub async fn kill_node(&mut self, index: usize) {
        self.nodes[index].kill_node().await;
    }

    pub async fn start_node(&mut self, index: usize) {
        self.nodes[index].start_node().await;
    }

    /// The names of the cluster's nodes that run, as a running node sees them.
    pub async fn running_nodes(&self) -> Vec<String> {
        let output = self
            .any_running()
            .ctl(&["cluster_status", "--formatter", "json"], "rabbitmqctl cluster_status")
            .await;
        let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "cluster_status is JSON ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        });
        status["running_nodes"]
            .as_array()
            .map(|nodes| nodes.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    /// Where queue `name` (on the default virtual host) lives, or None when there is no such
    /// queue.
    pub async fn queue(&self, name: &str) -> Option<QueueReplicas> {
        let output = self
            .any_running()
            .ctl(
                &[
                    "-q",
                    "list_queues",
                    "name",
                    "type",
                    "leader",
                    "members",
                    "online",
                    "messages",
                    "--formatter",
                    "json",
                ],
                "rabbitmqctl list_queues",
            )
            .await;
        let queues: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("list_queues is JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)));
        let queue = queues.into_iter().find(|q| q["name"] == name)?;
        let indices = |field: &str| -> Vec<usize> {
            let mut found: Vec<usize> = queue[field]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|node| self.index_of(node.as_str()?))
                .collect();
            found.sort_unstable();
            found
        };
        Some(QueueReplicas {
            kind: queue["type"].as_str().unwrap_or_default().to_owned(),
            leader: queue["leader"].as_str().and_then(|node| self.index_of(node)),
            members: indices("members"),
            online: indices("online"),
            messages: queue["messages"].as_i64().unwrap_or_default(),
        })
    }

    /// The node leading queue `name`, once it has a leader that runs (waiting out an election
    /// for up to 30 s).
    pub async fn leader_of(&self, name: &str) -> usize {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let queue = self.queue(name).await;
            if let Some(leader) = queue.as_ref().and_then(|q| q.leader)
                && self.nodes[leader].is_running()
            {
                return leader;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "queue {name} has no running leader within 30 s: {queue:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn index_of(&self, node: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.node == node)
    }

    fn any_running(&self) -> &PrivateRabbitMq {
        self.nodes
            .iter()
            .find(|node| node.is_running())
            .expect("a node of the cluster runs")
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
