//! The subscription cache: every process keeps all subscriptions in memory, so ingest and
//! delivery never query Postgres per request.
//!
//! Coherence goes through Redis: every change bumps the `subs:version` counter (see
//! `keys`), and every process polls that counter every `REFRESH_INTERVAL` and reloads its
//! snapshot from Postgres when it moved. A change therefore reaches every process within
//! about `REFRESH_INTERVAL` plus one reload — inside the contract's one second. The
//! process that made a change reloads at once.
//!
//! A lookup by id that misses the snapshot (a subscription created a moment ago on
//! another api instance) falls back to one Postgres query.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use deadpool_redis::redis::{self, aio::ConnectionManager};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::DbPool;
use crate::events::filter_matches;
use crate::keys::Keys;
use crate::models::Subscription;
use crate::schema::subscriptions;

/// How often each process checks whether subscriptions changed.
pub const REFRESH_INTERVAL: Duration = Duration::from_millis(200);

/// A snapshot older than this is reloaded even if the version did not move: the backstop
/// for a change whose version bump never reached Redis (Redis was down at that moment).
pub const FULL_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

struct Snapshot {
    /// The `subs:version` this snapshot was loaded at (`None`: the counter was unset).
    version: Option<i64>,
    loaded_at: Instant,
    by_id: HashMap<Uuid, Arc<Subscription>>,
}

impl Default for Snapshot {
    fn default() -> Self {
        Self {
            version: None,
            loaded_at: Instant::now(),
            by_id: HashMap::new(),
        }
    }
}

pub struct SubscriptionCache {
    db: DbPool,
    redis: ConnectionManager,
    keys: Keys,
    snapshot: RwLock<Arc<Snapshot>>,
}

impl SubscriptionCache {
    /// Loads the first snapshot.
    pub async fn load(
        db: DbPool,
        redis: ConnectionManager,
        keys: Keys,
    ) -> anyhow::Result<Arc<Self>> {
        let cache = Arc::new(Self {
            db,
            redis,
            keys,
            snapshot: RwLock::default(),
        });
        cache.reload().await?;
        Ok(cache)
    }

    fn current(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
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
        let mut conn = self.db.get().await.context("no Postgres connection")?;
        let found = subscriptions::table
            .find(id)
            .select(Subscription::as_select())
            .first(&mut conn)
            .await
            .optional()
            .context("Failed to look up a subscription")?;
        Ok(found.map(Arc::new))
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

    /// Tells every process that subscriptions changed, and reloads this one now.
    pub async fn invalidate(&self) -> anyhow::Result<()> {
        redis::cmd("INCR")
            .arg(self.keys.subscriptions_version())
            .query_async::<i64>(&mut self.redis.clone())
            .await
            .context("Failed to bump the subscription version in Redis")?;
        self.reload().await
    }

    /// Reloads the snapshot from Postgres, stamped with the version read before loading
    /// (so a change made during the load triggers another reload).
    pub async fn reload(&self) -> anyhow::Result<()> {
        let version = self.version().await?;
        let mut conn = self.db.get().await.context("no Postgres connection")?;
        let rows = subscriptions::table
            .select(Subscription::as_select())
            .load(&mut conn)
            .await
            .context("Failed to load subscriptions")?;
        let snapshot = Arc::new(Snapshot {
            version,
            loaded_at: Instant::now(),
            by_id: rows.into_iter().map(|s| (s.id, Arc::new(s))).collect(),
        });
        match self.snapshot.write() {
            Ok(mut guard) => *guard = snapshot,
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
        Ok(())
    }

    async fn version(&self) -> anyhow::Result<Option<i64>> {
        redis::cmd("GET")
            .arg(self.keys.subscriptions_version())
            .query_async(&mut self.redis.clone())
            .await
            .context("Failed to read the subscription version from Redis")
    }

    /// Polls the version counter until `shutdown`, reloading when it moves (and at least
    /// every `FULL_RELOAD_INTERVAL`). Errors are
    /// logged and retried on the next tick; the old snapshot keeps serving meanwhile.
    pub async fn run_refresher(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(REFRESH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let outcome = match self.version().await {
                Ok(v)
                    if v == self.current().version
                        && self.current().loaded_at.elapsed() < FULL_RELOAD_INTERVAL =>
                {
                    continue;
                }
                Ok(_) => self.reload().await,
                Err(e) => Err(e),
            };
            if let Err(e) = outcome {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "subscription cache refresh failed; serving the previous snapshot"
                );
            }
        }
    }
}
