//! The request bodies of the subscription routes as the OpenAPI document shows them, kept
//! beside [`super::input`], which reads them. Documentation only: the api reads a body as
//! a JSON object and hands it to `input::parse_new`, `parse_changes` or `parse_rotation`
//! (every bad field at once, unknown fields ignored), so these types are never built.
//! Their field types say what is accepted; the api's OpenAPI conventions
//! (`api/src/openapi/conventions.rs`) add the patterns and lengths of `target_url`,
//! `secret`, `description`, `name` and `headers`, finding the schemas by these names.

use utoipa::ToSchema;

/// `POST /subscriptions`. Unknown fields are ignored.
///
/// Documentation only, so the field types say what the api accepts: `Option` where `null`
/// is accepted (nullable), `required = false` where a field may be left out but not be
/// `null`. Patterns and lengths, the api's own checks, are added by `Conventions`, so
/// generated clients do not send what would be a 422.
#[derive(ToSchema)]
#[expect(dead_code, reason = "documentation only: read by `input::parse_new`")]
pub struct NewSubscriptionBody {
    /// `http` or `https` URL with a host; echoed WHATWG-normalised. Required for an HTTP
    /// destination (the default); absent for any other.
    #[schema(required = false)]
    target_url: String,
    /// Where deliveries go; absent: `{"type": "http"}` (`target_url`). Secrets in it are
    /// write-only (reads show `***`, and a `***` sent back keeps the stored one).
    #[schema(required = false)]
    destination: crate::destinations::Destination,
    /// Signing secret; generated as `whsec_` + base64 of 32 random bytes when omitted. A
    /// secret starting with `whsec_` must continue with the key in standard, padded base64.
    secret: Option<String>,
    /// Event types; `null` or `[]` means every type, a trailing `*` is a prefix match.
    #[schema(max_items = 1000, inline)]
    events: Option<Vec<EventFilter>>,
    description: Option<String>,
    /// Extra headers sent with every delivery (not `content-type`, `host`, `webhook-*`, …;
    /// names are case-insensitive, so two that differ only by case are a 422).
    #[schema(required = false)]
    headers: std::collections::BTreeMap<String, String>,
    /// Defaults to `true`; `false` pauses fan-out deliveries.
    #[schema(required = false, default = true)]
    is_active: bool,
    /// Keys without a tenant: the tenant it belongs to (`null` or absent: the default
    /// space; 404 for an unknown one). A tenant key's subscriptions are its tenant's.
    /// Never changes after creation.
    tenant_id: Option<uuid::Uuid>,
    /// A label for people; `null` for none.
    name: Option<String>,
    /// The method of every delivery; `GET` and `DELETE` send no body (the signature then
    /// covers an empty body).
    #[schema(required = false, default = "POST")]
    http_method: crate::subscriptions::DeliveryMethod,
    /// Overrides `DELIVERY_TIMEOUT` for this subscription.
    #[schema(minimum = 100, maximum = 60000)]
    timeout_ms: Option<i32>,
    /// Overrides `RETRY_SCHEDULE`: the delays before retry 1, 2, … (`[]`: no retries).
    #[schema(max_items = 20, inline)]
    retry_schedule: Option<Vec<RetryDelay>>,
    /// At most this many attempts started per second, all workers together.
    #[schema(minimum = 1, maximum = 100000)]
    rate_limit: Option<i32>,
}

/// `PATCH /subscriptions/{id}`: only keys present change; `events: null` clears the filter.
/// Only `events` and `description` may be `null` (see [`NewSubscriptionBody`]).
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documentation only: read by `input::parse_changes`"
)]
pub struct SubscriptionChangesBody {
    /// HTTP subscriptions only (or with `destination: {"type": "http"}`, to switch back).
    #[schema(required = false)]
    target_url: String,
    /// Replaces the destination as a whole; switching away from HTTP clears
    /// `target_url`.
    #[schema(required = false)]
    destination: crate::destinations::Destination,
    #[schema(required = false)]
    secret: String,
    /// `null` clears the filter.
    #[schema(max_items = 1000, inline)]
    events: Option<Vec<EventFilter>>,
    description: Option<String>,
    #[schema(required = false)]
    headers: std::collections::BTreeMap<String, String>,
    /// `true` also resets `consecutive_failures` and clears `disabled_reason`.
    #[schema(required = false)]
    is_active: bool,
    /// A label for people; `null` for none.
    name: Option<String>,
    /// The method of every delivery; `GET` and `DELETE` send no body (the signature then
    /// covers an empty body).
    #[schema(required = false)]
    http_method: crate::subscriptions::DeliveryMethod,
    /// Overrides `DELIVERY_TIMEOUT` for this subscription.
    #[schema(minimum = 100, maximum = 60000)]
    timeout_ms: Option<i32>,
    /// Overrides `RETRY_SCHEDULE`: the delays before retry 1, 2, … (`[]`: no retries).
    #[schema(max_items = 20, inline)]
    retry_schedule: Option<Vec<RetryDelay>>,
    /// At most this many attempts started per second, all workers together.
    #[schema(minimum = 1, maximum = 100000)]
    rate_limit: Option<i32>,
}

/// One delay of a `retry_schedule`: a whole number and `ms`, `s`, `m` or `h`, at most 7
/// days (the pattern promises a subset the api always takes).
#[derive(ToSchema)]
#[schema(
    pattern = "^(?:[0-9]{1,8}ms|[0-9]{1,5}s|[0-9]{1,4}m|(?:[0-9]{1,2}|1[0-5][0-9]|16[0-8])h)$",
    example = "30s"
)]
#[expect(dead_code, reason = "documentation only")]
pub struct RetryDelay(String);

/// `POST /subscriptions/{id}/secret/rotate`; the body may be left out.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documentation only: read by `input::parse_rotation`"
)]
pub struct RotationBody {
    /// The new secret (rules as on create); generated when left out.
    #[schema(required = false)]
    secret: String,
    /// How long the old secret still signs next to the new one (default `24h`, at most
    /// 30 days; `0s` ends it now).
    #[schema(
        required = false,
        pattern = "^(?:[0-9]{1,9}ms|[0-9]{1,6}s|[0-9]{1,4}m|(?:[0-9]{1,2}|[1-6][0-9]{2}|7[01][0-9]|720)h)$",
        example = "24h"
    )]
    grace_period: String,
}

/// One entry of an `events` filter.
#[derive(ToSchema)]
#[schema(min_length = 1, max_length = 255, pattern = "^[!-)+-~]*\\*?$")]
#[expect(dead_code, reason = "documentation only")]
pub struct EventFilter(String);
