//! Redis connections. Two shapes, for two jobs:
//! - a `ConnectionManager`: one multiplexed connection that pipelines every caller's
//!   commands and reconnects by itself — for short commands (ingest, status, caches);
//! - a deadpool pool: for blocking stream reads (XREADGROUP BLOCK), which would stall a
//!   shared multiplexed connection.
//!
//! Every command has a response timeout, so an unreachable Redis is an error within
//! seconds rather than a hang.

use std::time::Duration;

use anyhow::Context as _;
use deadpool_redis::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use deadpool_redis::redis::{self, Client};

use crate::startup::retry_until;

/// How long one Redis command may take before it counts as failed.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens a reconnecting multiplexed connection, waiting up to `startup_timeout` for Redis.
pub async fn connect(
    redis_url: &str,
    startup_timeout: Duration,
) -> anyhow::Result<ConnectionManager> {
    let client = Client::open(redis_url).context("REDIS_URL is not a valid Redis URL")?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(RESPONSE_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(1));
    retry_until("Redis", startup_timeout, || async {
        let mut manager = client
            .get_connection_manager_with_config(config.clone())
            .await?;
        ping(&mut manager).await?;
        Ok::<_, redis::RedisError>(manager)
    })
    .await
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
