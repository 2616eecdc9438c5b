//! Which partitions this worker serves (CONTRACT §16): every partition any process of
//! the deployment has queued into, `0..max(QUEUE_PARTITIONS, layout)`, and the
//! unpartitioned layout older versions used. Partitions `0..QUEUE_PARTITIONS` are
//! *active* (new work goes there) and read eagerly; the rest are *draining* (left over
//! after `QUEUE_PARTITIONS` shrank, or written by an older version) and read every
//! `DRAIN_POLL` until empty, forever: an api with another setting may still write to
//! them during a rolling change. The layout key is re-read every `LAYOUT_REFRESH`, so a
//! process started with more partitions is followed without a restart.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use hookrelay_shared::keys::{Keys, Partition};
use hookrelay_shared::queue;
use hookrelay_shared::redis_client::Redis;
use tokio_util::sync::CancellationToken;

/// How often the layout key is read again.
pub const LAYOUT_REFRESH: Duration = Duration::from_secs(5);

pub struct Partitions {
    keys: Keys,
    redis: Redis,
    served: RwLock<Arc<Vec<Partition>>>,
}

impl Partitions {
    /// Records this worker's `QUEUE_PARTITIONS` in the layout key and reads what to serve.
    pub async fn start(keys: Keys, mut redis: Redis) -> anyhow::Result<Arc<Self>> {
        let ever = queue::record_layout(&mut redis, &keys).await?;
        let served = queue::partitions_up_to(&keys, ever);
        Ok(Arc::new(Self {
            keys,
            redis,
            served: RwLock::new(Arc::new(served)),
        }))
    }

    /// The partitions served now, active ones first.
    pub fn served(&self) -> Arc<Vec<Partition>> {
        match self.served.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Whether new work goes to `partition`.
    pub fn is_active(&self, partition: Partition) -> bool {
        matches!(partition, Partition::Numbered(n) if n < self.keys.partitions())
    }

    /// Reads the layout key every `LAYOUT_REFRESH` until `stop`.
    pub async fn run_refresher(self: Arc<Self>, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(LAYOUT_REFRESH) => {}
            }
            match queue::served_partitions(&mut self.redis.clone(), &self.keys).await {
                Ok(served) => {
                    if served.len() != self.served().len() {
                        tracing::info!(
                            partitions = served.len() - 1,
                            "another process uses more partitions; serving them too"
                        );
                    }
                    let served = Arc::new(served);
                    match self.served.write() {
                        Ok(mut guard) => *guard = served,
                        Err(poisoned) => *poisoned.into_inner() = served,
                    }
                }
                Err(e) => tracing::debug!(error = %e, "could not read the partition layout"),
            }
        }
    }
}
