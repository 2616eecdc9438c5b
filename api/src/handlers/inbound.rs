//! `POST /in/{token}`: a provider's webhook to a source. No API key: the source's own
//! verification is the authentication (`crate::inbound` checks, in order).

use std::time::Instant;

use actix_web::http::header::{CONTENT_LENGTH, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;
use crate::inbound::{self, Answer, Request};
use crate::ingest::{Body, IngestAccepted};
use crate::state::AppState;

#[utoipa::path(post, path = "/in/{token}", tag = "sources",
    request_body(content = String, description = "Any content type; delivered byte for byte with it", content_type = "application/octet-stream"),
    params(("token" = String, Path, description = "The token of the source's ingest_path")),
    responses((status = 200, description = "Slack's url_verification: its challenge", content_type = "text/plain", body = String),
        (status = 202, body = IngestAccepted), (status = 401, description = "Verification failed; the detail names the check"),
        (status = 403, description = "Client address not in ip_allowlist"), (status = 404, description = "Source not found"),
        (status = 409, description = "The source's subscription is inactive"), (status = 413),
        (status = 429, description = "Over rate_limit; see Retry-After"), (status = 503)))]
pub async fn receive(
    req: HttpRequest,
    token: web::Path<String>,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let content_length = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let request = Request {
        token: &token,
        peer: req.peer_addr().map(|addr| addr.ip()),
        headers: req.headers(),
        body: Body {
            content_length,
            chunks: payload,
        },
    };
    let answer = inbound::receive(&state, request).await;
    metrics::histogram!(crate::metrics::INBOUND_DURATION.name)
        .record(started.elapsed().as_secs_f64());
    Ok(match answer? {
        Answer::Queued(enqueued) => crate::handlers::ingest::accepted(enqueued),
        Answer::Challenge(challenge) => HttpResponse::Ok()
            .content_type(ContentType::plaintext())
            .body(challenge),
    })
}
