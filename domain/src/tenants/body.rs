//! The request bodies of the tenant routes as the OpenAPI document shows them, kept beside
//! their readers, [`super::parse_new`] and [`super::parse_changes`]. Documentation only:
//! never built. The api's OpenAPI conventions (`api/src/openapi/conventions.rs`) add the
//! bounds of `name` and `metadata`, finding the schemas by these names.

use utoipa::ToSchema;

/// `POST /tenants`. Unknown fields are ignored.
#[derive(ToSchema)]
#[expect(dead_code, reason = "documentation only: read by `tenants::parse_new`")]
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
    reason = "documentation only: read by `tenants::parse_changes`"
)]
pub struct TenantChangesBody {
    #[schema(required = false)]
    name: String,
    #[schema(required = false)]
    metadata: std::collections::BTreeMap<String, String>,
}
