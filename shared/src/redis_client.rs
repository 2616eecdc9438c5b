//! Redis connections. Two shapes, for two jobs:
//! - [`Redis`]: one multiplexed connection that pipelines every caller's commands — for
//!   short commands (ingest, status, caches). It wraps redis-rs's `ConnectionManager`,
//!   which reconnects when the connection reports being dropped, and adds what that
//!   misses: a connection that stops answering without an error (a frozen host, a
//!   half-open socket) times every command out but never "drops", so after a timeout
//!   the connection is replaced by a new one;
//! - a deadpool pool: for blocking stream reads (XREADGROUP BLOCK), which would stall a
//!   shared multiplexed connection. Each read has its own response timeout, and the pool
//!   PINGs (within `RESPONSE_TIMEOUT`) every connection it hands out again.
//!
//! Every command has a response timeout, so an unreachable Redis is an error within
//! seconds rather than a hang.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use deadpool_redis::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use deadpool_redis::redis::{self, Client};

use crate::startup::retry_until;

/// How long one Redis command may take before it counts as failed.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens a reconnecting multiplexed connection, waiting up to `startup_timeout` for Redis.
pub async fn connect(redis_url: &str, startup_timeout: Duration) -> anyhow::Result<Redis> {
    let client = Client::open(redis_url).context("REDIS_URL is not a valid Redis URL")?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(RESPONSE_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(1));
    let manager = retry_until("Redis", startup_timeout, || async {
        let mut manager = client
            .get_connection_manager_with_config(config.clone())
            .await?;
        ping(&mut manager).await?;
        Ok::<_, redis::RedisError>(manager)
    })
    .await?;
    Ok(Redis {
        shared: Arc::new(Shared {
            client,
            config,
            current: RwLock::new((manager, 0)),
            replacing: tokio::sync::Mutex::new(()),
        }),
    })
}

/// A multiplexed Redis connection, shared by cloning, that replaces itself when a
/// command times out (see the module docs). Use it like any redis-rs connection.
#[derive(Clone)]
pub struct Redis {
    shared: Arc<Shared>,
}

struct Shared {
    client: Client,
    config: ConnectionManagerConfig,
    /// The connection in use and its generation (bumped by every replacement).
    current: RwLock<(ConnectionManager, u64)>,
    /// Held while replacing, so a burst of timeouts makes one new connection.
    replacing: tokio::sync::Mutex<()>,
}

impl Redis {
    fn current(&self) -> (ConnectionManager, u64) {
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
        match self
            .shared
            .client
            .get_connection_manager_with_config(self.shared.config.clone())
            .await
        {
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
        command: impl AsyncFnOnce(&mut ConnectionManager) -> redis::RedisResult<T>,
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

/// A pool for blocking reads; connections are created lazily.
pub fn blocking_pool(redis_url: &str, max_size: usize) -> anyhow::Result<deadpool_redis::Pool> {
    let mut config = deadpool_redis::Config::from_url(redis_url);
    let mut pool = deadpool_redis::PoolConfig::new(max_size);
    pool.timeouts.wait = Some(RESPONSE_TIMEOUT);
    pool.timeouts.create = Some(RESPONSE_TIMEOUT);
    pool.timeouts.recycle = Some(RESPONSE_TIMEOUT);
    config.pool = Some(pool);
    config
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .context("Failed to build the Redis pool")
}

/// PING: what `/readyz` asks.
pub async fn ping<C: redis::aio::ConnectionLike>(conn: &mut C) -> redis::RedisResult<()> {
    redis::cmd("PING").query_async::<()>(conn).await
}
