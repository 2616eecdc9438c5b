//! Probes and metrics (CONTRACT §8): open routes, no authentication.

use actix_web::{HttpResponse, web};
use hookrelay_shared::{db, redis_client, telemetry};
use serde_json::json;

use crate::state::AppState;

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

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(telemetry::metrics_handle().render())
}
