//! `tenants`: the customers of one deployment. Every tenant resource carries a
//! `tenant_id`; `NULL` is the default space, which is all a deployment without tenants
//! ever uses.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use hookrelay_shared::schema::tenants;

/// The tenant object.
/// The detail of every 404 for a tenant that does not exist.
pub const NOT_FOUND: &str = "Tenant not found";

#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, Serialize, utoipa::ToSchema,
)]
#[diesel(table_name = tenants, check_for_backend(diesel::pg::Pg))]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    /// Free-form string labels (an operator's customer id, plan, region …).
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub metadata: serde_json::Value,
    #[serde(serialize_with = "hookrelay_shared::time::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-22T15:04:02.551966Z")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "hookrelay_shared::time::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-22T15:04:02.551966Z")]
    pub updated_at: DateTime<Utc>,
}

/// A partial update: `None` leaves a column alone.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = tenants)]
pub struct TenantChanges {
    pub name: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl hookrelay_shared::cache::Cached for Tenant {
    type Key = Uuid;
    const NAME: &'static str = hookrelay_shared::keys::TENANTS_CACHE;

    fn key(&self) -> Uuid {
        self.id
    }

    async fn load_all(conn: &mut diesel_async::AsyncPgConnection) -> QueryResult<Vec<Self>> {
        diesel_async::RunQueryDsl::load(tenants::table.select(Self::as_select()), conn).await
    }

    async fn load_some(
        conn: &mut diesel_async::AsyncPgConnection,
        ids: Vec<Uuid>,
    ) -> QueryResult<Vec<Self>> {
        let query = tenants::table
            .filter(tenants::id.eq_any(ids))
            .select(Self::as_select());
        diesel_async::RunQueryDsl::load(query, conn).await
    }
}
