//! The request body of `POST /api-keys` as the OpenAPI document shows it, kept beside its
//! reader, [`super::parse_new`]. Documentation only: never built. The api's OpenAPI
//! conventions (`api/src/openapi/conventions.rs`) add the bounds of `name` and
//! `expires_at`, finding the schema by this name.

use utoipa::ToSchema;

/// `POST /api-keys`. A tenant key's keys belong to its tenant whatever `tenant_id` says,
/// and may hold no permission it lacks nor outlive it.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documentation only: read by `api_keys::parse_new`"
)]
pub struct NewApiKeyBody {
    name: String,
    /// The tenant the key is limited to; `null` or absent: every tenant.
    tenant_id: Option<uuid::Uuid>,
    /// Defaults to all three.
    #[schema(required = false, min_items = 1)]
    permissions: Vec<crate::api_keys::Permission>,
    /// RFC 3339, in the future; `null` or absent: never expires.
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<String>,
}
