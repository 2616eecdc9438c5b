//! Ingest's HTTP side (CONTRACT §4): the body, read within `MAX_PAYLOAD_BYTES` and
//! `body::READ_TIMEOUT`, checked to be JSON and kept byte for byte, between the domain's
//! two steps (`hookrelay_domain::webhooks::ingest`: admit, then queue), and the ingest
//! metrics.
//!
//! Error order (see `docs/ingest.md`): 401, 403, 422 path, 422 headers, 404, 409, 413,
//! 400, 503. `auth` and the handler's extractors produce the first four; the domain's
//! `admit` the 404 and 409, this module the 413 and 400, and the domain's `queue` the 503.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use hookrelay_domain::api_keys::Principal;
use hookrelay_domain::webhooks::ingest::{self, IngestHeaders, Route};
use hookrelay_shared::queue::Enqueued;
use uuid::Uuid;

use crate::body::BodyReader;
use crate::error::ApiError;
use crate::state::AppState;

const INVALID_JSON: ApiError = ApiError::BadRequest("Invalid JSON body received.");

/// The 202 body: `{"webhook_id": uuid}`.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct IngestAccepted {
    pub webhook_id: Uuid,
}

/// A body as the client sent it: its declared length, if any, and its chunks.
pub struct Body<S> {
    pub content_length: Option<u64>,
    pub chunks: S,
}

/// Checks, reads and queues one webhook; the 404 → 409 → 413 → 400 → 503 part of the
/// contract's error order.
pub async fn accept<S, E>(
    state: &AppState,
    principal: &Principal,
    route: Route,
    headers: IngestHeaders,
    body: Body<S>,
) -> Result<Enqueued, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let services = &state.services;
    let tenant_id = ingest::admit(services, principal, route, &headers).await?;
    let body = read_body(body, state.services.max_payload_bytes).await?;
    check_json(&body)?;
    let webhook = ingest::new_webhook(
        &services.keys,
        headers.idempotency_key.as_deref(),
        route.subscription_id(),
        headers.event_type,
        tenant_id,
        body,
    );
    let enqueued = ingest::queue(
        services,
        &webhook,
        headers.idempotency_key.as_deref(),
        headers.deliver_at,
    )
    .await?;
    Ok(enqueued)
}

fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!("Payload too large: the limit is {limit} bytes."))
}

/// Reads the whole body, refusing (413) as soon as it is known to exceed `limit`: up
/// front from `Content-Length`, otherwise the moment the chunks pass it. Never holds
/// more than `limit` bytes, nor waits for them longer than `body::READ_TIMEOUT` (408).
pub async fn read_body<S, E>(body: Body<S>, limit: usize) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let declared = body
        .content_length
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let mut chunks = BodyReader::new(body.chunks);
    // The first chunk is usually the whole body: keep it without copying.
    let Some(first) = chunks.next().await? else {
        return Ok(Bytes::new());
    };
    if first.len() > limit {
        return Err(too_large(limit));
    }
    let Some(second) = chunks.next().await? else {
        return Ok(first);
    };
    let mut buffer = BytesMut::with_capacity(declared.unwrap_or(0).max(first.len() * 2).min(limit));
    buffer.extend_from_slice(&first);
    let mut next = Some(second);
    while let Some(chunk) = next {
        if buffer.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        buffer.extend_from_slice(&chunk);
        next = chunks.next().await?;
    }
    Ok(buffer.freeze())
}

/// 400 unless the body is one UTF-8 JSON value (any value; surrounding whitespace is
/// allowed). The bytes themselves are never changed.
pub fn check_json(body: &[u8]) -> Result<(), ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| INVALID_JSON)?;
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|_| INVALID_JSON)?;
    Ok(())
}

/// Records [`crate::metrics::INGEST`] `{route, outcome}` and
/// [`crate::metrics::INGEST_DURATION`] `{route}` for one request.
pub fn record(route: &'static str, result: &Result<Enqueued, ApiError>, started: Instant) {
    let outcome = match result {
        Ok(Enqueued::New(_)) => "accepted",
        Ok(Enqueued::Replayed(_)) => "replayed",
        Err(ApiError::Unavailable { .. } | ApiError::Internal(_)) => "unavailable",
        Err(_) => "rejected",
    };
    metrics::counter!(crate::metrics::INGEST.name, "route" => route, "outcome" => outcome)
        .increment(1);
    metrics::histogram!(crate::metrics::INGEST_DURATION.name, "route" => route)
        .record(started.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(
        parts: &[&'static [u8]],
    ) -> Body<impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin> {
        let parts: Vec<_> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Body {
            content_length: None,
            chunks: futures::stream::iter(parts),
        }
    }

    fn status(result: Result<impl std::fmt::Debug, ApiError>) -> u16 {
        use actix_web::ResponseError as _;
        result.expect_err("an error").status_code().as_u16()
    }

    #[tokio::test]
    async fn bodies_are_kept_whole_and_limited() {
        let body = read_body(chunks(&[b"{\"a\": ", b"1}"]), 16)
            .await
            .expect("fits");
        assert_eq!(body.as_ref(), b"{\"a\": 1}");
        assert_eq!(
            read_body(chunks(&[b"12345678", b"9"]), 8)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err("Payload too large: the limit is 8 bytes.".into())
        );
        assert_eq!(status(read_body(chunks(&[b"123456789"]), 8).await), 413);
        assert_eq!(read_body(chunks(&[]), 8).await.expect("empty").len(), 0);
        let declared = Body {
            content_length: Some(9),
            chunks: futures::stream::iter(Vec::<Result<Bytes, std::io::Error>>::new()),
        };
        assert_eq!(status(read_body(declared, 8).await), 413);
    }

    #[test]
    fn any_json_value_is_a_body_and_nothing_else_is() {
        for ok in [
            &b"{}"[..],
            b" [1, 2] ",
            b"\"x\"",
            b"null",
            b"3.5",
            "{\"é\": \"☃\"}".as_bytes(),
        ] {
            assert!(check_json(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            &b""[..],
            b"   ",
            b"{",
            b"{\"a\": 1} x",
            b"\xff\xfe",
            b"{\"a\": \"\xc3\"}",
            b"nul",
        ] {
            assert_eq!(status(check_json(bad)), 400, "{bad:?}");
        }
    }
}
