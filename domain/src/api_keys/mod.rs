//! Stored API keys: body validation, the rules on which keys a key may create or delete,
//! and the Postgres side. [`caller`] is who makes a request ([`Principal`]), [`row`] the
//! `api_keys` row, [`usage`] the batched `last_used_at` writes. Authenticating a request
//! is the api's (`auth::credentials`). [`body`] is the create body as the OpenAPI document
//! shows it.

pub mod body;
pub mod caller;
pub mod credential;
pub mod ops;
pub mod row;
pub mod secret;
pub mod usage;

pub use caller::{KeyScope, Principal, Reach};
pub use row::{ApiKey, NewApiKey, Permission, Permissions};

use crate::tenants::space::Space;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use hookrelay_shared::db::{DbPool, bounded, checkout};
use hookrelay_shared::schema::api_keys;
use hookrelay_shared::time;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::fields::Fields;
use crate::{FieldError, Refusal};
use secret::GeneratedKey;

/// The detail of every 404 for an API key that does not exist in the caller's reach.
pub const NOT_FOUND: &str = "API key not found";

/// A validated `POST /api-keys` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKeyInput {
    pub name: String,
    pub tenant_id: Option<Uuid>,
    pub permissions: Permissions,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The 201 body: the key object and, this once, the key itself.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The secret: `hrk_` and 43 URL-safe base64 characters. Shown only here.
    #[serde(rename = "key")]
    pub secret: String,
}

/// Validates a `POST /api-keys` body. `permissions` defaults to all three. An
/// `expires_at` already past is taken as it is: the key is refused from the start.
///
/// The OpenAPI document shows what this reads as [`body::NewApiKeyBody`];
/// keep the two in step.
pub fn parse_new(body: &Map<String, Value>) -> Result<NewKeyInput, Vec<FieldError>> {
    let mut fields = Fields::new(body);
    fields.required("name");
    fields.null("name", "string_type", "a valid string");
    fields.null("permissions", "list_type", "a valid list");
    let name = fields.name("name").unwrap_or_default();
    let tenant_id = fields.uuid("tenant_id");
    let permissions = permissions(&mut fields).unwrap_or(Permissions::ALL);
    let expires_at = fields.timestamp("expires_at");
    fields.finish(NewKeyInput {
        name,
        tenant_id,
        permissions,
        expires_at,
    })
}

fn permissions(fields: &mut Fields<'_>) -> Option<Permissions> {
    let Value::Array(items) = fields.present("permissions")? else {
        fields.error("permissions", "Input should be a valid list", "list_type");
        return None;
    };
    if items.is_empty() {
        fields.error(
            "permissions",
            "List should have at least 1 item (of ingest, read, write)",
            "too_short",
        );
        return None;
    }
    let mut set = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item.as_str().and_then(Permission::parse) {
            Some(p) => set.push(p),
            None => fields.errors.push(
                FieldError::new(
                    &["body", "permissions"],
                    "Input should be 'ingest', 'read' or 'write'",
                    "enum",
                )
                .at(i),
            ),
        }
    }
    (set.len() == items.len()).then(|| set.into_iter().collect())
}

/// What `principal` may create from `input`: the key's tenant (a tenant key's own,
/// whatever the body says), and nothing wider than the creator
/// ([`Principal::covers_key`]); a key without `expires_at` made by an expiring key gets
/// the creator's expiry.
pub fn scoped(principal: &Principal, mut input: NewKeyInput) -> Result<NewKeyInput, Refusal> {
    input.tenant_id = principal.owner(input.tenant_id);
    if input.expires_at.is_none() {
        input.expires_at = principal.key.and_then(|k| k.expires_at);
    }
    principal.covers_key(input.permissions, input.expires_at)?;
    Ok(input)
}

/// Stores a new key; `None` when its tenant does not exist.
pub async fn create(db: &DbPool, input: NewKeyInput) -> anyhow::Result<Option<CreatedApiKey>> {
    let mut conn = checkout(db).await?;
    // A prefix is 48 random bits; on the rare collision with a stored key, draw again.
    for _ in 0..3 {
        let generated = GeneratedKey::new();
        let row = NewApiKey {
            id: Uuid::new_v4(),
            name: input.name.clone(),
            tenant_id: input.tenant_id,
            permissions: input.permissions.names(),
            key_prefix: generated.prefix.clone(),
            key_hash: generated.digest.to_vec(),
            created_at: time::now(),
            expires_at: input.expires_at,
        };
        let inserted = bounded("Failed to insert an API key", async {
            let inserted = diesel::insert_into(api_keys::table)
                .values(&row)
                .returning(ApiKey::as_returning())
                .get_result(&mut conn)
                .await;
            match inserted {
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => Ok(Err(())),
                other => crate::subscriptions::store::unless_no_tenant(other).map(Ok),
            }
        })
        .await?;
        if let Ok(created) = inserted {
            return Ok(created.map(|api_key| CreatedApiKey {
                api_key,
                secret: generated.key,
            }));
        }
    }
    anyhow::bail!("three generated key prefixes in a row were taken")
}

/// The keys in `space`, oldest first.
pub async fn list(db: &DbPool, space: Space, skip: i64, limit: i64) -> anyhow::Result<Vec<ApiKey>> {
    let mut conn = checkout(db).await?;
    bounded(
        "Failed to list API keys",
        api_keys::table
            .filter(space.condition(api_keys::tenant_id))
            .order((api_keys::created_at.asc(), api_keys::id.asc()))
            .offset(skip)
            .limit(limit)
            .select(ApiKey::as_select())
            .load(&mut conn),
    )
    .await
}

/// The key, when it exists in `space`.
pub async fn get(db: &DbPool, space: Space, id: Uuid) -> anyhow::Result<Option<ApiKey>> {
    let mut conn = checkout(db).await?;
    bounded("Failed to read an API key", async {
        api_keys::table
            .find(id)
            .filter(space.condition(api_keys::tenant_id))
            .select(ApiKey::as_select())
            .first(&mut conn)
            .await
            .optional()
    })
    .await
}

/// Deletes the key if `principal` reaches it and is no narrower than it (403 otherwise);
/// returns its prefix, for the cache. `None`: no such key in reach.
pub async fn delete(
    db: &DbPool,
    principal: &Principal,
    id: Uuid,
) -> Result<Option<String>, Refusal> {
    let Some(key) = get(db, principal.space(), id).await? else {
        return Ok(None);
    };
    principal.covers_key(Permissions::from_names(&key.permissions), key.expires_at)?;
    let mut conn = checkout(db).await?;
    let deleted = bounded(
        "Failed to delete an API key",
        diesel::delete(api_keys::table.find(id)).execute(&mut conn),
    )
    .await?;
    Ok((deleted > 0).then_some(key.key_prefix))
}

/// Deletes every key of a tenant, in the tenant's deletion transaction; answers their
/// prefixes, for the cache.
pub async fn delete_all_of(
    conn: &mut diesel_async::AsyncPgConnection,
    tenant: Uuid,
) -> diesel::QueryResult<Vec<String>> {
    diesel::delete(api_keys::table.filter(api_keys::tenant_id.eq(tenant)))
        .returning(api_keys::key_prefix)
        .get_results(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    use crate::fields::object;

    #[test]
    fn key_bodies_are_validated() {
        let input = parse_new(&object(json!({"name": "ci"}))).expect("valid");
        assert_eq!(
            (input.permissions, input.tenant_id, input.expires_at),
            (Permissions::ALL, None, None)
        );
        let errors = parse_new(&object(json!({
            "permissions": ["read", "admin"], "expires_at": "2001-01-01", "tenant_id": "x"
        })))
        .expect_err("invalid");
        let locs: Vec<_> = errors.iter().map(|e| json!(e.loc)).collect();
        assert_eq!(
            locs,
            [
                json!(["body", "name"]),
                json!(["body", "tenant_id"]),
                json!(["body", "permissions", 1]),
                json!(["body", "expires_at"]),
            ]
        );
        assert!(parse_new(&object(json!({"name": "x", "permissions": []}))).is_err());
    }

    #[test]
    fn a_key_creates_no_key_wider_than_itself() {
        let tenant = Uuid::new_v4();
        let expires = time::now() + chrono::TimeDelta::hours(1);
        let creator = Principal {
            reach: Reach::Tenant(tenant),
            permissions: [Permission::Read, Permission::Write].into_iter().collect(),
            key: Some(KeyScope {
                id: Uuid::new_v4(),
                expires_at: Some(expires),
            }),
        };
        let wanted = |permissions: Permissions, expires_at| NewKeyInput {
            name: "k".into(),
            tenant_id: Some(Uuid::new_v4()),
            permissions,
            expires_at,
        };
        let read = Permissions::from_names(&["read"]);
        let made = scoped(&creator, wanted(read, None)).expect("narrower");
        assert_eq!(
            (made.tenant_id, made.expires_at),
            (Some(tenant), Some(expires))
        );
        assert!(scoped(&creator, wanted(Permissions::ALL, None)).is_err());
        assert!(
            scoped(
                &creator,
                wanted(read, Some(expires + chrono::TimeDelta::seconds(1)))
            )
            .is_err()
        );
        assert!(scoped(&Principal::ADMIN, wanted(Permissions::ALL, None)).is_ok());
    }
}
