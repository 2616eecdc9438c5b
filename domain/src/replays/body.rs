//! The request body of `POST /replays` as the OpenAPI document shows it, kept beside its
//! reader, [`super::store::parse`]. Documentation only: never built.

use utoipa::ToSchema;

/// `POST /replays`. Unknown fields are ignored.
#[derive(ToSchema)]
#[expect(dead_code, reason = "documentation only: read by `store::parse`")]
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
    statuses: Vec<crate::webhooks::DeliveryStatus>,
    /// With `subscription_id`: also deliver the fan-out webhooks of the window that match
    /// the subscription's event filter but have no delivery to it (it was inactive or did
    /// not exist then).
    #[schema(required = false)]
    include_missing: bool,
    /// Only count: answer 200 `{"matched": N}` and store nothing.
    #[schema(required = false)]
    dry_run: bool,
}
