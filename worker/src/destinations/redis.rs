//! Redis streams (`XADD`), and the Redis connections [`super::rq`] enqueues jobs over:
//! one reconnecting connection per URL.
//!
//! Each delivery is one stream entry with a `body` field (the ingested bytes) and one
//! field per header (but one named `body`). The stream must exist (`NOMKSTREAM`: hookrelay creates none); the
//! entry id Redis answers is the acknowledgement.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use hookrelay_domain::destinations::RedisStream as Settings;

use super::message::{Ack, Failure, Message};
use super::pool::{Connector, Pool, url_host};

/// How long connecting may take (the attempt's own timeout bounds it too).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct RedisServer;

impl Connector for RedisServer {
    type Address = str;
    type Connection = ConnectionManager;

    fn key(url: &str) -> String {
        url.to_owned()
    }

    fn hosts(url: &str) -> Vec<(String, u16)> {
        url_host(url, 6379)
    }

    async fn connect(&self, url: &str) -> Result<ConnectionManager, String> {
        let describe = |e: redis::RedisError| format!("Redis connection failed: {e}");
        let client = redis::Client::open(url).map_err(describe)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(0);
        ConnectionManager::new_with_config(client, config)
            .await
            .map_err(describe)
    }

    /// The manager reconnects by itself.
    fn is_open(_: &ConnectionManager) -> bool {
        true
    }
}

/// Says what a Redis command's error was, for the attempt's `error`.
pub fn failed(what: &str, e: &redis::RedisError) -> Failure {
    Failure::retry(format!("Redis {what} failed: {e}"))
}

pub async fn publish(
    pool: &Pool<RedisServer>,
    settings: &Settings,
    message: &Message,
    timeout: Duration,
) -> Result<Ack, Failure> {
    pool.with_connection(&settings.url, timeout, |connection| async move {
        let mut connection = (*connection).clone();
        let mut xadd = redis::cmd("XADD");
        xadd.arg(&settings.stream)
            .arg("NOMKSTREAM")
            .arg("*")
            .arg("body")
            .arg(message.body.as_ref());
        for (name, value) in super::message::metadata_fields(message) {
            xadd.arg(name).arg(value);
        }
        let id: Option<String> = xadd
            .query_async(&mut connection)
            .await
            .map_err(|e| failed("XADD", &e))?;
        match id {
            Some(id) => Ok(format!("stream entry {id}")),
            None => Err(Failure::retry(format!(
                "Redis stream {:?} does not exist (hookrelay creates none)",
                settings.stream
            ))),
        }
    })
    .await
}
