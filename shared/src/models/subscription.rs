//! `subscriptions`: who receives which events, where, and how they are signed.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use crate::schema::subscriptions;

/// CONTRACT §3's subscription object.
#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Serialize, utoipa::ToSchema,
)]
#[diesel(table_name = subscriptions, check_for_backend(diesel::pg::Pg))]
pub struct Subscription {
    pub id: Uuid,
    /// WHATWG-normalised http(s) URL.
    pub target_url: String,
    /// Signing secret (`whsec_` + base64 of the key, or any string used as raw bytes).
    pub secret: String,
    /// `null` or `[]`: every event type; entries ending in `*` are prefix matches.
    // Always present, possibly null: required and nullable in the schema.
    #[schema(required = true)]
    pub events: Option<Vec<String>>,
    #[schema(required = true)]
    pub description: Option<String>,
    /// Extra headers sent with every delivery.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub headers: serde_json::Value,
    /// `false` pauses fan-out deliveries.
    pub is_active: bool,
    #[serde(serialize_with = "crate::time::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-22T15:04:02.551966Z")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-22T15:04:02.551966Z")]
    pub updated_at: DateTime<Utc>,
    /// The tenant it belongs to; `null`: the default space. Set on creation, never changed.
    #[schema(required = true)]
    pub tenant_id: Option<Uuid>,
}

impl Subscription {
    /// The stored row (no cache), within the statement deadline.
    pub async fn find(db: &crate::db::DbPool, id: Uuid) -> anyhow::Result<Option<Self>> {
        use anyhow::Context as _;
        let mut conn = db.get().await.context("no Postgres connection")?;
        let query = subscriptions::table.find(id).select(Self::as_select());
        crate::db::bounded("Failed to read a subscription", async {
            diesel_async::RunQueryDsl::first(query, &mut conn)
                .await
                .optional()
        })
        .await
    }

    /// The extra delivery headers as name/value pairs (non-string values are skipped;
    /// the api only ever stores strings).
    pub fn header_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(name, value)| Some((name.as_str(), value.as_str()?)))
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = subscriptions)]
pub struct NewSubscription {
    pub id: Uuid,
    pub target_url: String,
    pub secret: String,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub headers: serde_json::Value,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub tenant_id: Option<Uuid>,
}

/// A partial update: `None` leaves a column alone; `Some(None)` sets it to NULL.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = subscriptions)]
pub struct SubscriptionChanges {
    pub target_url: Option<String>,
    pub secret: Option<String>,
    pub events: Option<Option<Vec<String>>>,
    pub description: Option<Option<String>>,
    pub headers: Option<serde_json::Value>,
    pub is_active: Option<bool>,
    pub updated_at: Option<DateTime<Utc>>,
}
