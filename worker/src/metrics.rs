//! The worker's Prometheus metrics (CONTRACT §8), recorded through the `metrics` facade
//! and rendered at `METRICS_ADDR/metrics` by `startup`:
//!
//! - `hookrelay_attempts_total{outcome}`: attempts by outcome (`Success`, `Failed Attempt`, `Failure`);
//! - `hookrelay_attempt_duration_seconds`: attempt latency histogram;
//! - `hookrelay_deliveries_finished_total{status}`: deliveries that ended (`succeeded`, `failed`);
//! - `hookrelay_queue_depth{queue}`: entries `ready`, `in_flight` and retries `scheduled`,
//!   refreshed every `DEPTH_INTERVAL`.

use std::time::Duration;

use deadpool_redis::redis::aio::ConnectionManager;
use hookrelay_shared::keys::Keys;
use hookrelay_shared::models::DeliveryStatus;
use hookrelay_shared::queue::queue_depths;
use tokio_util::sync::CancellationToken;

use crate::delivery::DeliveryOutcome;

/// How often the queue depth gauges are refreshed.
const DEPTH_INTERVAL: Duration = Duration::from_secs(2);

pub fn attempt(outcome: &DeliveryOutcome, duration: Duration) {
    metrics::counter!("hookrelay_attempts_total", "outcome" => outcome.attempt_outcome().as_str())
        .increment(1);
    metrics::histogram!("hookrelay_attempt_duration_seconds").record(duration.as_secs_f64());
}

pub fn finished(status: DeliveryStatus) {
    metrics::counter!("hookrelay_deliveries_finished_total", "status" => status.as_str())
        .increment(1);
}

/// Refreshes the queue depth gauges until `shutdown`.
pub async fn run_depth_gauges(
    mut redis: ConnectionManager,
    keys: Keys,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(DEPTH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match queue_depths(&mut redis, &keys).await {
            Ok(depths) => {
                for (queue, depth) in [
                    ("ready", depths.ready),
                    ("in_flight", depths.in_flight),
                    ("scheduled", depths.scheduled),
                ] {
                    metrics::gauge!("hookrelay_queue_depth", "queue" => queue).set(depth as f64);
                }
            }
            Err(e) => tracing::debug!(error = %e, "could not read queue depths"),
        }
    }
}
