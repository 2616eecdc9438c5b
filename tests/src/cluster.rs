//! A Redis Cluster of the test's own on loopback (CONTRACT §16): masters with one replica
//! each, from the machine's `redis-server` and `redis-cli --cluster create`, on free
//! ports, in a directory of its own; killed and removed on drop. Failover is quick
//! (`cluster-node-timeout` 2 s), so a test can kill a master and watch its replica take
//! over.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use deadpool_redis::redis;

/// How long a node may be unreachable before the cluster fails it over.
const NODE_TIMEOUT_MS: u64 = 2_000;

pub struct RedisCluster {
    dir: PathBuf,
    nodes: BTreeMap<u16, tokio::process::Child>,
}

/// A free port whose cluster bus port (`+ 10000`) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = crate::brokers::free_port();
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

impl RedisCluster {
    /// Starts `masters` masters and as many replicas, and waits until the cluster
    /// serves every slot.
    pub async fn start(masters: usize) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "hookrelay-cluster-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("a directory for the cluster");
        let mut cluster = Self {
            dir,
            nodes: BTreeMap::new(),
        };
        let mut ports = Vec::new();
        while ports.len() < masters * 2 {
            let port = free_cluster_port();
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        for port in &ports {
            cluster.spawn(*port);
        }
        for port in &ports {
            crate::brokers::wait_listening(*port, Duration::from_secs(10)).await;
        }
        let created = tokio::process::Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .await
            .expect("redis-cli runs");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        cluster.wait_healthy(Duration::from_secs(20)).await;
        cluster
    }

    fn spawn(&mut self, port: u16) {
        let child = tokio::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
            .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server starts (apt-get install redis-server)");
        self.nodes.insert(port, child);
    }

    /// `REDIS_URL` for the cluster: every node, as seed nodes.
    pub fn url(&self) -> String {
        self.nodes
            .keys()
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A plain connection to one node.
    pub async fn node(port: u16) -> redis::aio::MultiplexedConnection {
        redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .expect("a node URL")
            .get_multiplexed_async_connection()
            .await
            .expect("the node answers")
    }

    /// The nodes serving slots as masters now (not failed), by port.
    pub async fn masters(&self) -> Vec<u16> {
        for port in self.nodes.keys() {
            let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}")) else {
                continue;
            };
            let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
                continue;
            };
            let Ok(nodes): redis::RedisResult<String> = redis::cmd("CLUSTER")
                .arg("NODES")
                .query_async(&mut conn)
                .await
            else {
                continue;
            };
            return nodes
                .lines()
                .filter(|line| {
                    let flags = line.split(' ').nth(2).unwrap_or_default();
                    flags.contains("master")
                        && !flags.contains("fail")
                        && line.split(' ').count() > 8
                })
                .filter_map(|line| {
                    let address = line.split(' ').nth(1)?;
                    address.split(['@', ':']).nth(1)?.parse().ok()
                })
                .filter(|port| self.nodes.contains_key(port))
                .collect();
        }
        Vec::new()
    }

    /// The process id of the node on `port`, while it runs.
    pub fn pid(&self, port: u16) -> Option<u32> {
        self.nodes.get(&port).and_then(tokio::process::Child::id)
    }

    /// Every node's port.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.keys().copied().collect()
    }

    /// SIGKILL one node.
    pub async fn kill(&mut self, port: u16) {
        if let Some(mut child) = self.nodes.remove(&port) {
            child.kill().await.expect("kill a node");
        }
    }

    /// Waits until every live node says the cluster is ok with every slot served, and
    /// every replica has finished its first sync with its master (until then `WAIT`
    /// counts no replica).
    pub async fn wait_healthy(&self, within: Duration) {
        crate::eventually(within, "the Redis Cluster to serve every slot", || async {
            for port in self.nodes.keys() {
                let mut conn = Self::node(*port).await;
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(&mut conn)
                    .await
                    .ok()?;
                let ok =
                    info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384");
                let replication: String = redis::cmd("INFO")
                    .arg("replication")
                    .query_async(&mut conn)
                    .await
                    .ok()?;
                let synced = !replication.contains("role:slave")
                    || replication.contains("master_link_status:up");
                if !ok || !synced {
                    return None;
                }
            }
            Some(())
        })
        .await;
    }

    /// The calls a node has served of stream, sorted-set and script commands (INFO
    /// commandstats; commands a script runs count too).
    pub async fn queue_commands(port: u16) -> u64 {
        let mut conn = Self::node(port).await;
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut conn)
            .await
            .expect("INFO commandstats");
        stats
            .lines()
            .filter_map(|line| line.strip_prefix("cmdstat_"))
            .filter_map(|line| {
                let (name, rest) = line.split_once(':')?;
                let queue_command = name.starts_with('x')
                    || name.starts_with('z')
                    || name.starts_with("eval")
                    || name.starts_with("fcall");
                let calls = rest.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
                queue_command.then(|| calls.parse::<u64>().ok()).flatten()
            })
            .sum()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in self.nodes.values_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
