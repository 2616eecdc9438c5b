//! Ingest (CONTRACT §4) without HTTP: the ingest headers, which space a webhook goes
//! into and whether its subscription takes it ([`admit`]), and queueing it with a bounded
//! wait ([`queue`]). The api reads the body between the two (413, 408, 400 are HTTP's);
//! a test send (`subscriptions::ops::send_test`) and a source's inbound request go
//! through the same two steps.
//!
//! The hot path touches no database: the subscription comes from the in-process cache,
//! and the webhook goes into Redis in one atomic script (`hookrelay_shared::queue`). A
//! webhook is only ever accepted after Redis acknowledged that script; anything else that
//! goes wrong with Redis is `Unavailable`.
//!
//! Delayed ingest: `X-Deliver-At` (RFC 3339, at most `MAX_DELIVERY_DELAY` ahead) holds a
//! webhook back until that time. It is validated with the other headers; a time already
//! past is no delay at all. The same script stores a delayed webhook, so acceptance means
//! the same (in Redis) and costs the same one round trip.
//!
//! Tenants: a tenant key ingests into its tenant; any other key into the default space,
//! or into the tenant named by `X-Tenant-Id` (checked against the tenant cache). A
//! targeted webhook belongs to its subscription's tenant, which must be in reach.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hookrelay_shared::keys::Keys;
use hookrelay_shared::queue::{Enqueued, IngestedWebhook};
use hookrelay_shared::time;
use uuid::Uuid;

use crate::api_keys::Principal;
use crate::subscriptions;
use crate::tenants::{self, Space};
use crate::webhooks::event_types::is_visible_ascii_token;
use crate::{FieldError, Refusal, Services};

/// The longest ingest waits for Redis (or, on a cache miss, Postgres) before answering
/// 503. The Redis connection's own response timeout is shorter; this is the backstop.
pub const BACKEND_TIMEOUT: Duration = Duration::from_secs(3);

/// The furthest ahead `X-Deliver-At` may be (CONTRACT §10: 30 days).
pub const MAX_DELIVERY_DELAY: chrono::TimeDelta = chrono::TimeDelta::days(30);

const QUEUE_UNAVAILABLE: &str =
    "The queue is unavailable; the webhook was not accepted. Retry later.";

/// The detail of a 409 for a webhook to a subscription that is not active.
pub const INACTIVE: &str = "Subscription is inactive";

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

    pub const fn subscription_id(self) -> Option<Uuid> {
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
    ///
    /// The OpenAPI document shows what this reads as [`super::body::IngestHeaderParams`];
    /// keep the two in step.
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
pub fn parse_deliver_at(
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

/// A new webhook as the queue takes it: a time-ordered id (v7 keeps the `webhooks`
/// table's index append-mostly) that names its partition, chosen from `affinity` (the
/// request's idempotency key: a retry lands where the first try did) or evenly,
/// received now, for `subscription_id` (targeted) or for the matching subscriptions of
/// `tenant_id`'s space (`None`: the default space).
pub fn new_webhook(
    keys: &Keys,
    affinity: Option<&str>,
    subscription_id: Option<Uuid>,
    event_type: Option<String>,
    tenant_id: Option<Uuid>,
    body: Bytes,
) -> IngestedWebhook {
    IngestedWebhook {
        webhook_id: hookrelay_shared::queue::new_webhook_id(keys, affinity.map(str::as_bytes)),
        subscription_id,
        event_type,
        received_at: time::now(),
        body,
        tenant_id,
        skip_subscription: None,
        envelope: None,
    }
}

/// Where an admitted webhook goes: the tenant it belongs to (`None`: the default space).
/// The 404 → 409 part of the contract's error order, before the body is read.
pub async fn admit(
    services: &Services,
    principal: &Principal,
    route: Route,
    headers: &IngestHeaders,
) -> Result<Option<Uuid>, Refusal> {
    // The space the caller ingests into: a tenant key's tenant whatever the header says.
    let space = match (principal.tenant(), headers.tenant_id) {
        (Some(own), _) => Space::Tenant(own),
        (None, Some(named)) => {
            tenants::exists(&services.tenants, named).await?;
            Space::Tenant(named)
        }
        (None, None) => Space::Any,
    };
    match route {
        Route::Targeted(id) => check_subscription(services, space, id).await,
        Route::FanOut => Ok(match space {
            Space::Tenant(tenant) => Some(tenant),
            Space::Any | Space::Default => None,
        }),
    }
}

/// Queues one webhook (sent now, or at `deliver_at`), waiting at most `BACKEND_TIMEOUT`:
/// the one way both ingest and sources put a webhook into Redis.
pub async fn queue(
    services: &Services,
    webhook: &IngestedWebhook,
    idempotency_key: Option<&str>,
    deliver_at: Option<DateTime<Utc>>,
) -> Result<Enqueued, Refusal> {
    let mut redis = services.redis.clone();
    let enqueue = services
        .queue
        .enqueue_at(&mut redis, webhook, idempotency_key, deliver_at);
    // On a timeout the script may still have run: the client sees a 503 and retries
    // (with its Idempotency-Key, if it sent one), so a webhook may be queued twice but
    // never lost.
    match tokio::time::timeout(BACKEND_TIMEOUT, enqueue).await {
        Ok(Ok(enqueued)) => Ok(enqueued),
        Ok(Err(e)) => Err(Refusal::unavailable(QUEUE_UNAVAILABLE, e)),
        Err(elapsed) => Err(Refusal::unavailable(QUEUE_UNAVAILABLE, elapsed)),
    }
}

/// 404 for an unknown subscription (or one outside `space`), 409 for a paused one;
/// otherwise its tenant. Answered from the cache; only an id the cache does not know
/// costs one Postgres query.
pub async fn check_subscription(
    services: &Services,
    space: Space,
    id: Uuid,
) -> Result<Option<Uuid>, Refusal> {
    let found = tokio::time::timeout(BACKEND_TIMEOUT, services.subscriptions.get_or_fetch(&id))
        .await
        .map_err(|elapsed| {
            Refusal::unavailable("Subscriptions are unavailable. Retry later.", elapsed)
        })?
        .map_err(|e| Refusal::unavailable("Subscriptions are unavailable. Retry later.", e))?;
    match found {
        Some(subscription) if space.contains(subscription.tenant_id) => {
            if subscription.is_active {
                Ok(subscription.tenant_id)
            } else {
                Err(Refusal::Conflict(INACTIVE))
            }
        }
        _ => Err(Refusal::NotFound(subscriptions::NOT_FOUND)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
