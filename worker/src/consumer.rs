//! This process's seat in the consumer groups, one group per partition's stream
//! (CONTRACT §16): creating a group, reading new entries, keeping the entries it works
//! on claimed (heartbeat), taking over entries a dead worker left (reclaim), and
//! acknowledging finished ones. Every command names one partition's stream, so it goes
//! to the master that holds that partition.
//!
//! Reads never block: the dispatcher polls the partitions in rounds (`dispatch`), since
//! a blocking read would hold a whole multiplexed connection, and on a cluster the
//! partitions' streams cannot be waited on together (they sit in different slots).
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
use hookrelay_shared::keys::{CONSUMER_GROUP, Keys, Partition};
use hookrelay_shared::redis_client::Redis;

/// An entry as this process holds it: the partition it came from and its stream id.
pub type EntryRef = (Partition, String);

/// Our consumer in the groups, and the entries we currently own.
pub struct Consumer {
    keys: Keys,
    name: String,
    redis: Redis,
    owned: Mutex<HashSet<EntryRef>>,
    /// Per partition, where the next reclaim scan of the pending list starts (`-`, or
    /// `(<id>` after the last id seen): each call looks at a bounded part, so successive
    /// calls walk it all before starting over.
    reclaim_cursors: Mutex<HashMap<Partition, String>>,
}

/// Whether a Redis error means the consumer group (or the whole stream) is gone.
pub fn is_missing_group(err: &RedisError) -> bool {
    err.code() == Some("NOGROUP")
        || err.to_string().contains("NOGROUP")
        || err.to_string().contains("no longer exists")
}

impl Consumer {
    pub fn new(keys: Keys, redis: Redis) -> Arc<Self> {
        Arc::new(Self {
            keys,
            name: consumer_name(),
            redis,
            owned: Mutex::default(),
            reclaim_cursors: Mutex::default(),
        })
    }

    fn stream(&self, partition: Partition) -> String {
        self.keys.partition(partition).stream()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates the partition's group from the start of its stream (`0`, not `$`: the
    /// api may have queued webhooks before any worker existed). An existing group is left
    /// alone.
    pub async fn ensure_group(&self, partition: Partition) -> redis::RedisResult<()> {
        let created = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.stream(partition))
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

    /// Recreates a partition's group after a NOGROUP answer, logging it once per repair.
    async fn repair(&self, partition: Partition, err: &RedisError) {
        tracing::warn!(error = %err, consumer = %self.name, %partition, "consumer group missing in Redis; recreating it");
        if let Err(e) = self.ensure_group(partition).await {
            tracing::warn!(error = %e, "could not recreate the consumer group yet");
        }
    }

    /// Reads up to `count` new entries of `partition`, without waiting for any.
    pub async fn read(&self, partition: Partition, count: usize) -> anyhow::Result<Vec<StreamId>> {
        let reply: redis::RedisResult<Option<StreamReadReply>> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(CONSUMER_GROUP)
            .arg(&self.name)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(self.stream(partition))
            .arg(">")
            .query_async(&mut self.redis.clone())
            .await;
        match reply {
            Ok(reply) => Ok(reply
                .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
                .unwrap_or_default()),
            Err(e) if is_missing_group(&e) => {
                self.repair(partition, &e).await;
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
        partition: Partition,
        min_idle: Duration,
        count: usize,
    ) -> anyhow::Result<Vec<(StreamId, u64)>> {
        let start = self
            .cursors()
            .get(&partition)
            .cloned()
            .unwrap_or_else(|| "-".into());
        let pending: redis::RedisResult<Vec<(String, String, u64, u64)>> = redis::cmd("XPENDING")
            .arg(self.stream(partition))
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
                self.cursors().remove(&partition);
                self.repair(partition, &e).await;
                return Ok(Vec::new());
            }
            Err(e) => return Err(e).context("XPENDING failed"),
        };
        let next = match pending.last() {
            Some((last, ..)) if pending.len() >= count => format!("({last}"),
            _ => "-".into(),
        };
        self.cursors().insert(partition, next);
        let deliveries: HashMap<String, u64> = {
            let owned = self.owned();
            pending
                .into_iter()
                .filter(|(id, ..)| !owned.contains(&(partition, id.clone())))
                .map(|(id, _, _, delivered)| (id, delivered))
                .collect()
        };
        if deliveries.is_empty() {
            return Ok(Vec::new());
        }
        let claimed: redis::RedisResult<StreamClaimReply> = redis::cmd("XCLAIM")
            .arg(self.stream(partition))
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
                self.repair(partition, &e).await;
                Ok(Vec::new())
            }
            Err(e) => Err(e).context("XCLAIM failed"),
        }
    }

    /// Moves an entry to the dead letters, with why and how often it had been handed to a
    /// worker, in one MULTI (see `dead_letters`).
    pub async fn bury(
        &self,
        (partition, id): &EntryRef,
        fields: &HashMap<String, redis::Value>,
        reason: &str,
        deliveries: u64,
    ) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        let keys = self.keys.partition(*partition);
        dead_letters::bury(&mut pipe, &keys, id, fields, reason, deliveries);
        pipe.query_async::<()>(&mut self.redis.clone()).await
    }

    /// Resets the idle time of every entry we own (XCLAIM … 0 … JUSTID, per partition),
    /// so no other worker takes them over while they wait for a permit or an answer.
    pub async fn heartbeat(&self) -> anyhow::Result<()> {
        let mut by_partition: HashMap<Partition, Vec<String>> = HashMap::new();
        for (partition, id) in self.owned().iter() {
            by_partition.entry(*partition).or_default().push(id.clone());
        }
        for (partition, ids) in by_partition {
            for chunk in ids.chunks(1_000) {
                let claimed: redis::RedisResult<redis::Value> = redis::cmd("XCLAIM")
                    .arg(self.stream(partition))
                    .arg(CONSUMER_GROUP)
                    .arg(&self.name)
                    .arg(0)
                    .arg(chunk)
                    .arg("JUSTID")
                    .query_async(&mut self.redis.clone())
                    .await;
                match claimed {
                    Ok(_) => {}
                    Err(e) if is_missing_group(&e) => self.repair(partition, &e).await,
                    Err(e) => return Err(e).context("XCLAIM heartbeat failed"),
                }
            }
        }
        Ok(())
    }

    /// Acknowledges and deletes a finished entry, atomically (one MULTI on its
    /// partition's master).
    pub async fn ack(&self, (partition, id): &EntryRef) -> redis::RedisResult<()> {
        let stream = self.stream(*partition);
        redis::pipe()
            .atomic()
            .cmd("XACK")
            .arg(&stream)
            .arg(CONSUMER_GROUP)
            .arg(id)
            .ignore()
            .cmd("XDEL")
            .arg(&stream)
            .arg(id)
            .ignore()
            .query_async::<()>(&mut self.redis.clone())
            .await
    }

    /// Starts owning an entry (heartbeats include it); `false` if we already did.
    pub fn track(&self, entry: &EntryRef) -> bool {
        self.owned().insert(entry.clone())
    }

    pub fn untrack(&self, entry: &EntryRef) {
        self.owned().remove(entry);
    }

    fn cursors(&self) -> MutexGuard<'_, HashMap<Partition, String>> {
        self.reclaim_cursors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn owned(&self) -> MutexGuard<'_, HashSet<EntryRef>> {
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
