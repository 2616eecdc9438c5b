//! The worker's Prometheus series (CONTRACT §8), recorded through the `metrics` facade
//! and served at `METRICS_ADDR` (`/metrics`, `/healthz`) by [`serve`]. [`TABLE`] is the
//! list: each entry's name, kind and help, what [`register`] describes and what
//! `docs/operations.md` must document (a test holds the doc to it). The functions below
//! record most of them; the rest are recorded where the work happens, under an entry's
//! `name` (the mover, the reclaim loop, the log writer, the purge, the reconciler).

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use hookrelay_domain::destinations;
use hookrelay_domain::replays::selection::ReplayStatus;
use hookrelay_domain::schedules::runs::MissedRuns;
use hookrelay_domain::webhooks::DeliveryStatus;
use hookrelay_domain::webhooks::attempt::Outcome;
use hookrelay_shared::keys::Keys;
use hookrelay_shared::queue::{self, queue_depths};
use hookrelay_shared::redis_client::Redis;
use hookrelay_shared::telemetry::{self, Metric};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::delivery::DeliveryOutcome;
use hookrelay_domain::subscriptions::health::HealthEvent;

/// Attempts, `{outcome}`: `Success`, `Failed Attempt`, `Failure` ([`attempt`]).
pub const ATTEMPTS: Metric = Metric::counter(
    "hookrelay_attempts_total",
    "Delivery attempts by outcome (Success, Failed Attempt, Failure) and destination type",
);
/// Attempt latency ([`attempt`]).
pub const ATTEMPT_DURATION: Metric = Metric::seconds(
    "hookrelay_attempt_duration_seconds",
    "Time from sending an attempt to its outcome, by destination type",
);
/// Open pooled connections to destinations other than HTTP, `{destination}`
/// ([`destination_connections`]).
pub const DESTINATION_CONNECTIONS: Metric = Metric::gauge(
    "hookrelay_destination_connections",
    "Open pooled connections to brokers and stores, by destination type",
);
/// Deliveries that ended, `{status}`: `succeeded`, `failed` ([`finished`]).
pub const DELIVERIES_FINISHED: Metric = Metric::counter(
    "hookrelay_deliveries_finished_total",
    "Deliveries that ended, by final status (succeeded, failed)",
);
/// Webhooks that reached nobody (status `no_subscribers`).
pub const NO_SUBSCRIBERS: Metric = Metric::counter(
    "hookrelay_webhooks_no_subscribers_total",
    "Webhooks that matched no subscription (status no_subscribers)",
);
/// Stream entries moved to the dead letters.
pub const DEAD_LETTERED: Metric = Metric::counter(
    "hookrelay_dead_lettered_total",
    "Stream entries moved to the dead letters",
);
/// Entry runs retried in place while a dependency could not do the work.
pub const RETRIED_IN_PLACE: Metric = Metric::counter(
    "hookrelay_entries_retried_in_place_total",
    "Entry runs that failed because Postgres or Redis could not do the work, retried in place",
);
/// Attempts held back by a subscription's rate limit and parked until their turn
/// (`throttle`); neither attempts nor failures.
pub const THROTTLED: Metric = Metric::counter(
    "hookrelay_throttled_total",
    "Attempts held back by a subscription's rate limit, parked until their turn",
);
/// Entries left idle by another worker that this one reclaimed (`dispatch`).
pub const ENTRIES_RECLAIMED: Metric = Metric::counter(
    "hookrelay_entries_reclaimed_total",
    "Stream entries left idle by another worker and reclaimed by this one",
);
/// Deliveries Redis had lost, queued again (`reconcile`).
pub const RECONCILED: Metric = Metric::counter(
    "hookrelay_reconciled_total",
    "Unfinished deliveries that Redis no longer held, queued again by the reconciler",
);
/// Reconciliation ticks, `{result}`: `reconciled`, `skipped` when another worker had
/// the tick, `failed` (`reconcile`).
pub const RECONCILE_RUNS: Metric = Metric::counter(
    "hookrelay_reconcile_runs_total",
    "Reconciliation ticks in this worker, by result (reconciled, skipped, failed)",
);
/// Due retries this worker's mover put into the stream (`retry`, `mover`).
pub const RETRIES_MOVED: Metric = Metric::counter(
    "hookrelay_retries_moved_total",
    "Due retries moved into the work stream by this worker's mover",
);
/// Delayed webhooks (`X-Deliver-At`) this worker's mover put into the stream
/// (`delayed`, `mover`).
pub const DELAYED_MOVED: Metric = Metric::counter(
    "hookrelay_delayed_moved_total",
    "Delayed webhooks (X-Deliver-At) moved into the work stream by this worker's mover",
);
/// Batches the attempt log writer committed (`recorder`).
pub const LOG_BATCHES: Metric = Metric::counter(
    "hookrelay_log_batches_total",
    "Batches of webhooks, deliveries and attempts written to Postgres by the attempt log writer",
);
/// Failed writes of an attempt log batch, each retried after a backoff (`recorder`).
pub const LOG_WRITE_RETRIES: Metric = Metric::counter(
    "hookrelay_log_write_retries_total",
    "Attempt log batches that Postgres could not write, retried after a backoff",
);
/// Subscriptions the service made inactive, `{reason}`: `failures`, `gone`.
pub const DISABLED: Metric = Metric::counter(
    "hookrelay_subscriptions_disabled_total",
    "Subscriptions disabled automatically, by reason (failures, gone)",
);
/// Operational events written to the outbox, `{type}`.
pub const OPERATIONAL_EVENTS: Metric = Metric::counter(
    "hookrelay_operational_events_total",
    "Operational events raised, by type (hookrelay.subscription.failing, .disabled)",
);
/// Bulk replays, `{status}`: `running`, `done`, `cancelled`; all workers' together,
/// refreshed every 5 s by each worker.
pub const REPLAYS: Metric = Metric::gauge(
    "hookrelay_replays",
    "Bulk replays by status (running, done, cancelled)",
);
/// Deliveries this worker's replay runner queued for a new run (or created, with
/// `include_missing`).
pub const REPLAY_QUEUED: Metric = Metric::counter(
    "hookrelay_replay_deliveries_queued_total",
    "Deliveries queued for a new run (or created, include_missing) by bulk replays",
);
/// Schedule runs this worker's schedule runner fired.
pub const SCHEDULE_RUNS: Metric = Metric::counter(
    "hookrelay_schedule_runs_total",
    "Schedule runs fired by this worker",
);
/// Ticks missed while no worker ran, and not run, `{policy}`: the schedule's
/// `missed_runs` (`run_once` ran the newest of them, `skip` none).
pub const SCHEDULE_MISSED: Metric = Metric::counter(
    "hookrelay_schedule_runs_missed_total",
    "Schedule ticks missed while no worker ran and not run, by missed_runs policy",
);
/// From a run's due time to its webhook in the work stream.
pub const SCHEDULE_LAG: Metric = Metric::seconds(
    "hookrelay_schedule_run_lag_seconds",
    "From a schedule run's due time to its webhook in the work stream",
);
/// Rows deleted by the retention purge, `{table}` (`purge`).
pub const PURGED_ROWS: Metric = Metric::counter(
    "hookrelay_purged_rows_total",
    "Rows deleted by the retention purge, by table",
);
/// Purge ticks, `{result}`: `purged`, `skipped`, `failed` (`scheduler`).
pub const PURGE_RUNS: Metric = Metric::counter(
    "hookrelay_purge_runs_total",
    "Scheduled purge ticks in this worker, by result",
);

/// Every series a worker serves. Queue depths are [`queue::DEPTH`], refreshed every
/// `DEPTH_INTERVAL`. A worker also records [`hookrelay_shared::cache::LOOKUPS`], which
/// only the api describes.
pub const TABLE: &[Metric] = &[
    ATTEMPTS,
    ATTEMPT_DURATION,
    DESTINATION_CONNECTIONS,
    DELIVERIES_FINISHED,
    queue::DEPTH,
    NO_SUBSCRIBERS,
    DEAD_LETTERED,
    RETRIED_IN_PLACE,
    THROTTLED,
    ENTRIES_RECLAIMED,
    RECONCILED,
    RECONCILE_RUNS,
    RETRIES_MOVED,
    DELAYED_MOVED,
    LOG_BATCHES,
    LOG_WRITE_RETRIES,
    DISABLED,
    OPERATIONAL_EVENTS,
    REPLAYS,
    REPLAY_QUEUED,
    SCHEDULE_RUNS,
    SCHEDULE_MISSED,
    SCHEDULE_LAG,
    PURGED_ROWS,
    PURGE_RUNS,
];

/// How often the queue depth gauges are refreshed.
const DEPTH_INTERVAL: Duration = Duration::from_secs(2);

/// Installs the recorder, describes the series and starts the counters at zero, so rates
/// and alerts work from the first scrape rather than from the first attempt of each kind.
/// (The purge's counters start at zero when the purge starts: `scheduler::run`.)
pub fn register() {
    telemetry::metrics_handle();
    telemetry::describe_all(TABLE);
    for zero in [
        NO_SUBSCRIBERS,
        DEAD_LETTERED,
        RETRIED_IN_PLACE,
        THROTTLED,
        RECONCILED,
        REPLAY_QUEUED,
        SCHEDULE_RUNS,
    ] {
        metrics::counter!(zero.name).increment(0);
    }
    for result in ["reconciled", "skipped", "failed"] {
        metrics::counter!(RECONCILE_RUNS.name, "result" => result).increment(0);
    }
    for reason in ["failures", "gone"] {
        metrics::counter!(DISABLED.name, "reason" => reason).increment(0);
    }
    for kind in [HealthEvent::Failing, HealthEvent::Disabled] {
        metrics::counter!(OPERATIONAL_EVENTS.name, "type" => kind.event_type()).increment(0);
    }
    for policy in MissedRuns::ALL {
        metrics::counter!(SCHEDULE_MISSED.name, "policy" => policy.as_str()).increment(0);
    }
    for outcome in Outcome::ALL {
        for destination in destinations::Kind::ALL {
            metrics::counter!(ATTEMPTS.name, "outcome" => outcome.as_str(), "destination" => destination.as_str())
                .increment(0);
        }
    }
    for status in DeliveryStatus::FINISHED {
        metrics::counter!(DELIVERIES_FINISHED.name, "status" => status.as_str()).increment(0);
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

pub fn attempt(outcome: &DeliveryOutcome, duration: Duration, destination: destinations::Kind) {
    let (outcome, destination) = (outcome.attempt_outcome().as_str(), destination.as_str());
    metrics::counter!(ATTEMPTS.name, "outcome" => outcome, "destination" => destination)
        .increment(1);
    metrics::histogram!(ATTEMPT_DURATION.name, "destination" => destination)
        .record(duration.as_secs_f64());
}

/// Sets the open connections of each destination type.
pub fn destination_connections(open: &[(destinations::Kind, usize)]) {
    for (kind, count) in open {
        #[expect(clippy::cast_precision_loss, reason = "a count of connections")]
        metrics::gauge!(DESTINATION_CONNECTIONS.name, "destination" => kind.as_str())
            .set(*count as f64);
    }
}

pub fn finished(status: DeliveryStatus) {
    metrics::counter!(DELIVERIES_FINISHED.name, "status" => status.as_str()).increment(1);
}

/// Counts a webhook that matched no subscription.
pub fn no_subscribers() {
    metrics::counter!(NO_SUBSCRIBERS.name).increment(1);
}

/// Counts an entry moved to the dead letters.
pub fn dead_lettered() {
    metrics::counter!(DEAD_LETTERED.name).increment(1);
}

/// Counts an entry run retried in place.
pub fn entry_retried_in_place() {
    metrics::counter!(RETRIED_IN_PLACE.name).increment(1);
}

/// Counts an attempt parked by a rate limit.
pub fn throttled() {
    metrics::counter!(THROTTLED.name).increment(1);
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
                for (partition, depths) in depths {
                    let partition = partition.label();
                    for (queue, depth) in depths.labelled() {
                        metrics::gauge!(queue::DEPTH.name, "queue" => queue, "partition" => partition.clone())
                            .set(depth as f64);
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "could not read queue depths"),
        }
    }
}

/// A subscription disabled automatically (`reason`: `failures` or `gone`).
pub fn disabled(reason: &'static str) {
    metrics::counter!(DISABLED.name, "reason" => reason).increment(1);
}

/// An operational event written to the outbox.
pub fn operational_event(kind: HealthEvent) {
    metrics::counter!(OPERATIONAL_EVENTS.name, "type" => kind.event_type()).increment(1);
}

/// The number of replays with `status`.
pub fn replays(status: ReplayStatus, count: i64) {
    metrics::gauge!(REPLAYS.name, "status" => status.as_str()).set(count as f64);
}

/// Deliveries a replay batch queued.
pub fn replay_queued(deliveries: usize) {
    metrics::counter!(REPLAY_QUEUED.name).increment(deliveries as u64);
}

/// Counts a schedule run queued `lag` after its due time.
pub fn schedule_run(lag: chrono::Duration) {
    metrics::counter!(SCHEDULE_RUNS.name).increment(1);
    let seconds = lag.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
    metrics::histogram!(SCHEDULE_LAG.name).record(seconds.max(0.0));
}

/// Counts schedule ticks missed for good under `policy`.
pub fn schedule_missed(policy: MissedRuns, ticks: u64) {
    metrics::counter!(SCHEDULE_MISSED.name, "policy" => policy.as_str()).increment(ticks);
}
