//! Ingest (CONTRACT §4) as plain functions, with no actix types: the two optional
//! headers, the subscription check, the body (read within `MAX_PAYLOAD_BYTES`, checked to
//! be JSON, kept byte for byte), queueing with a bounded wait, and the ingest metrics.
//!
//! The hot path touches no database: the subscription comes from the in-process cache
//! (`hookrelay_shared::cache`), and the webhook goes into Redis in one atomic script
//! (`hookrelay_shared::queue::IngestQueue`). A 202 is only ever answered after Redis
//! acknowledged that script; anything else that goes wrong with Redis is a 503.
//!
//! Error order (see `docs/ingest.md`): 401, 403, 422 path, 422 headers, 404, 409, 413,
//! 400, 503. `auth` and the handler's extractors produce the first four; this module the
//! rest.
//!
//! Tenants: a tenant key ingests into its tenant; any other key into the default space,
//! or into the tenant named by `X-Tenant-Id` (checked against the tenant cache). A
//! targeted webhook belongs to its subscription's tenant, which must be in reach.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::Stream;
use hookrelay_shared::events::is_visible_ascii_token;
use hookrelay_shared::queue::{Enqueued, IngestedWebhook};
use hookrelay_shared::time;
use uuid::Uuid;

use hookrelay_shared::tenancy::Space;

use crate::auth::Principal;
use crate::body::BodyReader;
use crate::error::{ApiError, FieldError};
use crate::state::AppState;

/// The longest ingest waits for Redis (or, on a cache miss, Postgres) before answering
/// 503. The Redis connection's own response timeout is shorter; this is the backstop.
pub const BACKEND_TIMEOUT: Duration = Duration::from_secs(3);

const INVALID_JSON: ApiError = ApiError::BadRequest("Invalid JSON body received.");
const QUEUE_UNAVAILABLE: &str =
    "The queue is unavailable; the webhook was not accepted. Retry later.";

/// The 202 body: `{"webhook_id": uuid}`.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct IngestAccepted {
    pub webhook_id: Uuid,
}

/// Which ingest route was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /ingest/{subscription_id}`.
    Targeted(Uuid),
    /// `POST /ingest`.
    FanOut,
}

impl Route {
    /// The `route` label of the ingest metrics.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Targeted(_) => "targeted",
            Self::FanOut => "fan_out",
        }
    }

    const fn subscription_id(self) -> Option<Uuid> {
        match self {
            Self::Targeted(id) => Some(id),
            Self::FanOut => None,
        }
    }
}

/// `X-Event-Type` and `Idempotency-Key`, both optional, both 1..=255 visible ASCII, and
/// `X-Tenant-Id`, an optional UUID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestHeaders {
    pub event_type: Option<String>,
    pub idempotency_key: Option<String>,
    pub tenant_id: Option<Uuid>,
}

impl IngestHeaders {
    /// Validates the raw header values, reporting every bad one at once.
    pub fn parse(
        event_type: Option<&[u8]>,
        idempotency_key: Option<&[u8]>,
        tenant_id: Option<&[u8]>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut token = |raw: Option<&[u8]>, name: &str| -> Option<String> {
            let raw = raw?;
            match std::str::from_utf8(raw) {
                Ok(s) if is_visible_ascii_token(s) => Some(s.to_owned()),
                _ => {
                    errors.push(FieldError::new(
                        &["header", name],
                        "Header must be 1 to 255 visible ASCII characters",
                        "value_error",
                    ));
                    None
                }
            }
        };
        let event_type = token(event_type, "x-event-type");
        let idempotency_key = token(idempotency_key, "idempotency-key");
        let tenant_id = tenant_id.and_then(|raw| {
            let parsed = std::str::from_utf8(raw)
                .ok()
                .and_then(|s| Uuid::try_parse(s.trim()).ok());
            if parsed.is_none() {
                errors.push(FieldError::new(
                    &["header", "x-tenant-id"],
                    "Input should be a valid UUID",
                    "uuid_parsing",
                ));
            }
            parsed
        });
        let headers = Self {
            event_type,
            idempotency_key,
            tenant_id,
        };
        if errors.is_empty() {
            Ok(headers)
        } else {
            Err(errors)
        }
    }
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
    // The space the caller ingests into: a tenant key's tenant whatever the header says.
    let space = match (principal.tenant(), headers.tenant_id) {
        (Some(own), _) => Space::Tenant(own),
        (None, Some(named)) => {
            crate::tenants::exists(state, named).await?;
            Space::Tenant(named)
        }
        (None, None) => Space::Any,
    };
    let tenant_id = match route {
        Route::Targeted(id) => check_subscription(state, space, id).await?,
        Route::FanOut => match space {
            Space::Tenant(tenant) => Some(tenant),
            Space::Any | Space::Default => None,
        },
    };
    let body = read_body(body, state.max_payload_bytes).await?;
    check_json(&body)?;
    let webhook = IngestedWebhook {
        // v7: ids sort by time, which keeps the webhooks table's index append-mostly.
        webhook_id: Uuid::now_v7(),
        subscription_id: route.subscription_id(),
        event_type: headers.event_type,
        received_at: time::now(),
        body,
        tenant_id,
        skip_subscription: None,
    };
    let mut redis = state.redis.clone();
    let enqueue = state
        .queue
        .enqueue(&mut redis, &webhook, headers.idempotency_key.as_deref());
    // On a timeout the script may still have run: the client sees a 503 and retries
    // (with its Idempotency-Key, if it sent one), so a webhook may be queued twice but
    // never lost.
    match tokio::time::timeout(BACKEND_TIMEOUT, enqueue).await {
        Ok(Ok(enqueued)) => Ok(enqueued),
        Ok(Err(e)) => Err(ApiError::unavailable(QUEUE_UNAVAILABLE, e)),
        Err(elapsed) => Err(ApiError::unavailable(QUEUE_UNAVAILABLE, elapsed)),
    }
}

/// 404 for an unknown subscription (or one outside `space`), 409 for a paused one;
/// otherwise its tenant. Answered from the cache; only an id the cache does not know
/// costs one Postgres query.
async fn check_subscription(
    state: &AppState,
    space: Space,
    id: Uuid,
) -> Result<Option<Uuid>, ApiError> {
    let found = tokio::time::timeout(BACKEND_TIMEOUT, state.cache.get_or_fetch(id))
        .await
        .map_err(|elapsed| {
            ApiError::unavailable("Subscriptions are unavailable. Retry later.", elapsed)
        })?
        .map_err(|e| ApiError::unavailable("Subscriptions are unavailable. Retry later.", e))?;
    match found {
        Some(subscription) if space.contains(subscription.tenant_id) => {
            if subscription.is_active {
                Ok(subscription.tenant_id)
            } else {
                Err(ApiError::Conflict("Subscription is inactive"))
            }
        }
        _ => Err(ApiError::NotFound("Subscription not found")),
    }
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

/// Records `hookrelay_ingest_total{route, outcome}` and
/// `hookrelay_ingest_duration_seconds{route}` for one request.
pub fn record(route: &'static str, result: &Result<Enqueued, ApiError>, started: Instant) {
    let outcome = match result {
        Ok(Enqueued::New(_)) => "accepted",
        Ok(Enqueued::Replayed(_)) => "replayed",
        Err(ApiError::Unavailable { .. } | ApiError::Internal(_)) => "unavailable",
        Err(_) => "rejected",
    };
    metrics::counter!("hookrelay_ingest_total", "route" => route, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("hookrelay_ingest_duration_seconds", "route" => route)
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

    #[test]
    fn headers_are_visible_ascii_tokens() {
        let ok = IngestHeaders::parse(Some(b"order.created"), Some(b"key-1"), None).expect("valid");
        assert_eq!(ok.event_type.as_deref(), Some("order.created"));
        assert_eq!(ok.idempotency_key.as_deref(), Some("key-1"));
        assert_eq!(
            IngestHeaders::parse(None, None, None),
            Ok(IngestHeaders::default())
        );
        let errors = IngestHeaders::parse(Some(b"has space"), Some(&[b'a'; 256]), Some(b"acme"))
            .expect_err("invalid");
        let locs: Vec<_> = errors
            .iter()
            .map(|e| serde_json::Value::from(e.loc.clone()))
            .collect();
        assert_eq!(
            locs,
            [
                serde_json::json!(["header", "x-event-type"]),
                serde_json::json!(["header", "idempotency-key"]),
                serde_json::json!(["header", "x-tenant-id"])
            ]
        );
        assert!(IngestHeaders::parse(Some(b""), None, None).is_err());
        assert!(IngestHeaders::parse(Some("caf\u{e9}".as_bytes()), None, None).is_err());
        let tenant = Uuid::new_v4();
        let named = IngestHeaders::parse(None, None, Some(tenant.simple().to_string().as_bytes()))
            .expect("a UUID");
        assert_eq!(named.tenant_id, Some(tenant));
    }
}
