//! Tenants: body validation and the Postgres side, including deleting a tenant with
//! everything it owns in one transaction. [`row`] is the `tenants` row, [`space`] the
//! tenant spaces a query covers, [`body`] the bodies as the OpenAPI document shows them.

pub mod body;
pub mod ops;
pub mod row;
pub mod space;

pub use row::{NOT_FOUND, Tenant, TenantChanges};
pub use space::Space;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use hookrelay_shared::db::{DbPool, bounded, checkout};
use hookrelay_shared::schema::tenants;
use hookrelay_shared::time;
use serde_json::{Map, Value};
use uuid::Uuid;

use hookrelay_shared::cache::Cache;

use crate::api_keys::caller::Principal;
use crate::fields::Fields;
use crate::{FieldError, Refusal};

/// The most labels a tenant's `metadata` may hold.
pub const MAX_METADATA_ENTRIES: usize = 64;

/// What a list shows ([`Principal::list_space`] of the `?tenant_id=` asked for), with an
/// unknown tenant answered 404 `Tenant not found`.
pub async fn list_space(
    tenants: &Cache<Tenant>,
    principal: &Principal,
    requested: Option<&str>,
) -> Result<Space, Refusal> {
    let space = principal.list_space(requested)?;
    if let (Space::Tenant(tenant), None) = (space, principal.tenant()) {
        exists(tenants, tenant).await?;
    }
    Ok(space)
}

/// 404 `Tenant not found` unless the tenant exists (answered from the tenant cache).
pub async fn exists(tenants: &Cache<Tenant>, tenant: Uuid) -> Result<(), Refusal> {
    let found = tenants
        .get_current(&tenant)
        .await
        .map_err(|e| Refusal::unavailable("Tenants are unavailable. Retry later.", e))?;
    found.map(|_| ()).ok_or(Refusal::NotFound(NOT_FOUND))
}

/// Validates a `POST /tenants` body.
///
/// The OpenAPI document shows what this reads as [`body::NewTenantBody`];
/// keep the two in step.
pub fn parse_new(body: &Map<String, Value>) -> Result<Tenant, Vec<FieldError>> {
    let mut fields = Fields::new(body);
    fields.required("name");
    fields.null("name", "string_type", "a valid string");
    fields.null("metadata", "dict_type", "a valid dictionary");
    let now = time::now();
    let tenant = Tenant {
        id: Uuid::new_v4(),
        name: fields.name("name").unwrap_or_default(),
        metadata: fields
            .string_map("metadata", MAX_METADATA_ENTRIES)
            .unwrap_or_else(|| Value::Object(Map::new())),
        created_at: now,
        updated_at: now,
    };
    fields.finish(tenant)
}

/// Validates a `PATCH /tenants/{id}` body: only keys present change; neither may be null.
///
/// The OpenAPI document shows what this reads as [`body::TenantChangesBody`];
/// keep the two in step.
pub fn parse_changes(body: &Map<String, Value>) -> Result<TenantChanges, Vec<FieldError>> {
    let mut fields = Fields::new(body);
    fields.null("name", "string_type", "a valid string");
    fields.null("metadata", "dict_type", "a valid dictionary");
    let changes = TenantChanges {
        name: fields.name("name"),
        metadata: fields.string_map("metadata", MAX_METADATA_ENTRIES),
        updated_at: Some(time::now()),
    };
    fields.finish(changes)
}

pub async fn create(db: &DbPool, tenant: Tenant) -> anyhow::Result<Tenant> {
    let mut conn = checkout(db).await?;
    bounded(
        "Failed to insert a tenant",
        diesel::insert_into(tenants::table)
            .values(&tenant)
            .returning(Tenant::as_returning())
            .get_result(&mut conn),
    )
    .await
}

/// Oldest first.
pub async fn list(db: &DbPool, skip: i64, limit: i64) -> anyhow::Result<Vec<Tenant>> {
    let mut conn = checkout(db).await?;
    bounded(
        "Failed to list tenants",
        tenants::table
            .order((tenants::created_at.asc(), tenants::id.asc()))
            .offset(skip)
            .limit(limit)
            .select(Tenant::as_select())
            .load(&mut conn),
    )
    .await
}

pub async fn get(db: &DbPool, id: Uuid) -> anyhow::Result<Option<Tenant>> {
    let mut conn = checkout(db).await?;
    bounded("Failed to read a tenant", async {
        tenants::table
            .find(id)
            .select(Tenant::as_select())
            .first(&mut conn)
            .await
            .optional()
    })
    .await
}

pub async fn update(
    db: &DbPool,
    id: Uuid,
    changes: TenantChanges,
) -> anyhow::Result<Option<Tenant>> {
    let mut conn = checkout(db).await?;
    bounded("Failed to update a tenant", async {
        diesel::update(tenants::table.find(id))
            .set(&changes)
            .returning(Tenant::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
    })
    .await
}

/// What deleting a tenant removed, for the caches to forget.
pub struct Removed {
    pub subscriptions: Vec<Uuid>,
    pub key_prefixes: Vec<String>,
    /// The tokens of its sources (deleted with it by the foreign key).
    pub source_tokens: Vec<String>,
}

/// Deletes the tenant, its keys and its subscriptions (whose unfinished deliveries end
/// `failed` / `subscription deleted`) in one transaction. `None`: no such tenant.
pub async fn delete(db: &DbPool, id: Uuid) -> anyhow::Result<Option<Removed>> {
    let mut conn = checkout(db).await?;
    let deleting = conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        // Locks the row first: a concurrent create for this tenant then waits, and
        // fails on the foreign key once the tenant is gone.
        let found: Option<Uuid> = tenants::table
            .find(id)
            .select(tenants::id)
            .for_update()
            .first(conn)
            .await
            .optional()?;
        if found.is_none() {
            return Ok(None);
        }
        let key_prefixes = crate::api_keys::delete_all_of(conn, id).await?;
        let subscriptions = crate::subscriptions::store::delete_all_of(conn, id).await?;
        let source_tokens = crate::sources::store::delete_all_of(conn, id).await?;
        diesel::delete(tenants::table.find(id))
            .execute(conn)
            .await?;
        Ok(Some(Removed {
            subscriptions,
            key_prefixes,
            source_tokens,
        }))
    });
    bounded("Failed to delete a tenant", deleting).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::fields::object;

    #[test]
    fn tenant_bodies_are_validated_field_by_field() {
        let tenant = parse_new(&object(
            json!({"name": "Acme", "metadata": {"plan": "pro"}}),
        ))
        .expect("valid");
        assert_eq!(
            (tenant.name.as_str(), &tenant.metadata),
            ("Acme", &json!({"plan": "pro"}))
        );
        let errors = parse_new(&object(json!({"metadata": {"n": 1}}))).expect_err("invalid");
        let locs: Vec<_> = errors.iter().map(|e| json!(e.loc)).collect();
        assert_eq!(
            locs,
            [json!(["body", "name"]), json!(["body", "metadata", "n"])]
        );
        assert!(parse_new(&object(json!({"name": ""}))).is_err());
        assert!(parse_changes(&object(json!({"name": null}))).is_err());
        let changes = parse_changes(&object(json!({"metadata": {}}))).expect("valid");
        assert_eq!((changes.name, changes.metadata), (None, Some(json!({}))));
    }
}
