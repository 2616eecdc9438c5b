//! `last_used_at` of stored keys, written at most once a minute per key and never on the
//! request path: authenticating only notes the key in memory; a background task writes
//! the noted keys every [`FLUSH_INTERVAL`] in one statement, which itself leaves alone
//! any row written less than a minute ago (by this process or another).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use hookrelay_shared::db::{DbPool, bounded};
use hookrelay_shared::schema::api_keys;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The least time between two writes of one key's `last_used_at`.
pub const WRITE_EVERY: Duration = Duration::from_secs(60);
/// How often noted keys are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct KeyUsage {
    state: Mutex<UsageState>,
}

#[derive(Default)]
struct UsageState {
    /// When this process last noted each key for writing.
    noted: HashMap<Uuid, Instant>,
    /// Keys to write on the next flush.
    pending: Vec<Uuid>,
}

impl KeyUsage {
    /// Notes that key `id` authenticated a request.
    pub fn used(&self, id: Uuid) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let due = state
            .noted
            .get(&id)
            .is_none_or(|at| at.elapsed() >= WRITE_EVERY);
        if due {
            state.noted.insert(id, Instant::now());
            state.pending.push(id);
        }
    }

    fn take(&self) -> Vec<Uuid> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.noted.retain(|_, at| at.elapsed() < WRITE_EVERY);
        std::mem::take(&mut state.pending)
    }

    /// Forgets that `ids` were noted, so their next use notes them again.
    fn forget(&self, ids: &[Uuid]) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            state.noted.remove(id);
        }
    }

    async fn flush(&self, db: &DbPool) -> anyhow::Result<()> {
        let ids = self.take();
        if ids.is_empty() {
            return Ok(());
        }
        let now = hookrelay_shared::time::now();
        let Some(a_minute_ago) = chrono::TimeDelta::from_std(WRITE_EVERY)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
        else {
            return Ok(());
        };
        let written = async {
            let mut conn = db.get().await?;
            bounded(
                "Failed to record when API keys were last used",
                diesel::update(
                    api_keys::table.filter(api_keys::id.eq_any(&ids)).filter(
                        api_keys::last_used_at
                            .is_null()
                            .or(api_keys::last_used_at.le(a_minute_ago)),
                    ),
                )
                .set(api_keys::last_used_at.eq(now))
                .execute(&mut conn),
            )
            .await
        }
        .await;
        if written.is_err() {
            self.forget(&ids);
        }
        written.map(|_| ())
    }

    /// Writes noted keys every `FLUSH_INTERVAL` until `shutdown`, then once more.
    pub async fn run_flusher(self: std::sync::Arc<Self>, db: DbPool, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(FLUSH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stopping = tokio::select! {
                () = shutdown.cancelled() => true,
                _ = tick.tick() => false,
            };
            if let Err(e) = self.flush(&db).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "API key last_used_at not written; retried on the key's next use"
                );
            }
            if stopping {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_noted_once_per_minute() {
        let usage = KeyUsage::default();
        let id = Uuid::new_v4();
        usage.used(id);
        usage.used(id);
        assert_eq!(usage.take(), [id]);
        usage.used(id);
        assert!(usage.take().is_empty());
        usage.forget(&[id]);
        usage.used(id);
        assert_eq!(usage.take(), [id]);
    }
}
