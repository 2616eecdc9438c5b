//! The OpenAPI 3.1 document served at `/openapi.json` (and rendered by Swagger UI at
//! `/docs`), generated from the handlers' `#[utoipa::path]` annotations.
//!
//! The annotations say what each route returns on success; `Conventions` then applies
//! what holds for every route (CONTRACT §2): the `{"detail": …}` bodies of errors. Which
//! key each route needs comes from the route table ([`document`] writes each route's
//! `routes::needs` into its `security`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::auth::{ADMIN_SCOPE, ALL_TENANTS_SCOPE, Need};
use crate::handlers::{
    api_keys, dead_letters, inbound, ingest, ops, replay, replays, schedules, sources, status,
    subscriptions, tenants, webhooks,
};

/// Name of the bearer security scheme in the document.
const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hookrelay",
        description = "A webhook relay: accepts webhooks, fans them out to subscriptions and \
                       delivers them signed (Standard Webhooks), with retries and attempt logs."
    ),
    paths(
        ops::healthz, ops::readyz, ops::metrics, ops::openapi, ops::docs, ops::swagger_ui,
        subscriptions::create, subscriptions::list, subscriptions::get,
        subscriptions::update, subscriptions::delete, subscriptions::attempts,
        subscriptions::rotate_secret, subscriptions::test,
        ingest::fan_out, ingest::targeted,
        status::get, webhooks::list,
        replay::replay,
        replays::create, replays::list, replays::get, replays::cancel,
        schedules::create, schedules::list, schedules::get, schedules::update,
        schedules::delete, schedules::pause, schedules::resume, schedules::trigger,
        schedules::runs,
        sources::create, sources::list, sources::get, sources::update, sources::delete,
        sources::rotate_path, sources::rejections, inbound::receive,
        tenants::create, tenants::list, tenants::get, tenants::update, tenants::delete,
        api_keys::create, api_keys::list, api_keys::get, api_keys::delete,
        dead_letters::list, dead_letters::redrive, dead_letters::delete,
    ),
    components(schemas(
        ErrorDetail, ValidationErrors, NewSubscriptionBody, SubscriptionChangesBody, RotationBody,
        hookrelay_domain::subscriptions::Subscription, hookrelay_domain::webhooks::Attempt,
        crate::ingest::IngestAccepted, hookrelay_domain::webhooks::status::WebhookStatus, hookrelay_domain::FieldError,
        hookrelay_domain::webhooks::search::WebhookSummary,
        hookrelay_domain::dead_letters::DeadLetter, RedriveBody,
        hookrelay_domain::tenants::Tenant, NewTenantBody, TenantChangesBody,
        hookrelay_domain::api_keys::ApiKey, hookrelay_domain::api_keys::Permission,
        hookrelay_domain::api_keys::CreatedApiKey, NewApiKeyBody,
        replay::Replayed, ReplayBody,
        hookrelay_domain::replays::store::Replay, hookrelay_domain::replays::selection::ReplayStatus, replays::DryRun,
        NewReplayBody,
        hookrelay_domain::schedules::store::Schedule, hookrelay_domain::schedules::store::Run, schedules::Triggered,
        hookrelay_domain::schedules::runs::Kind, hookrelay_domain::schedules::runs::MissedRuns,
        NewScheduleBody, ScheduleChangesBody,
        hookrelay_domain::sources::SourceView, hookrelay_domain::sources::store::Rejection, hookrelay_domain::sources::RateLimit,
        hookrelay_domain::sources::EventTypeRule, hookrelay_domain::sources::verification::Verification,
        NewSourceBody, SourceChangesBody,
    )),
    modifiers(&Conventions),
    tags(
        (name = "subscriptions", description = "Where webhooks are delivered, and how"),
        (name = "ingest", description = "Accepting webhooks"),
        (name = "status", description = "What happened to a webhook"),
        (name = "webhooks", description = "Stored webhooks: search and replay"),
        (name = "replays", description = "Bulk replays: a filter over deliveries, counted first, run in batches by the workers"),
        (name = "schedules", description = "Webhooks ingested at set times: once, or on a cron timetable in a time zone"),
        (name = "sources", description = "Inbound webhooks from providers (GitHub, Stripe, Shopify, Slack, any HMAC sender): verified at POST /in/{token}, then ingested"),
        (name = "tenants", description = "Customers of the deployment, each sealed off from the others (admin keys only)"),
        (name = "api keys", description = "Stored bearer keys, limited to a tenant and to permissions"),
        (name = "dead letters", description = "Stream entries the workers gave up on: inspect, redrive, delete"),
        (name = "operations", description = "Probes, metrics and this document; no authentication"),
    )
)]
pub struct ApiDoc;

/// Every error body but a validation error's: `{"detail": "Subscription not found"}`.
#[derive(ToSchema)]
#[expect(dead_code, reason = "documentation only: the body is built in `error`")]
pub struct ErrorDetail {
    detail: String,
}

/// A 422 body: `{"detail": [{"loc": ["body", "target_url"], "msg": "…", "type": "…"}]}`.
#[derive(ToSchema)]
#[expect(dead_code, reason = "documentation only: the body is built in `error`")]
pub struct ValidationErrors {
    detail: Vec<hookrelay_domain::FieldError>,
}

/// `POST /dead-letters/{id}/redrive`: the dead letter's id and the entry id it has again
/// in the work stream.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documentation only: the body is built in the handler"
)]
pub struct RedriveBody {
    id: String,
    entry_id: String,
}

/// An RFC 3339 timestamp after its four-digit year, as far as the api always accepts it
/// (days 01–28, so every match is a real date; offsets up to ±13:59; the api takes any
/// valid RFC 3339 timestamp).
macro_rules! timestamp_after_year {
    () => {
        "-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,6})?(?:Z|[+-](?:0[0-9]|1[0-3]):[0-5][0-9])"
    };
}

/// `expires_at`: the RFC 3339 timestamps the api always accepts.
const TIMESTAMP: &str = concat!("^[1-9][0-9]{3}", timestamp_after_year!(), "$");

/// `X-Deliver-At`: the RFC 3339 timestamps the api accepts whenever it is asked, that is,
/// those no more than `MAX_DELIVERY_DELAY` after `built` (the moment the document is
/// made): years up to the one before `built` + 29 days, so even the latest local time of
/// that year at the most negative offset (-13:59) is less than 30 days after `built`. A
/// time that is past by the time it is sent means now, so the set only grows safer as
/// time goes on. Later timestamps up to 30 days ahead are accepted too; no pattern can say
/// "30 days from now".
fn deliver_at_pattern(built: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Datelike as _;
    let last_year = (built + chrono::TimeDelta::days(29)).year() - 1;
    let last_year = u32::try_from(last_year.clamp(1000, 9999)).unwrap_or(1000);
    format!(
        "^(?:{}){}$",
        four_digits_up_to(last_year),
        timestamp_after_year!()
    )
}

/// A regex alternation of the four-digit numbers 1000..=`max` (`max` in 1000..=9999):
/// for each position, `max`'s digits before it, a smaller digit there, anything after;
/// and `max` itself.
fn four_digits_up_to(max: u32) -> String {
    let digits: Vec<u32> = max
        .to_string()
        .chars()
        .filter_map(|c| c.to_digit(10))
        .collect();
    let mut alternatives = Vec::new();
    for (position, &digit) in digits.iter().enumerate() {
        let lowest = u32::from(position == 0);
        if digit > lowest {
            let prefix: String = digits[..position].iter().map(u32::to_string).collect();
            let here = if digit - 1 == lowest {
                lowest.to_string()
            } else {
                format!("[{lowest}-{}]", digit - 1)
            };
            let rest = match digits.len() - position - 1 {
                0 => String::new(),
                n => format!("[0-9]{{{n}}}"),
            };
            alternatives.push(format!("{prefix}{here}{rest}"));
        }
    }
    alternatives.push(max.to_string());
    alternatives.join("|")
}

/// What every stored string excludes: U+0000, which Postgres `text` cannot hold.
const NO_NUL: &str = "^[^\\u0000]*$";

/// `target_url`: an `http` or `https` URL with a host whose last label starts with a letter
/// (or any path, query and fragment). WHATWG URL parsing (`shared::targets`) accepts more
/// (IP literals, user info, IDN hosts); this is the subset the document promises.
const TARGET_URL: &str = "^[ \\t\\n\\r\\f\\v]*[Hh][Tt][Tt][Pp][Ss]?://(?:[A-Za-z0-9_-]+\\.)*[A-Za-z][A-Za-z0-9_-]*(?::[0-9]{1,4})?(?:[ \\t\\n\\r\\f\\v]*|[/?#][^\\u0000]*)$";

/// `secret`: anything without NUL that does not start with `whsec_`, or `whsec_` and a
/// non-empty key in standard, padded, canonical base64 (`signing::validate_secret`).
const SECRET: &str = "^(?:whsec_(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)|(?!whsec_)[^\\u0000]+)$";

/// `POST /subscriptions`. Unknown fields are ignored.
///
/// Documentation only, so the field types say what the api accepts: `Option` where `null`
/// is accepted (nullable), `required = false` where a field may be left out but not be
/// `null`. Patterns and lengths, the api's own checks, are added by `Conventions`, so
/// generated clients do not send what would be a 422.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documentation only: bodies are validated in `subscriptions::input`"
)]
pub struct NewSubscriptionBody {
    /// `http` or `https` URL with a host; echoed WHATWG-normalised.
    target_url: String,
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
    http_method: hookrelay_domain::subscriptions::DeliveryMethod,
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
    reason = "documentation only: bodies are validated in `subscriptions::input`"
)]
pub struct SubscriptionChangesBody {
    #[schema(required = false)]
    target_url: String,
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
    http_method: hookrelay_domain::subscriptions::DeliveryMethod,
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
    reason = "documentation only: bodies are validated in `subscriptions::input`"
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

/// `POST /webhooks/{webhook_id}/replay`. Unknown fields are ignored; no body: every
/// failed delivery.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "documentation only: bodies are validated in `replay::parse`"
)]
pub struct ReplayBody {
    /// Replay these subscriptions' deliveries, whatever they ended as (at most 1000).
    #[schema(required = false, max_items = 1000)]
    subscription_ids: Vec<uuid::Uuid>,
    /// Without `subscription_ids`: the succeeded deliveries too (default false).
    #[schema(required = false)]
    include_succeeded: bool,
}

/// `POST /replays`. Unknown fields are ignored.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "documentation only: bodies are validated in `replays::parse`"
)]
pub struct NewReplayBody {
    /// Only deliveries to this subscription (404 if unknown, 409 if inactive).
    #[schema(required = false)]
    subscription_id: uuid::Uuid,
    /// Only webhooks of these event types: exact types, or prefixes ending in `*` (as a
    /// subscription's `events`).
    #[schema(required = false, max_items = 1000)]
    event_types: Vec<String>,
    /// Webhooks received at or after this time (RFC 3339).
    #[schema(format = DateTime)]
    since: String,
    /// ... and at or before this one (default: now; a later time means now). At most 31
    /// days after `since`, and not before it.
    #[schema(required = false, format = DateTime)]
    until: String,
    /// Only deliveries with these statuses (default `["failed"]`). Deliveries still in
    /// flight (`pending`, `retrying`) match but are not queued again.
    #[schema(required = false, min_items = 1)]
    statuses: Vec<hookrelay_domain::webhooks::DeliveryStatus>,
    /// With `subscription_id`: also deliver the fan-out webhooks of the window that match
    /// the subscription's event filter but have no delivery to it (it was inactive or did
    /// not exist then).
    #[schema(required = false)]
    include_missing: bool,
    /// Only count: answer 200 `{"matched": N}` and store nothing.
    #[schema(required = false)]
    dry_run: bool,
}

/// `POST /schedules`. Unknown fields are ignored.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documentation only: bodies are validated in `schedules::parse`"
)]
pub struct NewScheduleBody {
    #[schema(min_length = 1, max_length = 255)]
    name: String,
    #[schema(required = false)]
    description: String,
    /// Runs go to this subscription (404 if unknown). With neither this nor `event_type`:
    /// 422.
    #[schema(required = false)]
    subscription_id: uuid::Uuid,
    /// Runs carry this event type (fan-out without `subscription_id`).
    #[schema(required = false, min_length = 1, max_length = 255)]
    event_type: String,
    /// Each run's body: any JSON, at most `MAX_PAYLOAD_BYTES` as sent.
    payload: serde_json::Value,
    kind: hookrelay_domain::schedules::runs::Kind,
    /// `once`: when, in the future (RFC 3339). Not with `cron`.
    #[schema(required = false, format = DateTime)]
    run_at: String,
    /// `cron`: minute hour day-of-month month day-of-week (ranges, steps, lists, names),
    /// as wall-clock time in `timezone`. Not with `run_at`; 422 when it never runs.
    #[schema(required = false, example = "0 9 * * 1-5")]
    cron: String,
    /// An IANA time zone (default `UTC`).
    #[schema(required = false, example = "Europe/Paris")]
    timezone: String,
    /// Ticks missed while no worker ran: `run_once` (default) runs the newest, `skip` none.
    #[schema(required = false)]
    missed_runs: hookrelay_domain::schedules::runs::MissedRuns,
    /// Keys without a tenant: the schedule's tenant (default: the subscription's, else the
    /// default space). Ignored for tenant keys.
    #[schema(required = false)]
    tenant_id: uuid::Uuid,
}

/// `PATCH /schedules/{schedule_id}`: any of `POST /schedules`'s fields but `tenant_id`; the
/// result must be a valid schedule as a whole.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documentation only: bodies are validated in `schedules::patch`"
)]
pub struct ScheduleChangesBody {
    #[schema(required = false, min_length = 1, max_length = 255)]
    name: String,
    #[schema(required = false)]
    description: String,
    #[schema(required = false)]
    subscription_id: uuid::Uuid,
    #[schema(required = false, min_length = 1, max_length = 255)]
    event_type: String,
    #[schema(required = false)]
    payload: serde_json::Value,
    #[schema(required = false)]
    kind: hookrelay_domain::schedules::runs::Kind,
    #[schema(required = false, format = DateTime)]
    run_at: String,
    #[schema(required = false)]
    cron: String,
    #[schema(required = false)]
    timezone: String,
    #[schema(required = false)]
    missed_runs: hookrelay_domain::schedules::runs::MissedRuns,
}

/// `POST /sources`. Unknown fields are ignored.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documentation only: bodies are validated in `sources::parse`"
)]
pub struct NewSourceBody {
    #[schema(min_length = 1, max_length = 255)]
    name: String,
    /// How requests are verified; secrets are never shown again (reads mask them).
    verification: hookrelay_domain::sources::verification::Verification,
    /// CIDRs (or single addresses) a request must come from; null: anywhere.
    #[schema(required = false, nullable, max_items = 100, example = json!(["192.30.252.0/22"]))]
    ip_allowlist: Option<Vec<String>>,
    #[schema(required = false, nullable)]
    rate_limit: Option<hookrelay_domain::sources::RateLimit>,
    /// Where webhooks get their event type; null: none (fan-out reaches only
    /// subscriptions that take every event).
    #[schema(required = false, nullable)]
    event_type: Option<hookrelay_domain::sources::EventTypeRule>,
    /// Every webhook goes to this subscription (404 if unknown); null: fan-out.
    #[schema(required = false, nullable)]
    subscription_id: Option<uuid::Uuid>,
    /// Request headers sent on with each delivery (not `content-type`, `webhook-*` and
    /// the other names hookrelay sets).
    #[schema(required = false, max_items = 50)]
    forward_headers: Vec<String>,
    #[schema(required = false)]
    is_active: bool,
    /// Keys without a tenant: the source's tenant (default: the subscription's, else the
    /// default space). Ignored for tenant keys.
    #[schema(required = false)]
    tenant_id: uuid::Uuid,
}

/// `PATCH /sources/{source_id}`: any of `POST /sources`'s fields but `tenant_id`; the
/// result must be a valid source as a whole. A `verification` whose secrets are sent
/// back masked (`********`) keeps the stored ones.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documentation only: bodies are validated in `sources::store::patch`"
)]
pub struct SourceChangesBody {
    #[schema(required = false, min_length = 1, max_length = 255)]
    name: String,
    #[schema(required = false)]
    verification: hookrelay_domain::sources::verification::Verification,
    #[schema(required = false, nullable, max_items = 100)]
    ip_allowlist: Option<Vec<String>>,
    #[schema(required = false, nullable)]
    rate_limit: Option<hookrelay_domain::sources::RateLimit>,
    #[schema(required = false, nullable)]
    event_type: Option<hookrelay_domain::sources::EventTypeRule>,
    #[schema(required = false, nullable)]
    subscription_id: Option<uuid::Uuid>,
    #[schema(required = false, max_items = 50)]
    forward_headers: Vec<String>,
    #[schema(required = false)]
    is_active: bool,
}

/// `POST /tenants`. Unknown fields are ignored.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documentation only: bodies are validated in `tenants`"
)]
pub struct NewTenantBody {
    name: String,
    /// String labels (at most 64).
    #[schema(required = false)]
    metadata: std::collections::BTreeMap<String, String>,
}

/// `PATCH /tenants/{id}`: only keys present change; neither may be `null`.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documentation only: bodies are validated in `tenants`"
)]
pub struct TenantChangesBody {
    #[schema(required = false)]
    name: String,
    #[schema(required = false)]
    metadata: std::collections::BTreeMap<String, String>,
}

/// `POST /api-keys`. A tenant key's keys belong to its tenant whatever `tenant_id` says,
/// and may hold no permission it lacks nor outlive it.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documentation only: bodies are validated in `api_keys`"
)]
pub struct NewApiKeyBody {
    name: String,
    /// The tenant the key is limited to; `null` or absent: every tenant.
    tenant_id: Option<uuid::Uuid>,
    /// Defaults to all three.
    #[schema(required = false, min_items = 1)]
    permissions: Vec<hookrelay_domain::api_keys::Permission>,
    /// RFC 3339, in the future; `null` or absent: never expires.
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<String>,
}

/// One entry of an `events` filter.
#[derive(ToSchema)]
#[schema(min_length = 1, max_length = 255, pattern = "^[!-)+-~]*\\*?$")]
#[expect(dead_code, reason = "documentation only")]
pub struct EventFilter(String);

/// The `X-Event-Type`, `Idempotency-Key`, `X-Tenant-Id` and `X-Deliver-At` headers of
/// both ingest routes.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[expect(
    dead_code,
    reason = "documentation only: read by `handlers::ingest::Headers`"
)]
pub struct IngestHeaderParams {
    /// The event type: 1..=255 visible ASCII characters.
    #[param(
        rename = "x-event-type",
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]+$"
    )]
    x_event_type: Option<String>,
    /// 1..=255 visible ASCII characters; a repeat within 24 h returns the first webhook_id.
    #[param(
        rename = "idempotency-key",
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]+$"
    )]
    idempotency_key: Option<String>,
    /// Keys without a tenant: ingest into this tenant instead of the default space (a
    /// tenant key always ingests into its own). 404 `Tenant not found` for an unknown one.
    #[param(
        rename = "x-tenant-id",
        nullable = false,
        pattern = "^[ \\t]*(?:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9A-Fa-f]{32})[ \\t]*$"
    )]
    x_tenant_id: Option<String>,
    /// Deliver at this time, not now: an RFC 3339 timestamp (`2026-12-24T18:00:00Z`, any
    /// offset) at most 30 days ahead; a past time means now. Until then `/status` says
    /// `scheduled`, with `deliver_at`; the first attempts start within a second after
    /// it, and fan-out is resolved then. Anything else is a 422. The pattern lists the
    /// timestamps accepted whenever the request is sent (those before a year that is
    /// at most 30 days away when this document was made); later ones up to 30 days
    /// ahead are accepted too.
    #[param(rename = "x-deliver-at", nullable = false)]
    x_deliver_at: Option<String>,
}

/// Sets a string property's length bounds and pattern.
fn constrain(
    object: &mut utoipa::openapi::schema::Object,
    field: &str,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: &str,
) {
    if let Some(RefOr::T(utoipa::openapi::Schema::Object(property))) =
        object.properties.get_mut(field)
    {
        property.min_length = min_length;
        property.max_length = max_length;
        property.pattern = Some(pattern.to_owned());
    }
}

/// An HTTP token that is none of the reserved names, in any case: negative lookaheads
/// built from `subscriptions::headers`' own list.
fn header_name_pattern() -> String {
    use hookrelay_domain::subscriptions::headers::{RESERVED, RESERVED_PREFIX};
    let any_case = |name: &str| -> String {
        name.chars()
            .map(|c| match c {
                c if c.is_ascii_alphabetic() => {
                    format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                }
                c => c.to_string(),
            })
            .collect()
    };
    let reserved: Vec<String> = RESERVED.iter().map(|name| any_case(name)).collect();
    format!(
        "^(?!(?:{})$)(?!{})[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
        reserved.join("|"),
        any_case(RESERVED_PREFIX)
    )
}

/// A tenant's `metadata`: at most 64 string labels, without NUL in names or values.
fn labels_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    let text = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(NO_NUL))
    };
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(text()))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(text().into()))))
        .max_properties(Some(hookrelay_domain::tenants::MAX_METADATA_ENTRIES))
        .into()
}

/// A custom header's name (an HTTP token) and value (visible ASCII, inner spaces and tabs,
/// nothing at either end), as `subscriptions::headers` checks them.
fn custom_headers_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .pattern(Some(header_name_pattern()));
    let value = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^(?:[!-~](?:[!-~ \\t]*[!-~])?)?$"));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(name))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(value.into()))))
        .into()
}

/// The document served at `/openapi.json`: the annotations, the conventions, and each
/// route's need from the route table as its `security` (scopes: the permission, and
/// `all_tenants` where tenant keys are refused).
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for (path, method, need) in crate::routes::needs() {
        let Some(item) = doc.paths.paths.get_mut(&path) else {
            continue;
        };
        let operation = match method.as_str() {
            "GET" => &mut item.get,
            "POST" => &mut item.post,
            "PUT" => &mut item.put,
            "PATCH" => &mut item.patch,
            "DELETE" => &mut item.delete,
            _ => continue,
        };
        if let (Some(operation), false) = (operation, need == Need::Open) {
            operation.security = Some(vec![SecurityRequirement::new(BEARER, need.scopes())]);
        }
    }
    doc
}

/// The conventions every route follows (see the module docs).
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(format!(
                        "`Authorization: Bearer <key>`: a key from API_KEYS (every permission, \
                         every tenant) or a stored `hrk_` key. Each operation's scopes name the \
                         permission it needs (`ingest`, `read`, `write`), and `{ALL_TENANTS_SCOPE}` \
                         where keys limited to a tenant are refused (403); `{ADMIN_SCOPE}`: \
                         admin keys only (every tenant, every permission). A tenant key sees \
                         only its tenant: anything else answers 404."
                    )))
                    .build(),
            ),
        );
        for body in [
            "NewSubscriptionBody",
            "SubscriptionChangesBody",
            "RotationBody",
        ] {
            if let Some(RefOr::T(utoipa::openapi::Schema::Object(object))) =
                components.schemas.get_mut(body)
            {
                if object.properties.contains_key("headers") {
                    object
                        .properties
                        .insert("headers".into(), RefOr::T(custom_headers_schema()));
                }
                constrain(object, "target_url", Some(1), None, TARGET_URL);
                constrain(object, "secret", Some(1), None, SECRET);
                constrain(object, "description", None, Some(4096), NO_NUL);
                constrain(
                    object,
                    "name",
                    Some(1),
                    Some(hookrelay_domain::fields::MAX_NAME_CHARS),
                    NO_NUL,
                );
            }
        }
        for body in ["NewTenantBody", "TenantChangesBody", "NewApiKeyBody"] {
            if let Some(RefOr::T(utoipa::openapi::Schema::Object(object))) =
                components.schemas.get_mut(body)
            {
                constrain(
                    object,
                    "name",
                    Some(1),
                    Some(hookrelay_domain::fields::MAX_NAME_CHARS),
                    NO_NUL,
                );
                constrain(object, "expires_at", None, None, TIMESTAMP);
                if object.properties.contains_key("metadata") {
                    object
                        .properties
                        .insert("metadata".into(), RefOr::T(labels_schema()));
                }
            }
        }
        let deliver_at = deliver_at_pattern(chrono::Utc::now());
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                for parameter in operation.parameters.iter_mut().flatten() {
                    if let RefOr::T(parameter) = parameter
                        && parameter.name == "x-deliver-at"
                        && let Some(RefOr::T(utoipa::openapi::Schema::Object(schema))) =
                            &mut parameter.schema
                    {
                        schema.pattern = Some(deliver_at.clone());
                    }
                }
                for (code, response) in operation.responses.responses.iter_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    if response.description.is_empty() {
                        response.description = describe(code).into();
                    }
                    let schema = match code.as_str() {
                        "422" => "ValidationErrors",
                        c if c.starts_with('4') || c.starts_with('5') => "ErrorDetail",
                        _ => continue,
                    };
                    // The handlers' annotations name status codes; every error has this body.
                    response.content.clear();
                    response.content.insert(
                        "application/json".into(),
                        RefOr::T(Content::new(Some(Ref::from_schema_name(schema)))),
                    );
                }
            }
        }
    }
}

/// What an error status means in this api, for responses the annotations left undescribed.
fn describe(code: &str) -> &'static str {
    match code {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted: durably queued",
        "204" => "No Content",
        "400" => "Invalid JSON body received.",
        "401" => "Missing, unknown or expired bearer key",
        "403" => "The key lacks the permission this route needs",
        "404" => "Not found",
        "405" => "Method Not Allowed",
        "409" => "Subscription is inactive",
        "413" => "Body larger than MAX_PAYLOAD_BYTES",
        "422" => "Request validation failed",
        "503" => "A dependency (Redis or Postgres) is unavailable",
        _ => "See the status code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_ids_are_documented_with_the_pattern_the_api_checks() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("serialises");
        let mut seen = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for operation in item.as_object().expect("an item").values() {
                for param in operation["parameters"].as_array().into_iter().flatten() {
                    if param["name"] == "dead_letter_id" {
                        seen += 1;
                        assert_eq!(
                            param["schema"]["pattern"],
                            hookrelay_domain::dead_letters::ID_PATTERN,
                            "{path}"
                        );
                    }
                }
            }
        }
        assert_eq!(seen, 2);
    }

    fn matches(pattern: &str, text: &str) -> bool {
        regex_lite::Regex::new(pattern)
            .expect("a valid pattern")
            .is_match(text)
    }

    #[test]
    fn four_digit_bounds_match_exactly_the_numbers_up_to_the_bound() {
        for max in [1000, 1009, 1999, 2000, 2025, 2026, 2099, 2100, 2909, 9999] {
            let pattern = format!("^(?:{})$", four_digits_up_to(max));
            for n in 1000..=9999 {
                assert_eq!(
                    matches(&pattern, &n.to_string()),
                    n <= max,
                    "{n} against {pattern}"
                );
            }
            assert!(!matches(&pattern, "0999"));
        }
    }

    #[test]
    fn every_deliver_at_the_pattern_allows_is_accepted_from_the_moment_it_was_made() {
        use chrono::{TimeDelta, Utc};
        let parse = |s: &str| hookrelay_shared::time::parse(s).expect("a time");
        for built in [
            "2026-12-02T14:00:00Z",
            "2026-12-03T00:00:00Z",
            "2026-12-31T23:59:59Z",
            "2027-01-01T00:00:00Z",
            "2026-06-15T12:00:00Z",
        ] {
            let built = parse(built);
            let pattern = deliver_at_pattern(built);
            for year in 2020..2030 {
                // The latest instant of the year the pattern can name, and the earliest.
                for text in [
                    format!("{year}-12-28T23:59:59.999999-13:59"),
                    format!("\t{year}-01-01T00:00:00+13:59 "),
                ] {
                    if matches(&pattern, &text) {
                        for later in [TimeDelta::zero(), TimeDelta::days(400)] {
                            let accepted = hookrelay_domain::webhooks::ingest::parse_deliver_at(
                                text.as_bytes(),
                                built + later,
                            );
                            assert!(accepted.is_ok(), "{text} built {built}: {accepted:?}");
                        }
                    }
                }
            }
            let last_year = format!(
                "{}-06-01T00:00:00Z",
                built
                    .format("%Y")
                    .to_string()
                    .parse::<i32>()
                    .expect("a year")
                    - 1
            );
            assert!(
                matches(&pattern, &last_year),
                "{last_year} against {pattern}"
            );
        }
        assert!(matches(
            &deliver_at_pattern(Utc::now()),
            "2000-01-01T00:00:00Z"
        ));
        assert!(!matches(
            &deliver_at_pattern(Utc::now()),
            "2000-01-01 00:00:00Z"
        ));
        assert!(!matches(
            &deliver_at_pattern(Utc::now()),
            "9999-01-01T00:00:00Z"
        ));
    }

    #[test]
    fn both_ingest_routes_document_x_deliver_at_with_its_pattern() {
        let doc = serde_json::to_value(document()).expect("serialises");
        for path in ["/ingest", "/ingest/{subscription_id}"] {
            let parameters = doc["paths"][path]["post"]["parameters"]
                .as_array()
                .expect("parameters");
            let deliver_at = parameters
                .iter()
                .find(|p| p["name"] == "x-deliver-at")
                .unwrap_or_else(|| panic!("{path} has no x-deliver-at"));
            assert_eq!(deliver_at["in"], "header");
            assert!(
                deliver_at["schema"]["pattern"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("^(?:1")),
                "{deliver_at}"
            );
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_with_bearer_security() {
        let doc = serde_json::to_value(document()).expect("serialises");
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1")),
            "{}",
            doc["openapi"]
        );
        assert_eq!(
            doc["components"]["securitySchemes"][BEARER]["scheme"],
            "bearer"
        );
        assert!(doc["paths"]["/healthz"]["get"]["security"].is_null());
        assert_eq!(
            doc["paths"]["/subscriptions"]["post"]["security"][0][BEARER],
            serde_json::json!(["write"])
        );
        assert_eq!(
            doc["paths"]["/tenants"]["get"]["security"][0][BEARER],
            serde_json::json!([ADMIN_SCOPE])
        );
        let not_found = &doc["paths"]["/status/{webhook_id}"]["get"]["responses"]["404"];
        assert_eq!(
            not_found["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorDetail"
        );
    }
}
