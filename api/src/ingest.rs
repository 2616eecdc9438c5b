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
//! Delayed ingest: `X-Deliver-At` (RFC 3339, at most `MAX_DELIVERY_DELAY` ahead) holds a
//! webhook back until that time. It is validated with the other headers; a time already
//! past is no delay at all. The same script stores a delayed webhook, so the 202 means
//! the same (in Redis) and costs the same one round trip.
//!
//! Tenants: a tenant key ingests into its tenant; any other key into the default space,
//! or into the tenant named by `X-Tenant-Id` (checked against the tenant cache). A
//! targeted webhook belongs to its subscription's tenant, which must be in reach.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
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

/// The furthest ahead `X-Deliver-At` may be (CONTRACT §10: 30 days).
pub const MAX_DELIVERY_DELAY: chrono::TimeDelta = chrono::TimeDelta::days(30);

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

/// `X-Event-Type` and `Idempotency-Key`, both optional, both 1..=255 visible ASCII,
/// `X-Tenant-Id`, an optional UUID, and `X-Deliver-At`, an optional RFC 3339 timestamp.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestHeaders {
    pub event_type: Option<String>,
    pub idempotency_key: Option<String>,
    pub tenant_id: Option<Uuid>,
    /// When to deliver, if later than `now` was when the headers were parsed; `None`:
    /// now (no header, or a time already past).
    pub deliver_at: Option<DateTime<Utc>>,
}

/// The raw values of the ingest headers, as the request carried them.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawIngestHeaders<'a> {
    pub event_type: Option<&'a [u8]>,
    pub idempotency_key: Option<&'a [u8]>,
    pub tenant_id: Option<&'a [u8]>,
    pub deliver_at: Option<&'a [u8]>,
}

impl IngestHeaders {
    /// Validates the raw header values, reporting every bad one at once. `now` is what
    /// `X-Deliver-At` is measured from.
    pub fn parse(raw: RawIngestHeaders<'_>, now: DateTime<Utc>) -> Result<Self, Vec<FieldError>> {
        let RawIngestHeaders {
            event_type,
            idempotency_key,
            tenant_id,
            deliver_at,
        } = raw;
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
        let deliver_at = deliver_at.and_then(|raw| match parse_deliver_at(raw, now) {
            Ok(at) => at,
            Err(error) => {
                errors.push(error);
                None
            }
        });
        let headers = Self {
            event_type,
            idempotency_key,
            tenant_id,
            deliver_at,
        };
        if errors.is_empty() {
            Ok(headers)
        } else {
            Err(errors)
        }
    }
}

/// `X-Deliver-At`: `Some` for a time after `now` and at most `MAX_DELIVERY_DELAY` ahead,
/// `None` for one not after `now` (a past time means now). Spaces and tabs around the
/// value are ignored, as HTTP does.
pub(crate) fn parse_deliver_at(
    raw: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, FieldError> {
    let error = |msg: String, kind: &str| FieldError::new(&["header", "x-deliver-at"], msg, kind);
    let text = std::str::from_utf8(raw).map_err(|_| {
        error(
            "Input should be a valid RFC 3339 datetime".into(),
            "datetime_parsing",
        )
    })?;
    let at = time::parse(text.trim_matches([' ', '\t'])).map_err(|e| {
        error(
            format!("Input should be a valid RFC 3339 datetime, {e}"),
            "datetime_parsing",
        )
    })?;
    if at - now > MAX_DELIVERY_DELAY {
        return Err(error(
            format!(
                "Delivery may be at most {} days ahead",
                MAX_DELIVERY_DELAY.num_days()
            ),
            "less_than_equal",
        ));
    }
    Ok((at > now).then_some(at))
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
        envelope: None,
    };
    queue(
        state,
        &webhook,
        headers.idempotency_key.as_deref(),
        headers.deliver_at,
    )
    .await
}

/// Queues one webhook (sent now, or at `deliver_at`), waiting at most `BACKEND_TIMEOUT`:
/// the one way both ingest and sources put a webhook into Redis.
pub async fn queue(
    state: &AppState,
    webhook: &IngestedWebhook,
    idempotency_key: Option<&str>,
    deliver_at: Option<DateTime<Utc>>,
) -> Result<Enqueued, ApiError> {
    let mut redis = state.redis.clone();
    let enqueue = state
        .queue
        .enqueue_at(&mut redis, webhook, idempotency_key, deliver_at);
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
pub(crate) async fn check_subscription(
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
        _ => Err(ApiError::NotFound(crate::subscriptions::NOT_FOUND)),
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

    fn parse(
        event_type: Option<&[u8]>,
        idempotency_key: Option<&[u8]>,
        tenant_id: Option<&[u8]>,
    ) -> Result<IngestHeaders, Vec<FieldError>> {
        let raw = RawIngestHeaders {
            event_type,
            idempotency_key,
            tenant_id,
            deliver_at: None,
        };
        IngestHeaders::parse(raw, time::now())
    }

    #[test]
    fn headers_are_visible_ascii_tokens() {
        let ok = parse(Some(b"order.created"), Some(b"key-1"), None).expect("valid");
        assert_eq!(ok.event_type.as_deref(), Some("order.created"));
        assert_eq!(ok.idempotency_key.as_deref(), Some("key-1"));
        assert_eq!(parse(None, None, None), Ok(IngestHeaders::default()));
        let errors =
            parse(Some(b"has space"), Some(&[b'a'; 256]), Some(b"acme")).expect_err("invalid");
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
        assert!(parse(Some(b""), None, None).is_err());
        assert!(parse(Some("caf\u{e9}".as_bytes()), None, None).is_err());
        let tenant = Uuid::new_v4();
        let named =
            parse(None, None, Some(tenant.simple().to_string().as_bytes())).expect("a UUID");
        assert_eq!(named.tenant_id, Some(tenant));
    }

    fn deliver_at(raw: &str, now: &str) -> Result<Option<String>, FieldError> {
        let now = time::parse(now).expect("a time");
        parse_deliver_at(raw.as_bytes(), now).map(|at| at.as_ref().map(time::format))
    }

    #[test]
    fn deliver_at_is_rfc_3339_at_most_30_days_ahead_and_a_past_time_is_now() {
        let now = "2026-12-02T12:00:00Z";
        assert_eq!(
            deliver_at("2026-12-02T13:00:00+01:00", now),
            Ok(None),
            "the same instant as now"
        );
        assert_eq!(
            deliver_at("2026-12-02T12:00:00.000001Z", now),
            Ok(Some("2026-12-02T12:00:00.000001Z".into()))
        );
        assert_eq!(
            deliver_at(" 2026-12-02T07:00:03.1234567-05:00\t", now),
            Ok(Some("2026-12-02T12:00:03.123456Z".into())),
            "any offset, to UTC and whole microseconds, spaces around ignored"
        );
        assert_eq!(
            deliver_at("1999-01-01T00:00:00Z", now),
            Ok(None),
            "past: now"
        );
        assert_eq!(
            deliver_at("2027-01-01T12:00:00Z", now),
            Ok(Some("2027-01-01T12:00:00.000000Z".into())),
            "exactly 30 days ahead"
        );
        for (bad, kind) in [
            ("2027-01-01T12:00:00.000001Z", "less_than_equal"),
            ("9999-12-31T23:59:59Z", "less_than_equal"),
            ("2026-12-02", "datetime_parsing"),
            ("2026-12-02T12:00:00", "datetime_parsing"),
            ("2026-02-30T12:00:00Z", "datetime_parsing"),
            ("1764676800", "datetime_parsing"),
            ("tomorrow", "datetime_parsing"),
            ("", "datetime_parsing"),
        ] {
            let error = deliver_at(bad, now).expect_err(bad);
            assert_eq!(error.kind, kind, "{bad}");
            assert_eq!(
                serde_json::Value::from(error.loc),
                serde_json::json!(["header", "x-deliver-at"])
            );
        }
        let raw = RawIngestHeaders {
            event_type: Some(b"a b"),
            deliver_at: Some(b"soon"),
            ..RawIngestHeaders::default()
        };
        let errors = IngestHeaders::parse(raw, time::now()).expect_err("two bad headers");
        assert_eq!(errors.len(), 2, "reported together: {errors:?}");
    }
}
