//! Probes, metrics and documentation (CONTRACT §8): open routes, no authentication.

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};
use hookrelay_shared::queue::queue_depths;
use hookrelay_shared::{db, redis_client, telemetry};
use serde_json::json;

use crate::error::ApiError;
use crate::state::{AppState, OpenApiJson};

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
    let mut redis = state.services.redis.clone();
    let (postgres, redis) =
        futures::join!(db::ping(&state.services.db), redis_client::ping(&mut redis));
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
    let mut redis = state.services.redis.clone();
    match tokio::time::timeout(
        DEPTH_TIMEOUT,
        queue_depths(&mut redis, &state.services.keys),
    )
    .await
    {
        Ok(Ok(depths)) => {
            for (partition, depths) in depths {
                let partition = partition.label();
                for (queue, depth) in depths.labelled() {
                    ::metrics::gauge!(crate::metrics::QUEUE_DEPTH.name, "queue" => queue, "partition" => partition.clone())
                        .set(depth as f64);
                }
            }
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "could not read queue depths for /metrics"),
        Err(_) => tracing::debug!("queue depths timed out for /metrics"),
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(telemetry::metrics_handle().render())
}

/// This document (built once per process, on first request).
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this api", content_type = "application/json")))]
pub async fn openapi(document: web::Data<OpenApiJson>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(document.bytes()?))
}

/// Swagger UI's page, answered at `/docs` itself (not a redirect: a client that does not
/// follow redirects sees the page too). Its asset paths are relative (`./swagger-ui.css`),
/// so the page names `/docs/` as its base, where `swagger_ui` serves them.
#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 200, description = "Swagger UI for this document, served from the binary", content_type = "text/html")))]
pub async fn docs(
    config: web::Data<utoipa_swagger_ui::Config<'static>>,
) -> Result<HttpResponse, ApiError> {
    let file = swagger_file("", config)?;
    // utoipa-swagger-ui's `gzip` feature is off: the page is plain HTML.
    let page =
        String::from_utf8_lossy(&file.bytes).replacen("<head>", r#"<head><base href="/docs/">"#, 1);
    Ok(HttpResponse::Ok()
        .content_type(file.content_type)
        .body(page))
}

/// Swagger UI's files (`index.html` for `/docs/`), compiled into the binary by
/// utoipa-swagger-ui's `vendored` feature, so the UI works with no internet access.
#[utoipa::path(get, path = "/docs/{file}", tag = "operations",
    params(("file" = String, Path, description = "A Swagger UI file; empty for index.html")),
    responses((status = 200, description = "The file", content_type = "text/html"), (status = 404)))]
pub async fn swagger_ui(
    file: web::Path<String>,
    config: web::Data<utoipa_swagger_ui::Config<'static>>,
) -> Result<HttpResponse, ApiError> {
    let file = swagger_file(&file, config)?;
    Ok(HttpResponse::Ok()
        .content_type(file.content_type)
        .body(file.bytes.into_owned()))
}

/// One of Swagger UI's files.
fn swagger_file(
    path: &str,
    config: web::Data<utoipa_swagger_ui::Config<'static>>,
) -> Result<utoipa_swagger_ui::SwaggerFile<'static>, ApiError> {
    utoipa_swagger_ui::serve(path, config.into_inner())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("Failed to serve a Swagger UI file: {e}")))?
        .ok_or(ApiError::NotFound("Not Found"))
}
