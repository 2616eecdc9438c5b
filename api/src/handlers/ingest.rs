//! `/ingest` and `/ingest/{subscription_id}` (CONTRACT §4): extract, call
//! `crate::ingest::accept`, answer 202.
//!
//! 401 and 403 come first, from `auth::authorize` (counted in
//! `hookrelay_auth_failures_total`). The other extractors are taken as a `Result` so the
//! handler decides the rest of the error order (the path, then the headers) and so
//! rejected requests are counted in the ingest metrics too.

use std::future::{Ready, ready};
use std::time::Instant;

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, HeaderName};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use hookrelay_shared::queue::Enqueued;

use hookrelay_domain::api_keys::Principal;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::SubscriptionId;
use hookrelay_domain::webhooks::ingest::{IngestHeaders, RawIngestHeaders, Route};

use crate::ingest::{self, Body, IngestAccepted};
use crate::state::AppState;

/// Set on a 202 that answers a repeated `Idempotency-Key`.
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

#[utoipa::path(post, path = "/ingest/{subscription_id}", tag = "ingest", request_body = serde_json::Value,
    params(("subscription_id" = uuid::Uuid, Path), hookrelay_domain::webhooks::body::IngestHeaderParams),
    responses((status = 202, body = IngestAccepted), (status = 400), (status = 401), (status = 403), (status = 404), (status = 409),
        (status = 413), (status = 422, body = hookrelay_domain::FieldError), (status = 503)))]
pub async fn targeted(
    Caller(principal): Caller,
    path: Result<SubscriptionId, ApiError>,
    headers: Result<Headers, ApiError>,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let route = path.map(|SubscriptionId(id)| Route::Targeted(id));
    handle("targeted", principal, route, headers, &state, payload).await
}

#[utoipa::path(post, path = "/ingest", tag = "ingest", request_body = serde_json::Value,
    params(hookrelay_domain::webhooks::body::IngestHeaderParams),
    responses((status = 202, body = IngestAccepted), (status = 400), (status = 401), (status = 403), (status = 404), (status = 413),
        (status = 422, body = hookrelay_domain::FieldError), (status = 503)))]
pub async fn fan_out(
    Caller(principal): Caller,
    headers: Result<Headers, ApiError>,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    handle(
        "fan_out",
        principal,
        Ok(Route::FanOut),
        headers,
        &state,
        payload,
    )
    .await
}

async fn handle(
    label: &'static str,
    principal: Principal,
    route: Result<Route, ApiError>,
    headers: Result<Headers, ApiError>,
    state: &AppState,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let result = async {
        let route = route?;
        let Headers {
            headers,
            content_length,
        } = headers?;
        ingest::accept(
            state,
            &principal,
            route,
            headers,
            Body {
                content_length,
                chunks: payload,
            },
        )
        .await
    }
    .await;
    ingest::record(label, &result, started);
    Ok(accepted(result?))
}

/// The 202 of a queued webhook, `Idempotent-Replayed: true` for a repeat.
pub fn accepted(enqueued: Enqueued) -> HttpResponse {
    match enqueued {
        Enqueued::New(webhook_id) => HttpResponse::Accepted().json(IngestAccepted { webhook_id }),
        Enqueued::Replayed(webhook_id) => HttpResponse::Accepted()
            .insert_header((REPLAYED, "true"))
            .json(IngestAccepted { webhook_id }),
    }
}

/// The validated `X-Event-Type`, `Idempotency-Key`, `X-Tenant-Id` and `X-Deliver-At`
/// (422 with `loc: ["header", …]`), and the declared `Content-Length`.
pub struct Headers {
    headers: IngestHeaders,
    content_length: Option<u64>,
}

impl FromRequest for Headers {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = |name: &str| req.headers().get(name).map(|v| v.as_bytes());
        let content_length = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        ready(
            IngestHeaders::parse(
                RawIngestHeaders {
                    event_type: raw("x-event-type"),
                    idempotency_key: raw("idempotency-key"),
                    tenant_id: raw("x-tenant-id"),
                    deliver_at: raw("x-deliver-at"),
                },
                hookrelay_shared::time::now(),
            )
            .map(|headers| Headers {
                headers,
                content_length,
            })
            .map_err(ApiError::Validation),
        )
    }
}
