//! The only place Redis key, stream and group names are built.
//!
//! Every key starts with `<REDIS_KEY_PREFIX>:` (CONTRACT §1: `SCAN MATCH hookrelay:*` finds
//! a deployment's keys) and carries one Redis Cluster hash tag, the text in braces, which
//! decides the key's slot. Three kinds of tag:
//!
//! - **a partition's** (CONTRACT §16): the queue is split into `QUEUE_PARTITIONS`
//!   partitions, and each partition's keys share one tag, `{q<n>-<k>}`, so the Lua
//!   scripts and MULTIs that touch several of them at once (ingest, retry and delay
//!   moves, acknowledgement, dead-lettering) stay legal on a cluster. Partition `n`'s tag
//!   is found ([`partition_tag`]) so that its slot lies in the `rev(n)`-th of 1,024
//!   equal slot ranges, `rev` reversing `n`'s ten bits: the first 2, 4, 8, 16… partitions
//!   fall evenly over the slot space, so masters that own equal slot ranges own equal
//!   shares of partitions. A partition's tag never depends on how many partitions there
//!   are, so changing `QUEUE_PARTITIONS` keeps every existing partition where it is;
//! - **the deployment's**, `{<prefix>}`: the few keys every process shares (cache
//!   versions and change logs, locks, the layout, console sessions). It is also the tag
//!   of the [`Partition::Unpartitioned`] queue, the single-slot layout of versions before
//!   partitions, which workers drain so an upgrade loses nothing;
//! - **a row's**: rate-limiter state, one key per subscription or source, tagged by its
//!   id, so throttled traffic spreads over the cluster too.
//!
//! A webhook's partition is part of its id: the low ten bits of the random part of its
//! UUID (v7) ([`partition_of`]). So anything that knows a webhook id (status, replay,
//! the reconciler) finds its partition's keys without asking Redis.
//!
//! | key (after the prefix) | type | written by | removed by |
//! |---|---|---|---|
//! | `{q}:ingest` | stream | api (webhooks), worker (due retries and delayed webhooks) | worker: XACK + XDEL when an entry is done |
//! | `{q}:idem:<key>`, `{q}:idem-tenant:<tenant id>:<key>` | string → webhook id (default space, tenants), in the partition the key chooses | api | expires after 24 h |
//! | `{q}:queued:<webhook id>` | hash (status before a worker saw it) | api | worker once the webhook is in Postgres (or the api, when its dead letter is deleted); no expiry, so it lives as long as its entry |
//! | `{q}:retry` | sorted set, score = due time (ms) | worker | worker, when the retry is moved into `ingest` |
//! | `{q}:delayed` | sorted set of webhook ids, score = due time (ms): webhooks ingested with `X-Deliver-At` | api | worker, when the webhook is moved into `ingest` |
//! | `{q}:delayed:<webhook id>` | hash: a delayed webhook's stream entry, waiting | api, with `delayed` | worker, with the move |
//! | `{q}:dead` | stream | worker (entries it gave up on, with the reason) | api: redrive or DELETE /dead-letters/{id} |
//! | `{d}:partitions` | integer: the most partitions any process has used | api and worker at start | never |
//! | `{d}:<cache>:version` | counter | api on every change of a cached table (`subs`, `tenants`, `apikeys`) | never (one small key each) |
//! | `{d}:<cache>:changes` | sorted set `<version>:<row key>`, score = version | api with every bump | trimmed to the last `CHANGE_LOG_LENGTH` |
//! | `{d}:purge:lock` | string with expiry | worker running a purge | expiry or the holder |
//! | `{d}:reconcile:lock` | string with expiry | worker running a reconciliation pass | expiry or the holder |
//! | `{d}:console:<session id>` | string: a console session (the key's digest and prefix, the CSRF token) | api, at sign-in | sign-out, or expiry (`CONSOLE_SESSION_TTL_SECS`) |
//! | `throttle:{<subscription id>}` | hash `tat`, `wake` (µs of Redis's clock): the rate limiter's state | worker, for subscriptions with a `rate_limit` | expiry, set to when it stops constraining anything |
//! | `inbound-limit:{<source id>}` | string `tat` (µs of Redis's clock): a source's `rate_limit` state | api, for sources with a `rate_limit` | expiry, when it stops constraining anything |
//!
//! (`{q}`: a partition's tag; `{d}`: the deployment's.)

use std::sync::OnceLock;

use uuid::Uuid;

/// The consumer group every worker reads each partition's `ingest` through.
pub const CONSUMER_GROUP: &str = "workers";

/// Most partitions a deployment may have (CONTRACT §16): a partition's number fits in
/// the ten bits of a webhook id that hold it.
pub const MAX_PARTITIONS: u16 = 1024;

/// `QUEUE_PARTITIONS`' default.
pub const DEFAULT_PARTITIONS: u16 = 16;

/// The bits of a webhook id that hold its partition's number.
const PARTITION_BITS: u128 = (MAX_PARTITIONS as u128) - 1;

/// Redis Cluster's slots.
const SLOTS: u16 = 16_384;

/// How long a console session lasts after sign-in (8 hours: a working day, then sign in
/// again).
pub const CONSOLE_SESSION_TTL_SECS: u64 = 8 * 3600;

/// How long an `Idempotency-Key` is remembered (CONTRACT §4: 24 hours).
pub const IDEMPOTENCY_TTL_SECS: u64 = 24 * 3600;

/// The cached tables' names in their keys (`<cache>:version`, `<cache>:changes`): each is
/// one `cache::Cached::NAME`.
pub const SUBSCRIPTIONS_CACHE: &str = "subs";
/// See [`SUBSCRIPTIONS_CACHE`].
pub const TENANTS_CACHE: &str = "tenants";
/// See [`SUBSCRIPTIONS_CACHE`].
pub const API_KEYS_CACHE: &str = "apikeys";
/// See [`SUBSCRIPTIONS_CACHE`].
pub const SOURCES_CACHE: &str = "sources";

/// One part of the queue: its own stream, retry and delayed sets, markers, idempotency
/// keys and dead letters, all in one hash slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Partition {
    /// Partition `n` (`0..MAX_PARTITIONS`).
    Numbered(u16),
    /// The queue as it was before partitions: one slot under the deployment's tag.
    /// Nothing new goes there; workers drain what an older version left.
    Unpartitioned,
}

impl Partition {
    /// Its `partition` label in metrics and its part of a dead letter's id.
    pub fn label(self) -> String {
        match self {
            Self::Numbered(n) => n.to_string(),
            Self::Unpartitioned => "unpartitioned".into(),
        }
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

/// The partition a webhook id names (see the module docs).
pub const fn partition_of(webhook_id: Uuid) -> Partition {
    Partition::Numbered((webhook_id.as_u128() & PARTITION_BITS) as u16)
}

/// `id` with its partition bits set to `partition` (`< MAX_PARTITIONS`). The bits are
/// random bits of a v7 id, so it stays a valid, time-ordered UUID.
pub const fn with_partition(id: Uuid, partition: u16) -> Uuid {
    Uuid::from_u128((id.as_u128() & !PARTITION_BITS) | (partition as u128 & PARTITION_BITS))
}

/// The Redis Cluster slot of a key whose hash tag, or whole name, is `tag`: CRC16
/// (XMODEM) modulo 16,384, as the cluster specification defines it.
pub fn slot_of(tag: &str) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(tag.as_bytes()) % SLOTS
}

/// Partition `n`'s hash tag (without braces): `q<n>-<k>`, the first `k` whose slot lies
/// in the slot range `rev(n)` of 1,024 (see the module docs). Found once per process.
pub fn partition_tag(n: u16) -> &'static str {
    static TAGS: OnceLock<Vec<OnceLock<String>>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| (0..MAX_PARTITIONS).map(|_| OnceLock::new()).collect());
    tags[usize::from(n % MAX_PARTITIONS)].get_or_init(|| {
        let width = SLOTS / MAX_PARTITIONS;
        let range = ((n % MAX_PARTITIONS).reverse_bits() >> 6) * width;
        (0_u32..)
            .map(|k| format!("q{n}-{k}"))
            .find(|tag| (range..range + width).contains(&slot_of(tag)))
            .expect("every slot range is hit by some tag")
    })
}

#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
    /// `<prefix>:{<prefix>}`: what the deployment's shared keys start with.
    tag: String,
    /// `QUEUE_PARTITIONS`: how many partitions new work goes to.
    partitions: u16,
}

impl Keys {
    /// The keys of deployment `prefix` with the default number of partitions.
    pub fn new(prefix: &str) -> Self {
        Self::partitioned(prefix, DEFAULT_PARTITIONS)
    }

    /// The keys of deployment `prefix` whose new work goes to `partitions` partitions
    /// (`1..=MAX_PARTITIONS`).
    pub fn partitioned(prefix: &str, partitions: u16) -> Self {
        Self {
            prefix: prefix.to_owned(),
            tag: format!("{prefix}:{{{prefix}}}"),
            partitions: partitions.clamp(1, MAX_PARTITIONS),
        }
    }

    /// A pattern that matches every key of this deployment (for SCAN or KEYS).
    pub fn pattern(&self) -> String {
        format!("{}:*", self.prefix)
    }

    /// `QUEUE_PARTITIONS`.
    pub const fn partitions(&self) -> u16 {
        self.partitions
    }

    /// The partitions new work goes to, `0..QUEUE_PARTITIONS`.
    pub fn active(&self) -> impl Iterator<Item = Partition> + use<> {
        (0..self.partitions).map(Partition::Numbered)
    }

    /// The names of partition `partition`'s keys.
    pub fn partition(&self, partition: Partition) -> PartitionKeys {
        PartitionKeys {
            partition,
            tag: match partition {
                Partition::Numbered(n) => format!("{}:{{{}}}", self.prefix, partition_tag(n)),
                Partition::Unpartitioned => self.tag.clone(),
            },
        }
    }

    /// The keys of the partition webhook `webhook_id` was queued in: where its `queued:`
    /// marker, its idempotency key and its entries live.
    pub fn origin(&self, webhook_id: Uuid) -> PartitionKeys {
        self.partition(partition_of(webhook_id))
    }

    /// The partition a webhook's next work (a retry, a replay) goes to: the one it was
    /// queued in while that still takes new work, else one that does (after
    /// `QUEUE_PARTITIONS` shrank, or for a webhook queued before partitions existed).
    pub fn home(&self, webhook_id: Uuid) -> PartitionKeys {
        match partition_of(webhook_id) {
            Partition::Numbered(n) => self.partition(Partition::Numbered(n % self.partitions)),
            other => self.partition(other),
        }
    }

    /// `id` as a webhook id of one of the partitions new work goes to: unchanged when
    /// its partition bits name one, else with them reduced to one (for ids made apart
    /// from the queue).
    pub fn placed(&self, id: Uuid) -> Uuid {
        match partition_of(id) {
            Partition::Numbered(n) if n >= self.partitions => {
                with_partition(id, n % self.partitions)
            }
            _ => id,
        }
    }

    /// The most partitions any process of this deployment has used, so workers keep
    /// serving partitions a process with a larger `QUEUE_PARTITIONS` wrote to.
    pub fn layout(&self) -> String {
        format!("{}:partitions", self.tag)
    }

    /// Bumped on every change of the rows cached as `name` (`cache::Cached::NAME`);
    /// caches reload when it moves.
    pub fn cache_version(&self, name: &str) -> String {
        format!("{}:{name}:version", self.tag)
    }

    /// Which row each version bump of cache `name` was about, so caches reload only what
    /// changed.
    pub fn cache_changes(&self, name: &str) -> String {
        format!("{}:{name}:changes", self.tag)
    }

    /// Held (with an expiry) by the one worker running a scheduled purge.
    pub fn purge_lock(&self) -> String {
        format!("{}:purge:lock", self.tag)
    }

    /// Held (with an expiry) by the one worker running a reconciliation pass.
    pub fn reconcile_lock(&self) -> String {
        format!("{}:reconcile:lock", self.tag)
    }

    /// The rate limiter's state for one subscription with a `rate_limit`: when its next
    /// attempt may start, and the last turn handed to a waiting one.
    pub fn throttle(&self, subscription_id: Uuid) -> String {
        format!("{}:throttle:{{{subscription_id}}}", self.prefix)
    }

    /// The inbound rate limiter's state for one source with a `rate_limit`, shared by
    /// every api process.
    pub fn inbound_limit(&self, source_id: Uuid) -> String {
        format!("{}:inbound-limit:{{{source_id}}}", self.prefix)
    }

    /// A console session, by its random id (the cookie's value).
    pub fn console_session(&self, session_id: &str) -> String {
        format!("{}:console:{session_id}", self.tag)
    }
}

/// The keys of one partition.
#[derive(Debug, Clone)]
pub struct PartitionKeys {
    partition: Partition,
    /// `<prefix>:{<tag>}`: what every key of the partition starts with.
    tag: String,
}

impl PartitionKeys {
    pub const fn partition(&self) -> Partition {
        self.partition
    }

    /// The stream of work: ingested webhooks and retries that have come due.
    pub fn stream(&self) -> String {
        format!("{}:ingest", self.tag)
    }

    /// `Idempotency-Key` → the first request's webhook id, per tenant space: the same key
    /// sent in two tenants names two webhooks. The default space keeps the plain form;
    /// tenants' keys live under another name, so no key sent in one space can collide
    /// with one sent in another, whatever characters it holds.
    pub fn idempotency(&self, tenant: Option<Uuid>, key: &str) -> String {
        match tenant {
            None => format!("{}:idem:{key}", self.tag),
            Some(tenant) => format!("{}:idem-tenant:{tenant}:{key}", self.tag),
        }
    }

    /// What status needs to know about a webhook no worker has stored yet.
    pub fn queued(&self, webhook_id: Uuid) -> String {
        format!("{}{webhook_id}", self.queued_prefix())
    }

    /// What every `queued:` marker's key starts with (for scripts that build one).
    pub fn queued_prefix(&self) -> String {
        format!("{}:queued:", self.tag)
    }

    /// Retries waiting for their time, scored by due time in Unix milliseconds.
    pub fn retry_schedule(&self) -> String {
        format!("{}:retry", self.tag)
    }

    /// Webhooks ingested with `X-Deliver-At`, waiting for their time: webhook ids scored
    /// by due time in Unix milliseconds (rounded up).
    pub fn delayed(&self) -> String {
        format!("{}:delayed", self.tag)
    }

    /// A delayed webhook's stream entry, until it moves into the stream.
    pub fn delayed_entry(&self, webhook_id: Uuid) -> String {
        format!("{}{webhook_id}", self.delayed_entry_prefix())
    }

    /// What every `delayed:<webhook id>` key starts with (for the script that moves them).
    pub fn delayed_entry_prefix(&self) -> String {
        format!("{}:delayed:", self.tag)
    }

    /// Dead letters: stream entries a worker gave up on (undecodable, or redelivered more
    /// than `MAX_ENTRY_REDELIVERIES` times), each with the original fields and the reason.
    pub fn dead_letters(&self) -> String {
        format!("{}:dead", self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text Redis Cluster hashes: between the first `{` and the next `}`.
    fn hash_tag(key: &str) -> Option<&str> {
        key.split_once('{')
            .and_then(|(_, rest)| rest.split_once('}'))
            .map(|(tag, _)| tag)
    }

    #[test]
    fn every_key_starts_with_the_prefix_and_carries_one_hash_tag() {
        let keys = Keys::new("tenant-a");
        let id = Uuid::nil();
        let shared = [
            keys.layout(),
            keys.cache_version(SUBSCRIPTIONS_CACHE),
            keys.cache_changes(SUBSCRIPTIONS_CACHE),
            keys.purge_lock(),
            keys.reconcile_lock(),
            keys.console_session("s"),
        ];
        for key in &shared {
            assert!(key.starts_with("tenant-a:"), "{key}");
            assert_eq!(hash_tag(key), Some("tenant-a"), "{key}");
        }
        for partition in [Partition::Numbered(3), Partition::Unpartitioned] {
            let part = keys.partition(partition);
            let all = [
                part.stream(),
                part.idempotency(None, "k"),
                part.idempotency(Some(id), "k"),
                part.queued(id),
                part.retry_schedule(),
                part.delayed(),
                part.delayed_entry(id),
                part.dead_letters(),
            ];
            let tag = hash_tag(&all[0]).expect("a hash tag");
            for key in &all {
                assert!(key.starts_with("tenant-a:"), "{key}");
                assert_eq!(hash_tag(key), Some(tag), "{key}");
            }
        }
        assert_eq!(
            keys.partition(Partition::Unpartitioned).stream(),
            "tenant-a:{tenant-a}:ingest",
            "the layout before partitions keeps its names, so workers can drain it"
        );
        for key in [keys.throttle(id), keys.inbound_limit(id)] {
            assert!(key.starts_with("tenant-a:"), "{key}");
            assert_eq!(hash_tag(&key), Some(id.to_string().as_str()), "{key}");
        }
    }

    #[test]
    fn partition_tags_are_stable_and_each_in_its_own_slot_range() {
        // Changing a tag moves a partition: queued work would sit where nobody reads.
        assert_eq!(partition_tag(0), "q0-2190");
        assert_eq!(partition_tag(1), "q1-534");
        let mut ranges = std::collections::HashSet::new();
        for n in 0..MAX_PARTITIONS {
            let slot = slot_of(partition_tag(n));
            let range = slot / (SLOTS / MAX_PARTITIONS);
            assert!(
                ranges.insert(range),
                "partition {n} shares slot range {range}"
            );
        }
    }

    #[test]
    fn the_first_partitions_spread_evenly_over_three_equal_masters() {
        // redis-cli --cluster create gives three masters these ranges.
        let masters = [0..5461, 5461..10923, 10923..16384];
        // Any count from 12 on gives each master at least a fifth (powers of two spread
        // exactly over the slot space). Smaller counts may not: 3 partitions fall 2-1-0.
        for count in [4_u16, 8, 12, 13, 16, 17, 31, 64, 100, 1024] {
            let mut served = [0_u32; 3];
            for n in 0..count {
                let slot = slot_of(partition_tag(n));
                let master = masters
                    .iter()
                    .position(|r| r.contains(&slot))
                    .expect("a master");
                served[master] += 1;
            }
            for share in served {
                assert!(
                    f64::from(share) >= f64::from(count) / 5.0,
                    "{count} partitions spread as {served:?}"
                );
            }
        }
    }

    #[test]
    fn a_webhook_id_carries_its_partition() {
        for n in [0, 1, 15, 1023] {
            let id = with_partition(Uuid::now_v7(), n);
            assert_eq!(partition_of(id), Partition::Numbered(n));
            assert_eq!(id.get_version_num(), 7, "still a v7 id");
        }
        let keys = Keys::partitioned("p", 16);
        let id = with_partition(Uuid::now_v7(), 20);
        assert_eq!(keys.origin(id).partition(), Partition::Numbered(20));
        assert_eq!(keys.home(id).partition(), Partition::Numbered(4));
    }
}
