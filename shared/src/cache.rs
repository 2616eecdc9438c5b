//! The subscription cache: every process keeps all subscriptions in memory, so ingest and
//! delivery never query Postgres per request.
//!
//! Coherence goes through Redis. Every change runs one script that bumps the
//! `subs:version` counter and logs `<version>:<subscription id>` in `subs:changes` (see
//! `keys`). Every process polls the counter every `REFRESH_INTERVAL`; when it moved, the
//! process reads which subscriptions the new versions were about and reloads only those
//! rows. A gap in the log (trimmed, or a bump made without a log entry) means a full
//! reload, as does a snapshot older than `FULL_RELOAD_INTERVAL`. A change therefore
//! reaches every process within about `REFRESH_INTERVAL` plus one small query — inside the
//! contract's one second. The process that made a change refreshes at once.
//!
//! Read your writes (CONTRACT §14): the ingest script stamps each webhook with the
//! version it saw, and fan-out first calls [`SubscriptionCache::catch_up`], which
//! refreshes when the snapshot is older than the stamp. So a webhook ingested after a
//! change's call returned is fanned out with that change, from any api process.
//! Refreshes are single-flight: a burst of stamped webhooks causes one refresh, not one
//! each.
//!
//! A lookup by id that misses the snapshot (a subscription created a moment ago on
//! another api instance) falls back to one Postgres query.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::redis_client::Redis;
use anyhow::Context as _;
use deadpool_redis::redis;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::{DbPool, bounded};
use crate::events::filter_matches;
use crate::keys::Keys;
use crate::models::Subscription;
use crate::schema::subscriptions;

/// How often each process checks whether subscriptions changed.
pub const REFRESH_INTERVAL: Duration = Duration::from_millis(200);

/// A snapshot older than this is reloaded even if the version did not move: the backstop
/// for a change whose version bump never reached Redis (Redis was down at that moment).
pub const FULL_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

/// Changes kept in `subs:changes`; a process that falls further behind reloads in full.
pub const CHANGE_LOG_LENGTH: usize = 1_000;

/// Bumps the version and logs which subscription changed, atomically. KEYS: version,
/// changes. ARGV: subscription id, log length. Returns the new version.
const RECORD_CHANGE: &str = r"
local v = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], v, v .. ':' .. ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[2]) + 1))
return v
";

struct Snapshot {
    /// The `subs:version` this snapshot reflects (`None`: the counter was unset).
    version: Option<i64>,
    /// When the last full reload happened.
    full_at: Instant,
    by_id: HashMap<Uuid, Arc<Subscription>>,
}

impl Default for Snapshot {
    fn default() -> Self {
        Self {
            version: None,
            full_at: Instant::now(),
            by_id: HashMap::new(),
        }
    }
}

pub struct SubscriptionCache {
    db: DbPool,
    redis: Redis,
    keys: Keys,
    record_change: redis::Script,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Held while refreshing, so concurrent callers wait for one refresh.
    refreshing: tokio::sync::Mutex<()>,
}

impl SubscriptionCache {
    /// Loads the first snapshot.
    pub async fn load(db: DbPool, redis: Redis, keys: Keys) -> anyhow::Result<Arc<Self>> {
        let cache = Arc::new(Self {
            db,
            redis,
            keys,
            record_change: redis::Script::new(RECORD_CHANGE),
            snapshot: RwLock::default(),
            refreshing: tokio::sync::Mutex::new(()),
        });
        let version = cache.version().await?;
        cache.reload_all(version).await?;
        Ok(cache)
    }

    fn current(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn replace(&self, snapshot: Snapshot) {
        let snapshot = Arc::new(snapshot);
        match self.snapshot.write() {
            Ok(mut guard) => *guard = snapshot,
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
    }

    /// The cached subscription, if the snapshot has it.
    pub fn get(&self, id: Uuid) -> Option<Arc<Subscription>> {
        let found = self.current().by_id.get(&id).cloned();
        metrics::counter!("hookrelay_cache_lookups_total", "result" => if found.is_some() { "hit" } else { "miss" })
            .increment(1);
        found
    }

    /// The subscription, from the snapshot or, on a miss, from Postgres.
    pub async fn get_or_fetch(&self, id: Uuid) -> anyhow::Result<Option<Arc<Subscription>>> {
        if let Some(found) = self.get(id) {
            return Ok(Some(found));
        }
        Ok(Subscription::find(&self.db, id).await?.map(Arc::new))
    }

    /// Active subscriptions whose filter matches the event type, oldest first.
    pub fn matching(&self, event_type: Option<&str>) -> Vec<Arc<Subscription>> {
        let snapshot = self.current();
        let mut found: Vec<_> = snapshot
            .by_id
            .values()
            .filter(|s| s.is_active && filter_matches(s.events.as_deref(), event_type))
            .cloned()
            .collect();
        found.sort_by_key(|s| (s.created_at, s.id));
        found
    }

    /// Refreshes first when the snapshot is older than `seen`, the version a webhook's
    /// ingest saw: what makes fan-out read its writes.
    pub async fn catch_up(&self, seen: Option<i64>) -> anyhow::Result<()> {
        let Some(seen) = seen else { return Ok(()) };
        if self.current().version.is_some_and(|v| v >= seen) {
            return Ok(());
        }
        self.refresh().await
    }

    /// Tells every process that subscription `id` changed (created, updated or deleted),
    /// and refreshes this one now.
    pub async fn invalidate(&self, id: Uuid) -> anyhow::Result<()> {
        self.record_change
            .key(self.keys.subscriptions_version())
            .key(self.keys.subscriptions_changes())
            .arg(id.to_string())
            .arg(CHANGE_LOG_LENGTH)
            .invoke_async::<i64>(&mut self.redis.clone())
            .await
            .context("Failed to record the subscription change in Redis")?;
        self.refresh().await
    }

    /// Brings the snapshot up to the current version: the changed rows only when the
    /// change log covers the gap, everything otherwise (and every `FULL_RELOAD_INTERVAL`).
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let _single_flight = self.refreshing.lock().await;
        let version = self.version().await?;
        let current = self.current();
        if current.full_at.elapsed() >= FULL_RELOAD_INTERVAL {
            return self.reload_all(version).await;
        }
        match (current.version, version) {
            (from, to) if from == to => Ok(()),
            (Some(from), Some(to)) if to > from => match self.changed_ids(from, to).await? {
                Some(ids) => self.reload_some(&current, &ids, to).await,
                None => self.reload_all(version).await,
            },
            _ => self.reload_all(version).await,
        }
    }

    /// The subscriptions that versions `from + 1 ..= to` changed, or `None` when the log
    /// does not hold every one of those versions.
    async fn changed_ids(&self, from: i64, to: i64) -> anyhow::Result<Option<Vec<Uuid>>> {
        let members: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.keys.subscriptions_changes())
            .arg(format!("({from}"))
            .arg(to)
            .query_async(&mut self.redis.clone())
            .await
            .context("Failed to read the subscription change log from Redis")?;
        let ids: Option<Vec<Uuid>> = members
            .iter()
            .map(|m| m.split_once(':').and_then(|(_, id)| id.parse().ok()))
            .collect();
        Ok(ids.filter(|ids| i64::try_from(ids.len()).is_ok_and(|n| n == to - from)))
    }

    /// A snapshot like `current` with the rows of `ids` read again (absent ones removed).
    async fn reload_some(&self, current: &Snapshot, ids: &[Uuid], to: i64) -> anyhow::Result<()> {
        let mut conn = self.db.get().await.context("no Postgres connection")?;
        let rows = bounded(
            "Failed to load changed subscriptions",
            subscriptions::table
                .filter(subscriptions::id.eq_any(ids))
                .select(Subscription::as_select())
                .load(&mut conn),
        )
        .await?;
        let mut by_id = current.by_id.clone();
        for id in ids {
            by_id.remove(id);
        }
        by_id.extend(rows.into_iter().map(|s| (s.id, Arc::new(s))));
        self.replace(Snapshot {
            version: Some(to),
            full_at: current.full_at,
            by_id,
        });
        Ok(())
    }

    /// Reloads every subscription, stamped with `version`, read before loading (so a
    /// change made during the load triggers another refresh).
    async fn reload_all(&self, version: Option<i64>) -> anyhow::Result<()> {
        let mut conn = self.db.get().await.context("no Postgres connection")?;
        let rows = bounded(
            "Failed to load subscriptions",
            subscriptions::table
                .select(Subscription::as_select())
                .load(&mut conn),
        )
        .await?;
        self.replace(Snapshot {
            version,
            full_at: Instant::now(),
            by_id: rows.into_iter().map(|s| (s.id, Arc::new(s))).collect(),
        });
        Ok(())
    }

    async fn version(&self) -> anyhow::Result<Option<i64>> {
        redis::cmd("GET")
            .arg(self.keys.subscriptions_version())
            .query_async(&mut self.redis.clone())
            .await
            .context("Failed to read the subscription version from Redis")
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
                    error = format!("{e:#}"),
                    "subscription cache refresh failed; serving the previous snapshot"
                );
            }
        }
    }
}
