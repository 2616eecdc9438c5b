//! The request bodies of the source routes as the OpenAPI document shows them, kept beside
//! their readers, [`super::parse`] and [`super::store::patch`]. Documentation only: never
//! built.

use utoipa::ToSchema;

/// `POST /sources`. Unknown fields are ignored.
#[derive(ToSchema)]
#[expect(dead_code, reason = "documentation only: read by `sources::parse`")]
pub struct NewSourceBody {
    #[schema(min_length = 1, max_length = 255)]
    name: String,
    /// How requests are verified; secrets are never shown again (reads mask them).
    verification: crate::sources::verification::Verification,
    /// CIDRs (or single addresses) a request must come from; null: anywhere.
    #[schema(required = false, nullable, max_items = 100, example = json!(["192.30.252.0/22"]))]
    ip_allowlist: Option<Vec<String>>,
    #[schema(required = false, nullable)]
    rate_limit: Option<crate::sources::RateLimit>,
    /// Where webhooks get their event type; null: none (fan-out reaches only
    /// subscriptions that take every event).
    #[schema(required = false, nullable)]
    event_type: Option<crate::sources::EventTypeRule>,
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
#[expect(dead_code, reason = "documentation only: read by `store::patch`")]
pub struct SourceChangesBody {
    #[schema(required = false, min_length = 1, max_length = 255)]
    name: String,
    #[schema(required = false)]
    verification: crate::sources::verification::Verification,
    #[schema(required = false, nullable, max_items = 100)]
    ip_allowlist: Option<Vec<String>>,
    #[schema(required = false, nullable)]
    rate_limit: Option<crate::sources::RateLimit>,
    #[schema(required = false, nullable)]
    event_type: Option<crate::sources::EventTypeRule>,
    #[schema(required = false, nullable)]
    subscription_id: Option<uuid::Uuid>,
    #[schema(required = false, max_items = 50)]
    forward_headers: Vec<String>,
    #[schema(required = false)]
    is_active: bool,
}
