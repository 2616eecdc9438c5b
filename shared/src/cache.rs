//! In-process caches of small tables, kept coherent through Redis, so ingest and delivery
//! never query Postgres per request: subscriptions (both binaries), and in the api tenants
//! and stored API keys.
//!
//! Coherence goes through Redis. Every change runs one script that bumps the table's
//! `<name>:version` counter and logs `<version>:<row key>` in `<name>:changes` (see
//! `keys`). Every process polls the counter every `REFRESH_INTERVAL`; when it moved, the
//! process reads which rows the new versions were about and reloads only those. A gap in
//! the log (trimmed, or a bump made without a log entry) means a full reload, as does a
//! snapshot older than `FULL_RELOAD_INTERVAL`. A change therefore reaches every process
//! within about `REFRESH_INTERVAL` plus one small query — inside the contract's one
//! second. The process that made a change refreshes at once.
//!
//! Read your writes (CONTRACT §14): fan-out first calls [`Cache::catch_up_since`] with
//! the moment its entry was read from the stream, which makes sure the snapshot is at
//! least as new as a version read after that moment. A change's call returns after its
//! version bump, the webhook was ingested after that, and read after that: so it is
//! fanned out with the change, from any api process. (The version lives under the
//! deployment's own hash tag, apart from the partitions, so it is read on its own, once
//! per refresh however many entries wait for it: single-flight, below.) A lookup
//! that must not miss a row created a moment ago on another process
//! ([`Cache::get_current`]) refreshes once when the snapshot was last confirmed before
//! the lookup began. Refreshes are single-flight: a burst of callers causes one refresh,
//! not one each.
//!
//! A subscription lookup by id that misses the snapshot (a subscription created a moment
//! ago on another api instance) falls back to one Postgres query.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::redis_client::Redis;
use anyhow::Context as _;
use deadpool_redis::redis;
use diesel::prelude::*;
use diesel_async::AsyncPgConnection;
use tokio_util::sync::CancellationToken;

use crate::db::{DbPool, bounded};
use crate::keys::Keys;
use crate::telemetry::Metric;

/// Lookups in a cache's snapshot ([`Cache::get`]), `{result}` `hit` or `miss`: the hot
/// paths' lookups, ingest and delivery, so both binaries record it.
pub const LOOKUPS: Metric = Metric::counter(
    "hookrelay_cache_lookups_total",
    "Subscription cache lookups by result (hit, miss)",
);

/// How often each process checks whether a cached table changed.
pub const REFRESH_INTERVAL: Duration = Duration::from_millis(200);

/// A snapshot older than this is reloaded even if the version did not move: the backstop
/// for a change whose version bump never reached Redis (Redis was down at that moment).
pub const FULL_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

/// Changes kept in `<name>:changes`; a process that falls further behind reloads in full.
pub const CHANGE_LOG_LENGTH: usize = 1_000;

/// Bumps the version once per row key and logs each, atomically. KEYS: version, changes.
/// ARGV: log length, then the row keys. Returns the new version.
const RECORD_CHANGES: &str = r"
local v = 0
for i = 2, #ARGV do
  v = redis.call('INCR', KEYS[1])
  redis.call('ZADD', KEYS[2], v, v .. ':' .. ARGV[i])
end
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[1]) + 1))
return v
";

/// A row type a [`Cache`] holds: how it is keyed and loaded.
pub trait Cached: Sized + Send + Sync + 'static {
    /// What lookups go by; written into the change log as text, so it must round-trip
    /// through `to_string` and `from_str` and contain no `:`.
    type Key: Eq + Hash + Clone + ToString + FromStr + Send + Sync;
    /// The middle part of the Redis keys (`<name>:version`, `<name>:changes`) and the
    /// cache's name in logs.
    const NAME: &'static str;

    fn key(&self) -> Self::Key;

    fn load_all(
        conn: &mut AsyncPgConnection,
    ) -> impl Future<Output = QueryResult<Vec<Self>>> + Send;

    fn load_some(
        conn: &mut AsyncPgConnection,
        keys: Vec<Self::Key>,
    ) -> impl Future<Output = QueryResult<Vec<Self>>> + Send;
}

struct Snapshot<T: Cached> {
    /// The version this snapshot reflects (`None`: the counter was unset).
    version: Option<i64>,
    /// When the last full reload happened.
    full_at: Instant,
    rows: HashMap<T::Key, Arc<T>>,
}

pub struct Cache<T: Cached> {
    db: DbPool,
    redis: Redis,
    version_key: String,
    changes_key: String,
    record_changes: redis::Script,
    snapshot: RwLock<Arc<Snapshot<T>>>,
    /// Held while refreshing, so concurrent callers wait for one refresh.
    refreshing: tokio::sync::Mutex<()>,
    /// When the version was last read by a refresh that then brought the snapshot up to
    /// it, in microseconds since `epoch`.
    confirmed_at: AtomicU64,
    epoch: Instant,
}

impl<T: Cached> Cache<T> {
    /// Loads the first snapshot.
    pub async fn load(db: DbPool, redis: Redis, keys: &Keys) -> anyhow::Result<Arc<Self>> {
        let epoch = Instant::now();
        let cache = Arc::new(Self {
            db,
            redis,
            version_key: keys.cache_version(T::NAME),
            changes_key: keys.cache_changes(T::NAME),
            record_changes: redis::Script::new(RECORD_CHANGES),
            snapshot: RwLock::new(Arc::new(Snapshot {
                version: None,
                full_at: epoch,
                rows: HashMap::new(),
            })),
            refreshing: tokio::sync::Mutex::new(()),
            confirmed_at: AtomicU64::new(0),
            epoch,
        });
        let started = Instant::now();
        let version = cache.version().await?;
        cache.reload_all(version).await?;
        cache.confirm(started);
        Ok(cache)
    }

    fn current(&self) -> Arc<Snapshot<T>> {
        match self.snapshot.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn replace(&self, snapshot: Snapshot<T>) {
        let snapshot = Arc::new(snapshot);
        match self.snapshot.write() {
            Ok(mut guard) => *guard = snapshot,
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
    }

    fn micros_since_epoch(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    fn confirm(&self, version_read_at: Instant) {
        self.confirmed_at
            .fetch_max(self.micros_since_epoch(version_read_at), Ordering::AcqRel);
    }

    /// Whether a refresh that read the version at or after `at` has completed.
    fn confirmed_since(&self, at: Instant) -> bool {
        AtomicU64::load(&self.confirmed_at, Ordering::Acquire) >= self.micros_since_epoch(at)
    }

    /// The cached row, if the snapshot has it.
    pub fn cached(&self, key: &T::Key) -> Option<Arc<T>> {
        self.current().rows.get(key).cloned()
    }

    /// The row as of at least the moment of this call: when the snapshot lacks it and
    /// was last confirmed before the call, refreshes once and looks again. So a row
    /// created on another process just before is found, and a flood of lookups of keys
    /// that exist nowhere costs one version read at a time, not one each.
    pub async fn get_current(&self, key: &T::Key) -> anyhow::Result<Option<Arc<T>>> {
        let asked_at = Instant::now();
        if let Some(found) = self.cached(key) {
            return Ok(Some(found));
        }
        if !self.confirmed_since(asked_at) {
            self.refresh_since(asked_at).await?;
        }
        Ok(self.cached(key))
    }

    /// Every cached row (in no particular order).
    pub fn rows(&self) -> Vec<Arc<T>> {
        self.current().rows.values().cloned().collect()
    }

    /// The cached rows `keep` accepts (in no particular order), read from one snapshot.
    pub fn filtered(&self, keep: impl Fn(&T) -> bool) -> Vec<Arc<T>> {
        self.current()
            .rows
            .values()
            .filter(|row| keep(row))
            .cloned()
            .collect()
    }

    /// The cached row, if the snapshot has it, counted as a hit or a miss in [`LOOKUPS`]
    /// (the hot paths' lookups: ingest and delivery).
    pub fn get(&self, key: &T::Key) -> Option<Arc<T>> {
        let found = self.cached(key);
        metrics::counter!(LOOKUPS.name, "result" => if found.is_some() { "hit" } else { "miss" })
            .increment(1);
        found
    }

    /// The row, from the snapshot or, on a miss, from Postgres (one bounded query).
    pub async fn get_or_fetch(&self, key: &T::Key) -> anyhow::Result<Option<Arc<T>>> {
        if let Some(found) = self.get(key) {
            return Ok(Some(found));
        }
        let mut conn = self.db.get().await.context("no Postgres connection")?;
        let what = format!("Failed to read one row of {}", T::NAME);
        let mut rows = bounded(what, T::load_some(&mut conn, vec![key.clone()])).await?;
        Ok(rows.pop().map(Arc::new))
    }

    /// Makes sure the snapshot reflects a version read at or after `at` (refreshing
    /// unless a refresh that read it since has completed): what makes readers see the
    /// writes that returned before `at`.
    pub async fn catch_up_since(&self, at: Instant) -> anyhow::Result<()> {
        if self.confirmed_since(at) {
            return Ok(());
        }
        self.refresh_since(at).await
    }

    /// Tells every process that the row under `key` changed (created, updated or
    /// deleted), and refreshes this one now.
    pub async fn invalidate(&self, key: &T::Key) -> anyhow::Result<()> {
        self.invalidate_all(std::slice::from_ref(key)).await
    }

    /// [`Cache::invalidate`] for several rows at once (one version per row, so the
    /// change log stays exact); more than the log holds means one full reload everywhere.
    pub async fn invalidate_all(&self, keys: &[T::Key]) -> anyhow::Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let recorded = self.record(keys).await;
        if recorded.is_err() {
            // Other processes learn of it on their next full reload; this one must not
            // keep serving the old rows (a deleted key, a disabled subscription) meanwhile.
            let _single_flight = self.refreshing.lock().await;
            let current = self.current();
            self.reload_some(&current, keys.to_vec(), current.version)
                .await?;
            return recorded;
        }
        self.refresh().await
    }

    /// Bumps the version once per key and logs each (one script).
    async fn record(&self, keys: &[T::Key]) -> anyhow::Result<()> {
        if keys.len() > CHANGE_LOG_LENGTH {
            // A bump without a log entry: every process reloads in full.
            redis::cmd("INCR")
                .arg(&self.version_key)
                .query_async::<i64>(&mut self.redis.clone())
                .await
        } else {
            let mut invocation = self.record_changes.key(&self.version_key);
            invocation.key(&self.changes_key).arg(CHANGE_LOG_LENGTH);
            for key in keys {
                invocation.arg(key.to_string());
            }
            invocation
                .invoke_async::<i64>(&mut self.redis.clone())
                .await
        }
        .with_context(|| format!("Failed to record a change of {} in Redis", T::NAME))?;
        Ok(())
    }

    /// Brings the snapshot up to the current version: the changed rows only when the
    /// change log covers the gap, everything otherwise (and every `FULL_RELOAD_INTERVAL`).
    pub async fn refresh(&self) -> anyhow::Result<()> {
        self.refresh_since(Instant::now()).await
    }

    /// A refresh, unless one that read the version after `since` completed while this
    /// one waited for its turn.
    async fn refresh_since(&self, since: Instant) -> anyhow::Result<()> {
        let _single_flight = self.refreshing.lock().await;
        if self.confirmed_since(since) {
            return Ok(());
        }
        let started = Instant::now();
        let current = self.current();
        let version = match self.version().await {
            Ok(version) => version,
            // Without Redis, changes cannot be followed one by one, but the periodic full
            // reload still can be done: from Postgres, keeping the version it knew.
            Err(e) if current.full_at.elapsed() >= FULL_RELOAD_INTERVAL => {
                self.reload_all(current.version).await?;
                return Err(e.context("reloaded in full from Postgres instead"));
            }
            Err(e) => return Err(e),
        };
        if current.full_at.elapsed() >= FULL_RELOAD_INTERVAL {
            self.reload_all(version).await?;
        } else {
            match (current.version, version) {
                (from, to) if from == to => {}
                (Some(from), Some(to)) if to > from => match self.changed_keys(from, to).await? {
                    Some(keys) => self.reload_some(&current, keys, Some(to)).await?,
                    None => self.reload_all(version).await?,
                },
                _ => self.reload_all(version).await?,
            }
        }
        self.confirm(started);
        Ok(())
    }

    /// The rows that versions `from + 1 ..= to` changed, or `None` when the log does not
    /// hold every one of those versions.
    async fn changed_keys(&self, from: i64, to: i64) -> anyhow::Result<Option<Vec<T::Key>>> {
        let members: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(&self.changes_key)
            .arg(format!("({from}"))
            .arg(to)
            .query_async(&mut self.redis.clone())
            .await
            .with_context(|| format!("Failed to read the change log of {} from Redis", T::NAME))?;
        let keys: Option<Vec<T::Key>> = members
            .iter()
            .map(|m| m.split_once(':').and_then(|(_, key)| key.parse().ok()))
            .collect();
        Ok(keys.filter(|keys| i64::try_from(keys.len()).is_ok_and(|n| n == to - from)))
    }

    /// A snapshot like `current` with the rows of `keys` read again (absent ones removed).
    async fn reload_some(
        &self,
        current: &Snapshot<T>,
        keys: Vec<T::Key>,
        to: Option<i64>,
    ) -> anyhow::Result<()> {
        let mut conn = self.db.get().await.context("no Postgres connection")?;
        let mut rows = current.rows.clone();
        for key in &keys {
            rows.remove(key);
        }
        let loaded = bounded(
            "Failed to load changed rows into a cache",
            T::load_some(&mut conn, keys),
        )
        .await?;
        rows.extend(loaded.into_iter().map(|row| (row.key(), Arc::new(row))));
        self.replace(Snapshot {
            version: to,
            full_at: current.full_at,
            rows,
        });
        Ok(())
    }

    /// Reloads every row, stamped with `version`, read before loading (so a change made
    /// during the load triggers another refresh).
    async fn reload_all(&self, version: Option<i64>) -> anyhow::Result<()> {
        let mut conn = self.db.get().await.context("no Postgres connection")?;
        let loaded = bounded("Failed to load a cache", T::load_all(&mut conn)).await?;
        self.replace(Snapshot {
            version,
            full_at: Instant::now(),
            rows: loaded
                .into_iter()
                .map(|row| (row.key(), Arc::new(row)))
                .collect(),
        });
        Ok(())
    }

    async fn version(&self) -> anyhow::Result<Option<i64>> {
        redis::cmd("GET")
            .arg(&self.version_key)
            .query_async(&mut self.redis.clone())
            .await
            .with_context(|| format!("Failed to read the version of {} from Redis", T::NAME))
    }

    /// Polls the version counter until `shutdown`, refreshing when it moves (and in full
    /// every `FULL_RELOAD_INTERVAL`). Errors are logged and retried on the next tick; the
    /// old snapshot keeps serving meanwhile.
    pub async fn run_refresher(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(REFRESH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.refresh().await {
                tracing::warn!(
                    cache = T::NAME,
                    error = format!("{e:#}"),
                    "cache refresh failed; serving the previous snapshot"
                );
            }
        }
    }
}
