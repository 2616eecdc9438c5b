//! A stored key as authentication needs it: the row the api's key cache holds, keyed by
//! the key's prefix (`auth::credentials` in the api looks presented keys up in it).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use hookrelay_shared::cache::Cached;
use hookrelay_shared::schema::api_keys;
use uuid::Uuid;

use super::Permissions;

/// A stored key as authentication needs it (the cache's row).
#[derive(Debug, Clone)]
pub struct Credential {
    pub id: Uuid,
    pub prefix: String,
    pub tenant_id: Option<Uuid>,
    pub permissions: Permissions,
    pub digest: Vec<u8>,
    pub expires_at: Option<DateTime<Utc>>,
}

type CredentialRow = (
    Uuid,
    String,
    Option<Uuid>,
    Vec<String>,
    Vec<u8>,
    Option<DateTime<Utc>>,
);

const CREDENTIAL_COLUMNS: (
    api_keys::id,
    api_keys::key_prefix,
    api_keys::tenant_id,
    api_keys::permissions,
    api_keys::key_hash,
    api_keys::expires_at,
) = (
    api_keys::id,
    api_keys::key_prefix,
    api_keys::tenant_id,
    api_keys::permissions,
    api_keys::key_hash,
    api_keys::expires_at,
);

impl From<CredentialRow> for Credential {
    fn from((id, prefix, tenant_id, permissions, digest, expires_at): CredentialRow) -> Self {
        Self {
            id,
            prefix,
            tenant_id,
            permissions: Permissions::from_names(&permissions),
            digest,
            expires_at,
        }
    }
}

impl Cached for Credential {
    type Key = String;
    const NAME: &'static str = hookrelay_shared::keys::API_KEYS_CACHE;

    fn key(&self) -> String {
        self.prefix.clone()
    }

    async fn load_all(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Self>> {
        let rows: Vec<CredentialRow> = api_keys::table
            .select(CREDENTIAL_COLUMNS)
            .load(conn)
            .await?;
        Ok(rows.into_iter().map(Credential::from).collect())
    }

    async fn load_some(
        conn: &mut AsyncPgConnection,
        prefixes: Vec<String>,
    ) -> QueryResult<Vec<Self>> {
        let rows: Vec<CredentialRow> = api_keys::table
            .filter(api_keys::key_prefix.eq_any(prefixes))
            .select(CREDENTIAL_COLUMNS)
            .load(conn)
            .await?;
        Ok(rows.into_iter().map(Credential::from).collect())
    }
}
