//! The worker's Prometheus metrics (CONTRACT §8), recorded through the `metrics` facade
//! and served at `METRICS_ADDR` (`/metrics`, `/healthz`) by [`serve`]:
//!
//! - `hookrelay_attempts_total{outcome}`: attempts by outcome (`Success`, `Failed Attempt`, `Failure`);
//! - `hookrelay_attempt_duration_seconds`: attempt latency histogram;
//! - `hookrelay_deliveries_finished_total{status}`: deliveries that ended (`succeeded`, `failed`);
//! - `hookrelay_queue_depth{queue}`: entries `ready`, `in_flight`, retries `scheduled`,
//!   `delayed` webhooks (`X-Deliver-At`) and `dead` letters, refreshed every `DEPTH_INTERVAL`;
//! - `hookrelay_webhooks_no_subscribers_total`: webhooks that matched no subscription;
//! - `hookrelay_dead_lettered_total`: stream entries moved to the dead letters;
//! - `hookrelay_entries_retried_in_place_total`: handler runs that failed because a
//!   dependency could not do the work, and were retried in place;
//! - `hookrelay_throttled_total`: attempts held back by a subscription's rate limit and
//!   parked until their turn (`throttle`); neither attempts nor failures;
//! - `hookrelay_reconciled_total`: deliveries Redis had lost, queued again (`reconcile`);
//! - `hookrelay_reconcile_runs_total{result}`: reconciliation ticks (`reconciled`,
//!   `skipped` when another worker had the tick, `failed`);
//! - `hookrelay_retries_moved_total`, `hookrelay_delayed_moved_total`: due retries and
//!   delayed webhooks this worker's mover put into the stream (`mover`);
//! - `hookrelay_replays{status}`: bulk replays by status (`running`, `done`,
//!   `cancelled`), all workers' together, refreshed every 5 s by each worker;
//! - `hookrelay_replay_deliveries_queued_total`: deliveries this worker's replay runner
//!   queued for a new run (or created, with `include_missing`);
//! - `hookrelay_schedule_runs_total`: schedule runs this worker's schedule runner fired;
//! - `hookrelay_schedule_runs_missed_total{policy}`: ticks missed while no worker ran, not
//!   run, by the schedule's `missed_runs` (`run_once` ran the newest of them, `skip` none);
//! - `hookrelay_schedule_run_lag_seconds`: from a run's due time to its webhook in the
//!   work stream.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use hookrelay_domain::replays::selection::ReplayStatus;
use hookrelay_domain::schedules::runs::MissedRuns;
use hookrelay_domain::webhooks::DeliveryStatus;
use hookrelay_domain::webhooks::attempt::Outcome;
use hookrelay_shared::keys::Keys;
use hookrelay_shared::queue::queue_depths;
use hookrelay_shared::redis_client::Redis;
use hookrelay_shared::telemetry;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::delivery::DeliveryOutcome;
use hookrelay_domain::subscriptions::health::HealthEvent;

/// Webhooks that reached nobody (status `no_subscribers`).
const NO_SUBSCRIBERS: &str = "hookrelay_webhooks_no_subscribers_total";
/// Attempts held back by a rate limit.
const THROTTLED: &str = "hookrelay_throttled_total";

/// Stream entries moved to the dead letters.
const DEAD_LETTERED: &str = "hookrelay_dead_lettered_total";
/// Entry runs retried in place while a dependency could not do the work.
const RETRIED_IN_PLACE: &str = "hookrelay_entries_retried_in_place_total";

/// Subscriptions the service made inactive, by reason.
const DISABLED: &str = "hookrelay_subscriptions_disabled_total";
/// Operational events written to the outbox, by type.
const OPERATIONAL_EVENTS: &str = "hookrelay_operational_events_total";

/// Bulk replays by status.
const REPLAYS: &str = "hookrelay_replays";
/// Deliveries queued by bulk replays.
const REPLAY_QUEUED: &str = "hookrelay_replay_deliveries_queued_total";

/// Schedule runs fired.
const SCHEDULE_RUNS: &str = "hookrelay_schedule_runs_total";
/// Schedule ticks missed, by policy.
const SCHEDULE_MISSED: &str = "hookrelay_schedule_runs_missed_total";
/// Due time to queued, per run.
const SCHEDULE_LAG: &str = "hookrelay_schedule_run_lag_seconds";

/// How often the queue depth gauges are refreshed.
const DEPTH_INTERVAL: Duration = Duration::from_secs(2);

/// Installs the recorder, describes the series and starts the counters at zero, so rates
/// and alerts work from the first scrape rather than from the first attempt of each kind.
pub fn register() {
    telemetry::metrics_handle();
    metrics::describe_counter!(
        "hookrelay_attempts_total",
        "Delivery attempts by outcome (Success, Failed Attempt, Failure)"
    );
    metrics::describe_histogram!(
        "hookrelay_attempt_duration_seconds",
        metrics::Unit::Seconds,
        "Time from sending an attempt to its outcome"
    );
    metrics::describe_counter!(
        "hookrelay_deliveries_finished_total",
        "Deliveries that ended, by final status (succeeded, failed)"
    );
    metrics::describe_gauge!(
        "hookrelay_queue_depth",
        "Stream entries ready and in flight, retries scheduled, delayed webhooks waiting, and dead letters"
    );
    metrics::describe_counter!(
        NO_SUBSCRIBERS,
        "Webhooks that matched no subscription (status no_subscribers)"
    );
    metrics::counter!(NO_SUBSCRIBERS).increment(0);
    metrics::describe_counter!(DEAD_LETTERED, "Stream entries moved to the dead letters");
    metrics::counter!(DEAD_LETTERED).increment(0);
    metrics::describe_counter!(
        RETRIED_IN_PLACE,
        "Entry runs that failed because Postgres or Redis could not do the work, retried in place"
    );
    metrics::counter!(RETRIED_IN_PLACE).increment(0);
    metrics::describe_counter!(
        THROTTLED,
        "Attempts held back by a subscription's rate limit, parked until their turn"
    );
    metrics::counter!(THROTTLED).increment(0);
    metrics::describe_counter!(
        "hookrelay_reconciled_total",
        "Unfinished deliveries that Redis no longer held, queued again by the reconciler"
    );
    metrics::describe_counter!(
        "hookrelay_reconcile_runs_total",
        "Reconciliation ticks in this worker, by result (reconciled, skipped, failed)"
    );
    metrics::counter!("hookrelay_reconciled_total").increment(0);
    for result in ["reconciled", "skipped", "failed"] {
        metrics::counter!("hookrelay_reconcile_runs_total", "result" => result).increment(0);
    }
    metrics::describe_counter!(
        DISABLED,
        "Subscriptions disabled automatically, by reason (failures, gone)"
    );
    for reason in ["failures", "gone"] {
        metrics::counter!(DISABLED, "reason" => reason).increment(0);
    }
    metrics::describe_counter!(
        OPERATIONAL_EVENTS,
        "Operational events raised, by type (hookrelay.subscription.failing, .disabled)"
    );
    for kind in [HealthEvent::Failing, HealthEvent::Disabled] {
        metrics::counter!(OPERATIONAL_EVENTS, "type" => kind.event_type()).increment(0);
    }
    metrics::describe_gauge!(REPLAYS, "Bulk replays by status (running, done, cancelled)");
    metrics::describe_counter!(
        REPLAY_QUEUED,
        "Deliveries queued for a new run (or created, include_missing) by bulk replays"
    );
    metrics::counter!(REPLAY_QUEUED).increment(0);
    metrics::describe_counter!(SCHEDULE_RUNS, "Schedule runs fired by this worker");
    metrics::counter!(SCHEDULE_RUNS).increment(0);
    metrics::describe_counter!(
        SCHEDULE_MISSED,
        "Schedule ticks missed while no worker ran and not run, by missed_runs policy"
    );
    for policy in MissedRuns::ALL {
        metrics::counter!(SCHEDULE_MISSED, "policy" => policy.as_str()).increment(0);
    }
    metrics::describe_histogram!(
        SCHEDULE_LAG,
        metrics::Unit::Seconds,
        "From a schedule run's due time to its webhook in the work stream"
    );
    for outcome in Outcome::ALL {
        metrics::counter!("hookrelay_attempts_total", "outcome" => outcome.as_str()).increment(0);
    }
    for status in DeliveryStatus::FINISHED {
        metrics::counter!("hookrelay_deliveries_finished_total", "status" => status.as_str())
            .increment(0);
    }
}

/// Binds `addr` for `/healthz` and `/metrics`. Like the api, other paths answer 404 and
/// other methods 405, with a JSON `detail`.
pub fn serve(addr: SocketAddr) -> anyhow::Result<(actix_web::dev::Server, SocketAddr)> {
    let handle = telemetry::metrics_handle();
    let server = HttpServer::new(move || {
        let handle = handle.clone();
        let method_not_allowed = || async {
            HttpResponse::MethodNotAllowed().json(json!({"detail": "Method Not Allowed"}))
        };
        App::new()
            .service(
                web::resource("/healthz")
                    .route(
                        web::get()
                            .to(|| async { HttpResponse::Ok().json(json!({"status": "ok"})) }),
                    )
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/metrics")
                    .route(web::get().to(move || {
                        let body = handle.render();
                        async move {
                            HttpResponse::Ok()
                                .content_type("text/plain; version=0.0.4")
                                .body(body)
                        }
                    }))
                    .default_service(web::to(method_not_allowed)),
            )
            .default_service(web::to(|| async {
                HttpResponse::NotFound().json(json!({"detail": "Not Found"}))
            }))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .bind(addr)
    .with_context(|| format!("Failed to bind METRICS_ADDR {addr}"))?;
    let bound = server.addrs().first().copied().unwrap_or(addr);
    Ok((server.run(), bound))
}

pub fn attempt(outcome: &DeliveryOutcome, duration: Duration) {
    metrics::counter!("hookrelay_attempts_total", "outcome" => outcome.attempt_outcome().as_str())
        .increment(1);
    metrics::histogram!("hookrelay_attempt_duration_seconds").record(duration.as_secs_f64());
}

pub fn finished(status: DeliveryStatus) {
    metrics::counter!("hookrelay_deliveries_finished_total", "status" => status.as_str())
        .increment(1);
}

/// Counts a webhook that matched no subscription.
pub fn no_subscribers() {
    metrics::counter!(NO_SUBSCRIBERS).increment(1);
}

/// Counts an entry moved to the dead letters.
pub fn dead_lettered() {
    metrics::counter!(DEAD_LETTERED).increment(1);
}

/// Counts an entry run retried in place.
pub fn entry_retried_in_place() {
    metrics::counter!(RETRIED_IN_PLACE).increment(1);
}

/// Counts an attempt parked by a rate limit.
pub fn throttled() {
    metrics::counter!(THROTTLED).increment(1);
}

/// Refreshes the queue depth gauges until `shutdown`.
pub async fn run_depth_gauges(mut redis: Redis, keys: Keys, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(DEPTH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match queue_depths(&mut redis, &keys).await {
            Ok(depths) => {
                for (queue, depth) in depths.labelled() {
                    metrics::gauge!("hookrelay_queue_depth", "queue" => queue).set(depth as f64);
                }
            }
            Err(e) => tracing::debug!(error = %e, "could not read queue depths"),
        }
    }
}

/// A subscription disabled automatically (`reason`: `failures` or `gone`).
pub fn disabled(reason: &'static str) {
    metrics::counter!(DISABLED, "reason" => reason).increment(1);
}

/// An operational event written to the outbox.
pub fn operational_event(kind: HealthEvent) {
    metrics::counter!(OPERATIONAL_EVENTS, "type" => kind.event_type()).increment(1);
}

/// The number of replays with `status`.
pub fn replays(status: ReplayStatus, count: i64) {
    metrics::gauge!(REPLAYS, "status" => status.as_str()).set(count as f64);
}

/// Deliveries a replay batch queued.
pub fn replay_queued(deliveries: usize) {
    metrics::counter!(REPLAY_QUEUED).increment(deliveries as u64);
}

/// Counts a schedule run queued `lag` after its due time.
pub fn schedule_run(lag: chrono::Duration) {
    metrics::counter!(SCHEDULE_RUNS).increment(1);
    let seconds = lag.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
    metrics::histogram!(SCHEDULE_LAG).record(seconds.max(0.0));
}

/// Counts schedule ticks missed for good under `policy`.
pub fn schedule_missed(policy: MissedRuns, ticks: u64) {
    metrics::counter!(SCHEDULE_MISSED, "policy" => policy.as_str()).increment(ticks);
}
