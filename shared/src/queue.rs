//! The entries of the work stream and the api's side of it (ingest).
//!
//! Redis Streams in brief: XADD appends an entry with an id like `1732288642551-0`; a
//! consumer group hands each entry to one consumer (XREADGROUP) and keeps it in the
//! group's pending list until that consumer acknowledges it (XACK). Entries a crashed
//! consumer left pending are taken over by another (XAUTOCLAIM). Acknowledged entries stay
//! in the stream until deleted, so workers XDEL what they have finished.
//!
//! Two kinds of entry share the stream:
//! - `webhook`: a newly ingested webhook — its id, receive time, event type, target
//!   subscription (or none for fan-out) and the body exactly as received;
//! - `retry`: one delivery's next attempt, moved in from the retry schedule when due; the
//!   body is then read from Postgres, where the worker stored it on first sight.
//!
//! A webhook ingested with `X-Deliver-At` in the future is not appended yet: the ingest
//! script keeps its entry in `delayed:<id>` and its id in the `delayed` sorted set, and
//! the worker's mover appends the entry, unchanged, when it comes due
//! (`worker/src/delayed.rs`).
//!
//! The queue is partitioned (CONTRACT §16, `keys`): a webhook's id names its partition,
//! chosen when the id is made ([`new_webhook_id`]), and everything about it (entry,
//! marker, idempotency key, delayed entry) lives in that partition's slot, so the ingest
//! script touches one slot and one Redis master.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use redis::Value;
use uuid::Uuid;

use crate::config::ReplicaWait;
use crate::keys::{IDEMPOTENCY_TTL_SECS, Keys, Partition, PartitionKeys};
use crate::telemetry::Metric;

/// Field names of stream entries.
pub mod field {
    pub const KIND: &str = "kind";
    pub const WEBHOOK_ID: &str = "id";
    pub const SUBSCRIPTION_ID: &str = "sub";
    pub const EVENT_TYPE: &str = "evt";
    pub const RECEIVED_AT: &str = "at";
    pub const BODY: &str = "body";
    pub const ATTEMPT: &str = "attempt";
    /// The tenant the webhook was ingested in; empty for the default space.
    pub const TENANT: &str = "ten";
    /// A subscription fan-out must pass over (an operational event's own subject); empty
    /// for none.
    pub const SKIP: &str = "skip";
    /// A sourced webhook's [`Envelope`](crate::payload::Envelope) as JSON; empty for none.
    pub const ENVELOPE: &str = "env";
    /// In a delayed webhook's `queued:` marker only: when it is due (Unix µs). The mover
    /// removes it as it moves the entry into the stream, so its presence is what makes
    /// status say `scheduled`.
    pub const DELIVER_AT: &str = "due";
}

/// A webhook as ingested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestedWebhook {
    pub webhook_id: Uuid,
    /// `Some` for `POST /ingest/{id}`, `None` for fan-out.
    pub subscription_id: Option<Uuid>,
    pub event_type: Option<String>,
    pub received_at: DateTime<Utc>,
    pub body: bytes::Bytes,
    /// The tenant whose subscriptions it goes to; `None`: the default space.
    pub tenant_id: Option<Uuid>,
    /// A subscription fan-out does not deliver it to: an operational event is never sent
    /// to the subscription it is about (which would loop on a failing receiver).
    pub skip_subscription: Option<Uuid>,
    /// `Some` when it came in through a source: its content type and forwarded headers.
    pub envelope: Option<crate::payload::Envelope>,
}

/// A delivery's next attempt (1-based attempt number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextAttempt {
    pub webhook_id: Uuid,
    pub subscription_id: Uuid,
    pub attempt: u32,
}

impl NextAttempt {
    /// The member of the retry sorted set: `<webhook id>:<subscription id>:<attempt>`.
    pub fn member(&self) -> String {
        format!(
            "{}:{}:{}",
            self.webhook_id, self.subscription_id, self.attempt
        )
    }

    pub fn from_member(member: &str) -> Option<Self> {
        let mut parts = member.split(':');
        let job = NextAttempt {
            webhook_id: parts.next()?.parse().ok()?,
            subscription_id: parts.next()?.parse().ok()?,
            attempt: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(job)
    }
}

/// Puts `job` into the retry schedule of its webhook's home partition (`Keys::home`),
/// due at `due`; the worker's mover moves it into that partition's stream when that
/// comes. Idempotent: scheduling the same job again only (re)sets its due time.
pub async fn schedule_retry(
    conn: &mut impl redis::aio::ConnectionLike,
    keys: &Keys,
    job: &NextAttempt,
    due: DateTime<Utc>,
) -> redis::RedisResult<()> {
    redis::cmd("ZADD")
        .arg(keys.home(job.webhook_id).retry_schedule())
        // Rounded up: a retry must never start before its due time.
        .arg(crate::time::due_millis(&due))
        .arg(job.member())
        .query_async::<()>(conn)
        .await
}

/// One decoded stream entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Webhook(IngestedWebhook),
    Retry(NextAttempt),
}

#[derive(Debug, thiserror::Error)]
#[error("malformed stream entry: {0}")]
pub struct MalformedEntry(pub String);

impl Entry {
    /// Decodes the field map of an entry as XREADGROUP returns it. The body is moved out
    /// of the map (not copied), and only once every other field has decoded: an entry
    /// that does not decode keeps its fields, for the dead-letter stream.
    pub fn decode(fields: &mut HashMap<String, Value>) -> Result<Self, MalformedEntry> {
        let bytes = |name: &str| -> Option<Vec<u8>> {
            match fields.get(name)? {
                Value::BulkString(b) => Some(b.clone()),
                Value::SimpleString(s) => Some(s.clone().into_bytes()),
                _ => None,
            }
        };
        let text = |name: &str| bytes(name).and_then(|b| String::from_utf8(b).ok());
        let uuid = |name: &str| -> Result<Uuid, MalformedEntry> {
            text(name)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| MalformedEntry(format!("field {name} is not a UUID")))
        };
        match text(field::KIND).as_deref() {
            Some("webhook") => {
                let micros: i64 = text(field::RECEIVED_AT)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| MalformedEntry("field at is not a number".into()))?;
                let webhook_id = uuid(field::WEBHOOK_ID)?;
                let optional_uuid = |name: &str| {
                    text(name)
                        .filter(|s| !s.is_empty())
                        .map(|s| s.parse())
                        .transpose()
                        .map_err(|_| MalformedEntry(format!("field {name} is not a UUID")))
                };
                let subscription_id = optional_uuid(field::SUBSCRIPTION_ID)?;
                // Entries queued before tenants existed have no field: the default space.
                let tenant_id = optional_uuid(field::TENANT)?;
                let skip_subscription = optional_uuid(field::SKIP)?;
                let event_type = text(field::EVENT_TYPE).filter(|s| !s.is_empty());
                // Entries queued before sources existed have no field: no envelope.
                let envelope = text(field::ENVELOPE)
                    .filter(|s| !s.is_empty())
                    .map(|s| crate::payload::Envelope::from_json(&s))
                    .transpose()
                    .map_err(|e| MalformedEntry(format!("field env is not an envelope: {e}")))?;
                let body = match fields.remove(field::BODY) {
                    Some(Value::BulkString(b)) => bytes::Bytes::from(b),
                    Some(other) => {
                        fields.insert(field::BODY.to_owned(), other);
                        return Err(MalformedEntry("the body is not a string".into()));
                    }
                    None => return Err(MalformedEntry("no body".into())),
                };
                Ok(Entry::Webhook(IngestedWebhook {
                    webhook_id,
                    subscription_id,
                    event_type,
                    received_at: crate::time::from_micros(micros),
                    body,
                    tenant_id,
                    skip_subscription,
                    envelope,
                }))
            }
            Some("retry") => Ok(Entry::Retry(NextAttempt {
                webhook_id: uuid(field::WEBHOOK_ID)?,
                subscription_id: uuid(field::SUBSCRIPTION_ID)?,
                attempt: text(field::ATTEMPT)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| MalformedEntry("field attempt is not a number".into()))?,
            })),
            other => Err(MalformedEntry(format!("unknown kind {other:?}"))),
        }
    }
}

/// Makes the id of a new webhook, which names its partition (`keys::partition_of`):
/// chosen from `affinity` when there is one (an ordering or idempotency key: the same
/// key always lands in the same partition while `QUEUE_PARTITIONS` stays), else at
/// random, which spreads webhooks evenly. Every webhook id is made here.
pub fn new_webhook_id(keys: &Keys, affinity: Option<&[u8]>) -> Uuid {
    use sha2::Digest as _;
    let id = Uuid::now_v7();
    let spread = match affinity {
        Some(affinity) => {
            let digest = sha2::Sha256::digest(affinity);
            u64::from_be_bytes(digest[..8].try_into().unwrap_or_default())
        }
        None => rand::random::<u64>(),
    };
    let partition = (spread % u64::from(keys.partitions())) as u16;
    crate::keys::with_partition(id, partition)
}

/// Appends a webhook to its partition's stream, records its `queued` marker and claims
/// its idempotency key, all in one atomic step, or returns the webhook id that already
/// holds the key. Every key is in the webhook's partition. KEYS: stream, queued marker,
/// [delayed set, delayed entry], [idempotency key]. ARGV: id, sub, evt, at, body,
/// idempotency TTL, tenant, skip, envelope, [due time (Unix ms, rounded up), deliver_at
/// (Unix µs)].
///
/// A delayed webhook (the two last ARGV, and the two delayed KEYS, are there) is not
/// appended: the same entry goes into its `delayed:<id>` hash and its id into the
/// `delayed` set, and its marker records `due`; the mover appends it when due. The
/// entry's fields are listed once, for both.
///
/// The marker has no expiry: it lives exactly as long as its entry is unprocessed (the
/// worker deletes it once the webhook is in Postgres, and dead-letter removal deletes it
/// too), so however long a webhook waits in the queue, status can answer for it and the
/// worker can tell a first run from a late re-run of a webhook already purged.
const INGEST_SCRIPT: &str = r"
local delayed = ARGV[10] ~= nil
local idem = KEYS[delayed and 5 or 3]
if idem then
  local existing = redis.call('GET', idem)
  if existing then
    -- A write (the same value, the same expiry), so a WAIT after this script covers
    -- everything written before it, the first request's entry included.
    redis.call('SET', idem, existing, 'KEEPTTL')
    return {0, existing}
  end
end
local entry = {'kind', 'webhook', 'id', ARGV[1], 'sub', ARGV[2], 'evt', ARGV[3], 'at', ARGV[4], 'body', ARGV[5], 'ten', ARGV[7], 'skip', ARGV[8]}
if ARGV[9] ~= '' then
  entry[#entry + 1] = 'env'
  entry[#entry + 1] = ARGV[9]
end
redis.call('HSET', KEYS[2], 'evt', ARGV[3], 'sub', ARGV[2], 'at', ARGV[4], 'ten', ARGV[7])
if delayed then
  redis.call('HSET', KEYS[4], unpack(entry))
  redis.call('ZADD', KEYS[3], ARGV[10], ARGV[1])
  redis.call('HSET', KEYS[2], 'due', ARGV[11])
else
  redis.call('XADD', KEYS[1], '*', unpack(entry))
end
if idem then redis.call('SET', idem, ARGV[1], 'EX', ARGV[6]) end
return {1, ARGV[1]}
";

/// What `enqueue` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Queued now under this id.
    New(Uuid),
    /// The idempotency key was seen before; nothing was queued.
    Replayed(Uuid),
}

impl Enqueued {
    /// The webhook id, new or replayed.
    pub const fn webhook_id(self) -> Uuid {
        match self {
            Self::New(id) | Self::Replayed(id) => id,
        }
    }
}

/// Fewer replicas than `REDIS_WAIT_REPLICAS` had the entry when `REDIS_WAIT_TIMEOUT` ran
/// out: the ingest is not acknowledged (the entry may still be delivered).
pub const TOO_FEW_REPLICAS: &str = "too few Redis replicas acknowledged the write in time";

/// The ingest script, loaded once per process (run by its hash, EVALSHA, and loaded
/// when the server does not know it yet).
#[derive(Clone)]
pub struct IngestQueue {
    keys: Keys,
    script: std::sync::Arc<redis::Script>,
    wait: Option<ReplicaWait>,
}

impl IngestQueue {
    pub fn new(keys: Keys) -> Self {
        Self {
            keys,
            script: std::sync::Arc::new(redis::Script::new(INGEST_SCRIPT)),
            wait: None,
        }
    }

    /// Queues with replica acknowledgement (`None` or 0 replicas: without).
    #[must_use]
    pub fn waiting_for(mut self, wait: Option<ReplicaWait>) -> Self {
        self.wait = wait.filter(|w| w.replicas > 0);
        self
    }

    /// The key names this queue writes under.
    pub const fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Queues a webhook durably (Redis has acknowledged the write when this returns Ok).
    pub async fn enqueue<C: redis::aio::ConnectionLike>(
        &self,
        conn: &mut C,
        webhook: &IngestedWebhook,
        idempotency_key: Option<&str>,
    ) -> redis::RedisResult<Enqueued> {
        self.enqueue_at(conn, webhook, idempotency_key, None).await
    }

    /// Queues a webhook durably, for delivery at `deliver_at` when that is `Some` (a time
    /// in the future: the caller has made a past one `None`), else now. One round trip
    /// (two when Redis has not seen the script yet), to the webhook's partition.
    pub async fn enqueue_at<C: redis::aio::ConnectionLike>(
        &self,
        conn: &mut C,
        webhook: &IngestedWebhook,
        idempotency_key: Option<&str>,
        deliver_at: Option<DateTime<Utc>>,
    ) -> redis::RedisResult<Enqueued> {
        let keys = self.keys.origin(webhook.webhook_id);
        let mut pipe = redis::pipe();
        let eval = pipe.cmd("EVALSHA").arg(self.script.get_hash());
        let mut names = vec![keys.stream(), keys.queued(webhook.webhook_id)];
        if deliver_at.is_some() {
            names.push(keys.delayed());
            names.push(keys.delayed_entry(webhook.webhook_id));
        }
        if let Some(key) = idempotency_key {
            names.push(keys.idempotency(webhook.tenant_id, key));
        }
        eval.arg(names.len()).arg(names);
        eval.arg(webhook.webhook_id.to_string())
            .arg(
                webhook
                    .subscription_id
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
            )
            .arg(webhook.event_type.as_deref().unwrap_or_default())
            .arg(webhook.received_at.timestamp_micros())
            .arg(webhook.body.as_ref())
            .arg(IDEMPOTENCY_TTL_SECS)
            .arg(webhook.tenant_id.map(|t| t.to_string()).unwrap_or_default())
            .arg(
                webhook
                    .skip_subscription
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
            )
            .arg(
                webhook
                    .envelope
                    .as_ref()
                    .map(crate::payload::Envelope::to_json)
                    .unwrap_or_default(),
            );
        if let Some(at) = deliver_at {
            eval.arg(crate::time::due_millis(&at))
                .arg(at.timestamp_micros());
        }
        if let Some(wait) = self.wait {
            pipe.cmd("WAIT")
                .arg(wait.replicas)
                .arg(u64::try_from(wait.timeout.as_millis()).unwrap_or(u64::MAX));
        }
        // Errors are not ignored: on a cluster, a MOVED or ASK answer is what makes the
        // client follow a slot to its new master, and NOSCRIPT is the one to handle here.
        let reply: Vec<Value> = match pipe.query_async(conn).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                self.script.load_async(conn).await?;
                pipe.query_async(conn).await?
            }
            other => other?,
        };
        let mut reply = reply.into_iter();
        let (created, id): (i64, String) =
            redis::from_redis_value(reply.next().unwrap_or(Value::Nil))?;
        if let Some(wait) = self.wait {
            let acknowledged: i64 = redis::from_redis_value(reply.next().unwrap_or(Value::Nil))?;
            // A replayed key too: the first request may have had a 503 from its WAIT.
            if acknowledged < i64::from(wait.replicas) {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    TOO_FEW_REPLICAS,
                    format!("{acknowledged} of {} replicas", wait.replicas),
                )));
            }
        }
        let id: Uuid = id.parse().map_err(|_| {
            redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "idempotency key holds something other than a webhook id",
            ))
        })?;
        Ok(if created == 1 {
            Enqueued::New(id)
        } else {
            Enqueued::Replayed(id)
        })
    }
}

/// The `queued:` marker of a webhook that no worker has stored yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMarker {
    pub subscription_id: Option<Uuid>,
    pub tenant_id: Option<Uuid>,
    pub event_type: Option<String>,
    pub received_at: DateTime<Utc>,
    /// `Some` while a delayed webhook waits for its time (`X-Deliver-At`).
    pub deliver_at: Option<DateTime<Utc>>,
}

impl QueuedMarker {
    /// Reads the marker, from the webhook's partition or else from the unpartitioned
    /// layout of older versions; `None` when there is none (unknown, or already stored).
    pub async fn fetch<C: redis::aio::ConnectionLike>(
        conn: &mut C,
        keys: &Keys,
        webhook_id: Uuid,
    ) -> redis::RedisResult<Option<Self>> {
        match Self::fetch_from(conn, &keys.origin(webhook_id), webhook_id).await? {
            Some(found) => Ok(Some(found)),
            None => {
                let before = keys.partition(Partition::Unpartitioned);
                Self::fetch_from(conn, &before, webhook_id).await
            }
        }
    }

    async fn fetch_from<C: redis::aio::ConnectionLike>(
        conn: &mut C,
        keys: &PartitionKeys,
        webhook_id: Uuid,
    ) -> redis::RedisResult<Option<Self>> {
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(keys.queued(webhook_id))
            .query_async(conn)
            .await?;
        let Some(at) = fields.get(field::RECEIVED_AT).and_then(|s| s.parse().ok()) else {
            return Ok(None);
        };
        Ok(Some(QueuedMarker {
            subscription_id: fields
                .get(field::SUBSCRIPTION_ID)
                .and_then(|s| s.parse().ok()),
            tenant_id: fields.get(field::TENANT).and_then(|s| s.parse().ok()),
            event_type: fields
                .get(field::EVENT_TYPE)
                .filter(|s| !s.is_empty())
                .cloned(),
            received_at: crate::time::from_micros(at),
            deliver_at: fields
                .get(field::DELIVER_AT)
                .and_then(|s| s.parse().ok())
                .map(crate::time::from_micros),
        }))
    }
}

/// The queue depths, `{queue}` one of [`QueueDepths::labelled`]: each process reads them
/// and sets this gauge (the api at scrape time, a worker every few seconds). The help is
/// the worker's; the api says when it reads them.
pub const DEPTH: Metric = Metric::gauge(
    "hookrelay_queue_depth",
    "Stream entries ready and in flight, retries scheduled, delayed webhooks waiting, and dead letters",
);

/// How much work the queue holds, as both binaries' `/metrics` report it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepths {
    /// Entries in the stream that no worker has taken yet.
    pub ready: u64,
    /// Entries a worker has taken and not yet acknowledged.
    pub in_flight: u64,
    /// Retries waiting in the retry schedule for their time (label `scheduled`, an
    /// external name kept from before `/status` used `scheduled` for delayed webhooks).
    pub retries: u64,
    /// Webhooks ingested with `X-Deliver-At`, waiting for their time (status `scheduled`).
    pub delayed: u64,
    /// Entries given up on, waiting in the dead letters for an operator.
    pub dead: u64,
}

impl QueueDepths {
    /// Each depth with its `queue` label value in [`DEPTH`].
    pub fn labelled(&self) -> [(&'static str, u64); 5] {
        [
            ("ready", self.ready),
            ("in_flight", self.in_flight),
            ("scheduled", self.retries),
            ("delayed", self.delayed),
            ("dead", self.dead),
        ]
    }
}

impl std::ops::AddAssign for QueueDepths {
    fn add_assign(&mut self, other: Self) {
        self.ready += other.ready;
        self.in_flight += other.in_flight;
        self.retries += other.retries;
        self.delayed += other.delayed;
        self.dead += other.dead;
    }
}

/// Raises the layout key to `ARGV[1]` when it is lower; returns its value. KEYS: layout.
const RECORD_LAYOUT: &str = r"
local ever = tonumber(redis.call('GET', KEYS[1]) or '0')
local mine = tonumber(ARGV[1])
if ever < mine then
  redis.call('SET', KEYS[1], mine)
  return mine
end
return ever
";

/// Records that this process queues into `keys.partitions()` partitions (at start), and
/// returns the most partitions any process of the deployment has used.
pub async fn record_layout<C: redis::aio::ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
) -> redis::RedisResult<u16> {
    redis::Script::new(RECORD_LAYOUT)
        .key(keys.layout())
        .arg(keys.partitions())
        .invoke_async(conn)
        .await
}

/// The partitions that may hold work: every partition any process has queued into
/// (`0..max(QUEUE_PARTITIONS, the layout key)`), then the unpartitioned layout of
/// versions before partitions.
pub async fn served_partitions<C: redis::aio::ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
) -> redis::RedisResult<Vec<Partition>> {
    let ever: Option<u16> = redis::cmd("GET")
        .arg(keys.layout())
        .query_async(conn)
        .await?;
    Ok(partitions_up_to(keys, ever.unwrap_or(0)))
}

/// `0..max(QUEUE_PARTITIONS, ever)`, then the unpartitioned layout.
pub fn partitions_up_to(keys: &Keys, ever: u16) -> Vec<Partition> {
    let count = ever.clamp(keys.partitions(), crate::keys::MAX_PARTITIONS);
    (0..count)
        .map(Partition::Numbered)
        .chain([Partition::Unpartitioned])
        .collect()
}

/// One partition's depths in one script (so one slot, one round trip, and on a cluster
/// the client follows a moved slot as for any command): XLEN of the stream and of the
/// dead letters, ZCARD of the retry schedule and of the delayed webhooks, and the
/// consumer group's pending count (XPENDING summary; before any worker has created the
/// group, nothing is in flight). KEYS: stream, retry schedule, delayed set, dead letters.
/// ARGV: the group.
const DEPTHS_SCRIPT: &str = r"
local ok, summary = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1])
local pending = 0
if ok then pending = summary[1] end
return {redis.call('XLEN', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]),
        redis.call('XLEN', KEYS[4]), pending}
";

/// Reads one partition's depths ([`DEPTHS_SCRIPT`]).
pub async fn partition_depths<C: redis::aio::ConnectionLike>(
    conn: &mut C,
    keys: &PartitionKeys,
) -> redis::RedisResult<QueueDepths> {
    static SCRIPT: std::sync::LazyLock<redis::Script> =
        std::sync::LazyLock::new(|| redis::Script::new(DEPTHS_SCRIPT));
    let (length, retries, delayed, dead, in_flight): (u64, u64, u64, u64, u64) = SCRIPT
        .key(keys.stream())
        .key(keys.retry_schedule())
        .key(keys.delayed())
        .key(keys.dead_letters())
        .arg(crate::keys::CONSUMER_GROUP)
        .invoke_async(conn)
        .await?;
    Ok(QueueDepths {
        // Acknowledged entries are deleted at once, so what is not pending is ready.
        ready: length.saturating_sub(in_flight),
        in_flight,
        retries,
        delayed,
        dead,
    })
}

/// Every served partition's depths ([`served_partitions`]), read concurrently (one
/// round trip each, pipelined on one connection or spread over a cluster's masters).
pub async fn queue_depths<C>(
    conn: &mut C,
    keys: &Keys,
) -> redis::RedisResult<Vec<(Partition, QueueDepths)>>
where
    C: redis::aio::ConnectionLike + Clone + Send,
{
    let partitions = served_partitions(conn, keys).await?;
    futures::future::try_join_all(partitions.into_iter().map(|partition| {
        let mut conn = conn.clone();
        async move {
            let depths = partition_depths(&mut conn, &keys.partition(partition)).await?;
            Ok::<_, redis::RedisError>((partition, depths))
        }
    }))
    .await
}

/// The sum of per-partition depths.
pub fn total(depths: &[(Partition, QueueDepths)]) -> QueueDepths {
    let mut sum = QueueDepths::default();
    for (_, depths) in depths {
        sum += *depths;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_members_round_trip() {
        let job = NextAttempt {
            webhook_id: Uuid::new_v4(),
            subscription_id: Uuid::new_v4(),
            attempt: 3,
        };
        assert_eq!(NextAttempt::from_member(&job.member()), Some(job));
        assert_eq!(NextAttempt::from_member("x:y:1"), None);
        assert_eq!(
            NextAttempt::from_member(&format!("{}:extra", job.member())),
            None
        );
    }

    #[test]
    fn webhook_entries_decode_with_the_body_untouched() {
        let id = Uuid::new_v4();
        let body = b"{ \"b\": 1,  \"a\": [\xc3\xa9] }".to_vec();
        let mut fields: HashMap<String, Value> = [
            (field::KIND, b"webhook".to_vec()),
            (field::WEBHOOK_ID, id.to_string().into_bytes()),
            (field::SUBSCRIPTION_ID, Vec::new()),
            (field::EVENT_TYPE, b"order.created".to_vec()),
            (field::RECEIVED_AT, b"1795014242551966".to_vec()),
            (field::BODY, body.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::BulkString(v)))
        .collect();
        let Entry::Webhook(webhook) = Entry::decode(&mut fields).expect("decodes") else {
            panic!("a webhook entry");
        };
        assert_eq!(webhook.webhook_id, id);
        assert_eq!(webhook.subscription_id, None);
        assert_eq!(webhook.event_type.as_deref(), Some("order.created"));
        assert_eq!(webhook.body.as_ref(), body.as_slice());
    }
}
