//! Probes and metrics (CONTRACT §8): open routes, no authentication.

use actix_web::{HttpResponse, web};
use hookrelay_shared::queue::queue_depths;
use hookrelay_shared::{db, redis_client, telemetry};
use serde_json::json;

use crate::state::AppState;

/// How long `/metrics` waits for the queue depths before answering without fresh ones.
const DEPTH_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Postgres and Redis both answer; 503 names the one that does not.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200), (status = 503)))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mut redis = state.redis.clone();
    let (postgres, redis) = futures::join!(db::ping(&state.db), redis_client::ping(&mut redis));
    let verdict = |ok: bool| if ok { "ok" } else { "unavailable" };
    let body = |status| json!({"status": status, "postgres": verdict(postgres.is_ok()), "redis": verdict(redis.is_ok())});
    if postgres.is_ok() && redis.is_ok() {
        return HttpResponse::Ok().json(body("ready"));
    }
    if let Err(e) = &postgres {
        tracing::warn!(error = format!("{e:#}"), "not ready: Postgres");
    }
    if let Err(e) = &redis {
        tracing::warn!(error = %e, "not ready: Redis");
    }
    HttpResponse::ServiceUnavailable().json(body("unavailable"))
}

/// Prometheus text format. Queue depths are read from Redis at scrape time (bounded by
/// `DEPTH_TIMEOUT`; on a timeout or error the gauges keep their last values).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let mut redis = state.redis.clone();
    match tokio::time::timeout(DEPTH_TIMEOUT, queue_depths(&mut redis, &state.keys)).await {
        Ok(Ok(depths)) => {
            for (queue, depth) in [
                ("ready", depths.ready),
                ("in_flight", depths.in_flight),
                ("scheduled", depths.scheduled),
            ] {
                ::metrics::gauge!("hookrelay_queue_depth", "queue" => queue).set(depth as f64);
            }
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "could not read queue depths for /metrics"),
        Err(_) => tracing::debug!("queue depths timed out for /metrics"),
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(telemetry::metrics_handle().render())
}
