//! The outbox drainer: every worker moves the webhooks the service raises itself
//! (operational events, schedule runs) from `outbox` into the work stream every
//! `DRAIN_INTERVAL`, with [`hookrelay_domain::outbox::drain`] (which says how a crash
//! neither loses nor doubles one).

use std::time::Duration;

use hookrelay_domain::outbox::drain;
use hookrelay_shared::db::DbPool;
use hookrelay_shared::queue::IngestQueue;
use hookrelay_shared::redis_client::Redis;
use tokio_util::sync::CancellationToken;

/// How often each worker looks for outbox rows.
pub const DRAIN_INTERVAL: Duration = Duration::from_millis(250);

/// Drains into `queue` until `shutdown`; errors are logged and retried on the next tick
/// (a row whose webhook Redis did not take, or whose replicas did not acknowledge it in
/// time, stays in the outbox).
pub fn spawn(db: DbPool, redis: Redis, queue: IngestQueue, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(DRAIN_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = drain(&db, &redis, &queue).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "could not move outbox webhooks (operational events, schedule runs) into the queue; retrying"
                );
            }
        }
    });
}
