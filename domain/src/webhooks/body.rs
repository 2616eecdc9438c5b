//! What the webhook routes read from a request, as the OpenAPI document shows it, kept
//! beside the readers: the ingest headers ([`super::ingest::IngestHeaders::parse`]) and
//! the body of one webhook's replay ([`super::replay::parse`]). Documentation only: never
//! built. The api's OpenAPI conventions (`api/src/openapi/conventions.rs`) add the
//! `x-deliver-at` pattern, which depends on the day the document is made.

use utoipa::ToSchema;

/// The `X-Event-Type`, `Idempotency-Key`, `X-Tenant-Id` and `X-Deliver-At` headers of
/// both ingest routes.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[expect(
    dead_code,
    reason = "documentation only: parsed by `ingest::IngestHeaders::parse`"
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

/// `POST /webhooks/{webhook_id}/replay`. Unknown fields are ignored; no body: every
/// failed delivery.
#[derive(ToSchema)]
#[expect(dead_code, reason = "documentation only: read by `replay::parse`")]
pub struct ReplayBody {
    /// Replay these subscriptions' deliveries, whatever they ended as (at most 1000).
    #[schema(required = false, max_items = 1000)]
    subscription_ids: Vec<uuid::Uuid>,
    /// Without `subscription_ids`: the succeeded deliveries too (default false).
    #[schema(required = false)]
    include_succeeded: bool,
}
