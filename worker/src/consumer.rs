//! This process's seat in the consumer group: creating the group, reading new entries,
//! keeping the entries it works on claimed (heartbeat), taking over entries a dead
//! worker left (reclaim), and acknowledging finished ones.
//!
//! Lifecycle of an entry: XREADGROUP hands it to us and puts it in the group's pending
//! list under our name. While we work on it, the heartbeat re-claims it every
//! `reclaim_idle / 4`, so its idle time never reaches `RECLAIM_IDLE`. When every effect
//! is committed we XACK and XDEL it in one MULTI. If we die, the heartbeat stops; after
//! `RECLAIM_IDLE` another worker's reclaim (XPENDING IDLE + XCLAIM) takes the entry and
//! runs it again — the handlers make a second run correct — unless it has been handed
//! over more than `MAX_ENTRY_REDELIVERIES` times: then it goes to the dead letters. If Redis lost the group (a restart without
//! persistence, or the stream was deleted), any command answering NOGROUP recreates it
//! from id `0` and work carries on.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context as _;
use deadpool_redis::redis::streams::{StreamClaimReply, StreamId, StreamReadReply};
use deadpool_redis::redis::{self, RedisError};
use hookrelay_domain::dead_letters;
use hookrelay_shared::keys::{CONSUMER_GROUP, Keys};
use hookrelay_shared::redis_client::Redis;

/// How long one XREADGROUP blocks waiting for new entries.
pub const READ_BLOCK: Duration = Duration::from_secs(1);

/// Our consumer in the group, and the entries we currently own.
pub struct Consumer {
    keys: Keys,
    name: String,
    redis: Redis,
    blocking: deadpool_redis::Pool,
    owned: Mutex<HashSet<String>>,
    /// Where the next reclaim scan of the pending list starts (`-`, or `(<id>` after the
    /// last id seen): each call looks at a bounded part, so successive calls walk it all
    /// before starting over.
    reclaim_cursor: Mutex<String>,
}

/// Whether a Redis error means the consumer group (or the whole stream) is gone.
pub fn is_missing_group(err: &RedisError) -> bool {
    err.code() == Some("NOGROUP")
        || err.to_string().contains("NOGROUP")
        || err.to_string().contains("no longer exists")
}

impl Consumer {
    pub fn new(keys: Keys, redis: Redis, blocking: deadpool_redis::Pool) -> Arc<Self> {
        Arc::new(Self {
            keys,
            name: consumer_name(),
            redis,
            blocking,
            owned: Mutex::default(),
            reclaim_cursor: Mutex::new("-".into()),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates the group from the start of the stream (`0`, not `$`: the api may have
    /// queued webhooks before any worker existed). An existing group is left alone.
    pub async fn ensure_group(&self) -> redis::RedisResult<()> {
        let created = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.keys.stream())
            .arg(CONSUMER_GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async::<()>(&mut self.redis.clone())
            .await;
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") || e.to_string().contains("BUSYGROUP") => {
                Ok(())
            }
            other => other,
        }
    }

    /// Recreates the group after a NOGROUP answer, logging it once per repair.
    async fn repair(&self, err: &RedisError) {
        tracing::warn!(error = %err, consumer = %self.name, "consumer group missing in Redis; recreating it");
        if let Err(e) = self.ensure_group().await {
            tracing::warn!(error = %e, "could not recreate the consumer group yet");
        }
    }

    /// Reads up to `count` new entries, blocking up to `READ_BLOCK` on a connection of
    /// its own (a blocking read would stall the shared multiplexed connection).
    pub async fn read(&self, count: usize) -> anyhow::Result<Vec<StreamId>> {
        let mut conn = self
            .blocking
            .get()
            .await
            .context("no Redis connection for reading")?;
        conn.set_response_timeout(READ_BLOCK + Duration::from_secs(2));
        let reply: redis::RedisResult<Option<StreamReadReply>> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(CONSUMER_GROUP)
            .arg(&self.name)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(READ_BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(self.keys.stream())
            .arg(">")
            .query_async(&mut *conn)
            .await;
        match reply {
            Ok(reply) => Ok(reply
                .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
                .unwrap_or_default()),
            Err(e) if is_missing_group(&e) => {
                self.repair(&e).await;
                Ok(Vec::new())
            }
            Err(e) => Err(e).context("XREADGROUP failed"),
        }
    }

    /// Takes over up to `count` entries that have been idle longer than `min_idle`
    /// (their worker died, or handed them back), each with the number of times it has now
    /// been handed to a worker. Entries we already own are left out.
    ///
    /// XPENDING's IDLE filter walks the pending list from a cursor kept between calls
    /// (so a long list of live entries cannot hide dead ones) and reports each entry's
    /// delivery count, which XAUTOCLAIM would not; XCLAIM then takes the ones found.
    pub async fn reclaim(
        &self,
        min_idle: Duration,
        count: usize,
    ) -> anyhow::Result<Vec<(StreamId, u64)>> {
        let start = self.cursor().clone();
        let pending: redis::RedisResult<Vec<(String, String, u64, u64)>> = redis::cmd("XPENDING")
            .arg(self.keys.stream())
            .arg(CONSUMER_GROUP)
            .arg("IDLE")
            .arg(min_idle.as_millis() as u64)
            .arg(&start)
            .arg("+")
            .arg(count)
            .query_async(&mut self.redis.clone())
            .await;
        let pending = match pending {
            Ok(pending) => pending,
            Err(e) if is_missing_group(&e) => {
                *self.cursor() = "-".into();
                self.repair(&e).await;
                return Ok(Vec::new());
            }
            Err(e) => return Err(e).context("XPENDING failed"),
        };
        *self.cursor() = match pending.last() {
            Some((last, ..)) if pending.len() >= count => format!("({last}"),
            _ => "-".into(),
        };
        let deliveries: HashMap<String, u64> = {
            let owned = self.owned();
            pending
                .into_iter()
                .filter(|(id, ..)| !owned.contains(id))
                .map(|(id, _, _, delivered)| (id, delivered))
                .collect()
        };
        if deliveries.is_empty() {
            return Ok(Vec::new());
        }
        let claimed: redis::RedisResult<StreamClaimReply> = redis::cmd("XCLAIM")
            .arg(self.keys.stream())
            .arg(CONSUMER_GROUP)
            .arg(&self.name)
            .arg(min_idle.as_millis() as u64)
            .arg(deliveries.keys().collect::<Vec<_>>())
            .query_async(&mut self.redis.clone())
            .await;
        match claimed {
            // XCLAIM counts this hand-over too.
            Ok(reply) => Ok(reply
                .ids
                .into_iter()
                .map(|entry| {
                    let times = deliveries.get(&entry.id).copied().unwrap_or(0) + 1;
                    (entry, times)
                })
                .collect()),
            Err(e) if is_missing_group(&e) => {
                self.repair(&e).await;
                Ok(Vec::new())
            }
            Err(e) => Err(e).context("XCLAIM failed"),
        }
    }

    /// Moves an entry to the dead letters, with why and how often it had been handed to a
    /// worker, in one MULTI (see `dead_letters`).
    pub async fn bury(
        &self,
        id: &str,
        fields: &HashMap<String, redis::Value>,
        reason: &str,
        deliveries: u64,
    ) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        dead_letters::bury(&mut pipe, &self.keys, id, fields, reason, deliveries);
        pipe.query_async::<()>(&mut self.redis.clone()).await
    }

    /// Resets the idle time of every entry we own (XCLAIM … 0 … JUSTID), so no other
    /// worker takes them over while they wait for a permit or an answer.
    pub async fn heartbeat(&self) -> anyhow::Result<()> {
        let ids: Vec<String> = self.owned().iter().cloned().collect();
        for chunk in ids.chunks(1_000) {
            let claimed: redis::RedisResult<redis::Value> = redis::cmd("XCLAIM")
                .arg(self.keys.stream())
                .arg(CONSUMER_GROUP)
                .arg(&self.name)
                .arg(0)
                .arg(chunk)
                .arg("JUSTID")
                .query_async(&mut self.redis.clone())
                .await;
            match claimed {
                Ok(_) => {}
                Err(e) if is_missing_group(&e) => self.repair(&e).await,
                Err(e) => return Err(e).context("XCLAIM heartbeat failed"),
            }
        }
        Ok(())
    }

    /// Acknowledges and deletes a finished entry, atomically.
    pub async fn ack(&self, id: &str) -> redis::RedisResult<()> {
        redis::pipe()
            .atomic()
            .cmd("XACK")
            .arg(self.keys.stream())
            .arg(CONSUMER_GROUP)
            .arg(id)
            .ignore()
            .cmd("XDEL")
            .arg(self.keys.stream())
            .arg(id)
            .ignore()
            .query_async::<()>(&mut self.redis.clone())
            .await
    }

    /// Starts owning an entry (heartbeats include it); `false` if we already did.
    pub fn track(&self, id: &str) -> bool {
        self.owned().insert(id.to_owned())
    }

    pub fn untrack(&self, id: &str) {
        self.owned().remove(id);
    }

    fn cursor(&self) -> MutexGuard<'_, String> {
        self.reclaim_cursor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn owned(&self) -> MutexGuard<'_, HashSet<String>> {
        self.owned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `<hostname>-<pid>-<random>`: unique per process, readable in XINFO CONSUMERS.
fn consumer_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &random[..8])
}
