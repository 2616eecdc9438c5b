//! Redis (both binaries unless marked): where the queue lives, how it is split, and the
//! prefix that keeps two deployments sharing one Redis apart. `REDIS_URL`,
//! `REDIS_CLUSTER`, `REDIS_KEY_PREFIX`, `QUEUE_PARTITIONS` (CONTRACT §1, §16), and the
//! api's `REDIS_WAIT_REPLICAS` and `REDIS_WAIT_TIMEOUT`.

use std::time::Duration;

use super::ConfigError;
use super::read::Vars;
use crate::keys::{Keys, MAX_PARTITIONS};

/// How long one Redis command may take before it counts as failed (every connection's
/// response timeout, `redis_client`).
pub const REDIS_RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Replica acknowledgement of ingest (`REDIS_WAIT_REPLICAS`, `REDIS_WAIT_TIMEOUT`): the
/// ingest script is followed by `WAIT`, in the same pipeline, so on the same master
/// (`queue::IngestQueue::waiting_for`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaWait {
    pub replicas: u32,
    pub timeout: std::time::Duration,
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `REDIS_URL`, default `redis://127.0.0.1:6379`, as given.
    pub url: String,
    /// The node URLs `REDIS_URL` lists (comma-separated): the one Redis, or a cluster's
    /// seed nodes.
    pub nodes: Vec<String>,
    /// `REDIS_CLUSTER`, default `false`: speak Redis Cluster to `nodes`.
    pub cluster: bool,
    /// `REDIS_KEY_PREFIX`, default `hookrelay`: every Redis key starts with it (see `keys`).
    pub key_prefix: String,
    /// `QUEUE_PARTITIONS`, default 16, `1..=1024`: how many partitions new work goes to.
    pub partitions: u16,
    /// `REDIS_WAIT_REPLICAS` (default 0) and `REDIS_WAIT_TIMEOUT` (default `1s`), api:
    /// ingest answers 202 only once that many replicas have the entry.
    pub wait: ReplicaWait,
}

impl RedisConfig {
    pub(super) fn from_lookup(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let key_prefix = vars.parse("REDIS_KEY_PREFIX", "hookrelay", |value| {
            if value.contains(['{', '}']) || value.contains(char::is_whitespace) {
                return Err(
                    "must not contain braces or whitespace (it becomes a Redis Cluster hash tag)"
                        .into(),
                );
            }
            Ok(value.to_owned())
        })?;
        let cluster = vars.boolean("REDIS_CLUSTER")?;
        let (url, nodes) = vars.parse("REDIS_URL", "redis://127.0.0.1:6379", |value| {
            let nodes: Vec<String> = value
                .split(',')
                .map(str::trim)
                .filter(|node| !node.is_empty())
                .map(str::to_owned)
                .collect();
            if nodes.is_empty() {
                return Err("expected a Redis URL".into());
            }
            if nodes.len() > 1 && !cluster {
                return Err(
                    "several nodes are a cluster's seed nodes: set REDIS_CLUSTER=true".into(),
                );
            }
            for node in &nodes {
                redis::Client::open(node.as_str()).map_err(|e| format!("{node}: {e}"))?;
            }
            Ok((value.to_owned(), nodes))
        })?;
        let partitions = vars.number_where::<u16>(
            "QUEUE_PARTITIONS",
            "16",
            |n| (1..=MAX_PARTITIONS).contains(n),
            "expected a whole number from 1 to 1024",
        )?;
        let replicas = vars.number::<u32>("REDIS_WAIT_REPLICAS", "0")?;
        let timeout: Duration =
            vars.parse(
                "REDIS_WAIT_TIMEOUT",
                "1s",
                |value| match super::values::parse_duration(value)? {
                    d if d.is_zero() => Err("must be longer than zero".into()),
                    d if d >= REDIS_RESPONSE_TIMEOUT => Err(format!(
                        "must be shorter than {REDIS_RESPONSE_TIMEOUT:?}, the deadline of every Redis command"
                    )),
                    d => Ok(d),
                },
            )?;
        Ok(Self {
            url,
            nodes,
            cluster,
            key_prefix,
            partitions,
            wait: ReplicaWait { replicas, timeout },
        })
    }

    /// The deployment's key names, with its `QUEUE_PARTITIONS`.
    pub fn keys(&self) -> Keys {
        Keys::partitioned(&self.key_prefix, self.partitions)
    }
}
