//! The Redis connection both binaries share: one multiplexed connection (per node) that
//! pipelines every caller's commands. The same type speaks to one Redis or to a Redis
//! Cluster (`REDIS_CLUSTER=true`, CONTRACT §16):
//! - one Redis: redis-rs's `ConnectionManager`, which reconnects when the connection
//!   reports being dropped;
//! - a cluster: redis-rs's cluster-async `ClusterConnection`, which keeps one
//!   multiplexed connection per node, routes each command (and each pipeline or script)
//!   to the master of its key's slot, follows `MOVED` and `ASK`, and refreshes the slot
//!   map after a failover. Its own pooling, not deadpool's: one multiplexed connection
//!   per node already carries every concurrent caller, and a pool of cluster clients
//!   would multiply connections and topology refreshes for nothing. Nothing here
//!   blocks a connection (the worker reads with non-blocking rounds, `consumer`).
//!
//! What both miss is added here: a connection that stops answering without an error (a
//! frozen host, a half-open socket) times every command out but never "drops", so after
//! a timeout the connection is replaced by a new one. Every command has a response
//! timeout, so an unreachable Redis is an error within seconds rather than a hang.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use deadpool_redis::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use deadpool_redis::redis::cluster::ClusterClient;
use deadpool_redis::redis::cluster_async::ClusterConnection;
use deadpool_redis::redis::{self, Client};

use crate::config::RedisConfig;
use crate::startup::retry_until;

/// How long one Redis command may take before it counts as failed.
pub const RESPONSE_TIMEOUT: Duration = crate::config::REDIS_RESPONSE_TIMEOUT;

/// Opens the connection `config` describes (one Redis, or a cluster through its seed
/// nodes), waiting up to `startup_timeout` for Redis.
pub async fn connect(config: &RedisConfig, startup_timeout: Duration) -> anyhow::Result<Redis> {
    let connector = if config.cluster {
        Connector::Cluster(
            ClusterClient::builder(config.nodes.iter().map(String::as_str))
                .connection_timeout(RESPONSE_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT)
                // A failover takes a few seconds: redirections and retries within that
                // stay inside the command's own deadline.
                .retries(3)
                .min_retry_wait(50)
                .max_retry_wait(1_000)
                .build()
                .context("REDIS_URL does not name Redis Cluster seed nodes")?,
        )
    } else {
        Connector::Single(
            Client::open(config.nodes[0].as_str()).context("REDIS_URL is not a valid Redis URL")?,
            ConnectionManagerConfig::new()
                .set_connection_timeout(Some(RESPONSE_TIMEOUT))
                .set_response_timeout(Some(RESPONSE_TIMEOUT))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_secs(1)),
        )
    };
    let conn = retry_until("Redis", startup_timeout, || async {
        let mut conn = connector.open().await?;
        ping(&mut conn).await?;
        Ok::<_, redis::RedisError>(conn)
    })
    .await?;
    Ok(Redis {
        shared: Arc::new(Shared {
            connector,
            current: RwLock::new((conn, 0)),
            replacing: tokio::sync::Mutex::new(()),
        }),
    })
}

/// [`connect`] to one Redis at `url` (tests and tools).
pub async fn connect_url(url: &str, startup_timeout: Duration) -> anyhow::Result<Redis> {
    let config = RedisConfig {
        url: url.to_owned(),
        nodes: url.split(',').map(str::to_owned).collect(),
        cluster: url.contains(','),
        key_prefix: String::new(),
        partitions: crate::keys::DEFAULT_PARTITIONS,
        wait: crate::config::ReplicaWait {
            replicas: 0,
            timeout: Duration::from_secs(1),
        },
    };
    connect(&config, startup_timeout).await
}

/// How new connections are made.
enum Connector {
    Single(Client, ConnectionManagerConfig),
    Cluster(ClusterClient),
}

impl Connector {
    async fn open(&self) -> redis::RedisResult<Conn> {
        Ok(match self {
            Self::Single(client, config) => Conn::Single(
                client
                    .get_connection_manager_with_config(config.clone())
                    .await?,
            ),
            Self::Cluster(client) => Conn::Cluster(client.get_async_connection().await?),
        })
    }
}

/// One live connection of either kind.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// A multiplexed Redis connection, shared by cloning, that replaces itself when a
/// command times out (see the module docs). Use it like any redis-rs connection.
#[derive(Clone)]
pub struct Redis {
    shared: Arc<Shared>,
}

struct Shared {
    connector: Connector,
    /// The connection in use and its generation (bumped by every replacement).
    current: RwLock<(Conn, u64)>,
    /// Held while replacing, so a burst of timeouts makes one new connection.
    replacing: tokio::sync::Mutex<()>,
}

impl Redis {
    fn current(&self) -> (Conn, u64) {
        match self.shared.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// After a command of generation `seen` timed out: connects anew and swaps the new
    /// connection in, unless another caller already did. If Redis cannot be reached at
    /// all the old connection stays (its own reconnecting handles that case).
    async fn replace(&self, seen: u64) {
        let _single_flight = self.shared.replacing.lock().await;
        if self.current().1 != seen {
            return;
        }
        match self.shared.connector.open().await {
            Ok(fresh) => {
                tracing::warn!("a Redis command timed out; replaced the connection");
                let mut guard = match self.shared.current.write() {
                    Ok(guard) => guard,
                    Err(poisoned) => poisoned.into_inner(),
                };
                *guard = (fresh, seen + 1);
            }
            Err(e) => {
                tracing::warn!(error = %e, "a Redis command timed out and no new connection could be made yet")
            }
        }
    }

    /// Runs `command` on the current connection; a timeout replaces it.
    async fn run<T>(
        &self,
        command: impl AsyncFnOnce(&mut Conn) -> redis::RedisResult<T>,
    ) -> redis::RedisResult<T> {
        let (mut conn, generation) = self.current();
        let result = command(&mut conn).await;
        if let Err(e) = &result
            && e.is_timeout()
        {
            self.replace(generation).await;
        }
        result
    }
}

impl redis::aio::ConnectionLike for Redis {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        Box::pin(self.run(async move |conn| conn.req_packed_command(cmd).await))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        Box::pin(
            self.run(async move |conn| conn.req_packed_commands(pipeline, offset, count).await),
        )
    }

    fn get_db(&self) -> i64 {
        self.current().0.get_db()
    }
}

/// PING: what `/readyz` asks.
pub async fn ping<C: redis::aio::ConnectionLike>(conn: &mut C) -> redis::RedisResult<()> {
    redis::cmd("PING").query_async::<()>(conn).await
}
