//! `subscriptions`: who receives which events, where, and how they are signed.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use crate::destinations::{Destination, HTTP};
use hookrelay_shared::schema::subscriptions;

/// CONTRACT §3's subscription object.
#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Serialize, utoipa::ToSchema,
)]
#[diesel(table_name = subscriptions, check_for_backend(diesel::pg::Pg))]
pub struct Subscription {
    pub id: Uuid,
    /// WHATWG-normalised http(s) URL; `null` for a destination other than HTTP.
    #[schema(required = true)]
    pub target_url: Option<String>,
    /// Where deliveries go (`{"type": "http"}`: `target_url`); secrets in it read `***`.
    #[serde(serialize_with = "crate::destinations::serialize_masked")]
    #[schema(value_type = crate::destinations::Destination)]
    pub destination: Option<Destination>,
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
    #[serde(serialize_with = "hookrelay_shared::time::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-22T15:04:02.551966Z")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "hookrelay_shared::time::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-22T15:04:02.551966Z")]
    pub updated_at: DateTime<Utc>,
    /// The tenant it belongs to; `null`: the default space. Set on creation, never changed.
    #[schema(required = true)]
    pub tenant_id: Option<Uuid>,
    #[schema(required = true)]
    pub name: Option<String>,
    /// The method of every delivery (`GET` and `DELETE` send no body).
    #[schema(value_type = DeliveryMethod)]
    pub http_method: String,
    /// Overrides `DELIVERY_TIMEOUT` (100..=60000).
    #[schema(required = true)]
    pub timeout_ms: Option<i32>,
    /// Overrides `RETRY_SCHEDULE`: the delays before retry 1, 2, … (`[]`: no retries).
    #[serde(serialize_with = "serialize_schedule")]
    #[schema(required = true, value_type = Option<Vec<String>>, example = json!(["1m", "1h"]))]
    pub retry_schedule: Option<Vec<i64>>,
    /// At most this many attempts started per second, all workers together.
    #[schema(required = true)]
    pub rate_limit: Option<i32>,
    /// Finished deliveries in a row that failed.
    pub consecutive_failures: i32,
    #[serde(serialize_with = "hookrelay_shared::time::serialize_opt")]
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    pub last_success_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "hookrelay_shared::time::serialize_opt")]
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    pub last_failure_at: Option<DateTime<Utc>>,
    /// Why the service made it inactive (`null` when it did not).
    #[schema(required = true)]
    pub disabled_reason: Option<String>,
    /// When the service made it inactive.
    #[serde(skip)]
    #[schema(ignore)]
    pub disabled_at: Option<DateTime<Utc>>,
    /// The secret before the last rotation, still signed with until
    /// `previous_secret_expires_at`. Never shown.
    #[serde(skip)]
    #[schema(ignore)]
    pub previous_secret: Option<String>,
    #[serde(skip)]
    #[schema(ignore)]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

hookrelay_shared::text_enum! {
    /// The methods a subscription's deliveries may use.
    #[derive(utoipa::ToSchema)]
    pub enum DeliveryMethod {
        Post = "POST",
        Put = "PUT",
        Patch = "PATCH",
        Get = "GET",
        Delete = "DELETE",
    }
    impl Serialize;
}

impl DeliveryMethod {
    /// Whether deliveries with this method carry the body (`GET` and `DELETE` do not; the
    /// signature then covers an empty body).
    pub const fn sends_body(self) -> bool {
        !matches!(self, Self::Get | Self::Delete)
    }
}

/// A stored schedule (milliseconds) as the durations the api takes (`["1m", "1h"]`).
fn serialize_schedule<S: serde::Serializer>(
    schedule: &Option<Vec<i64>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq as _;
    let Some(delays) = schedule else {
        return s.serialize_none();
    };
    let mut seq = s.serialize_seq(Some(delays.len()))?;
    for ms in delays {
        let ms = u64::try_from(*ms).unwrap_or(0);
        seq.serialize_element(&hookrelay_shared::config::format_duration(
            std::time::Duration::from_millis(ms),
        ))?;
    }
    seq.end()
}

impl Subscription {
    /// Where its deliveries go.
    pub fn destination(&self) -> &Destination {
        self.destination.as_ref().unwrap_or(&HTTP)
    }

    /// Where its deliveries go, as attempts and deliveries record it (`target_url`):
    /// the URL, or the destination's locator with secrets redacted.
    pub fn locator(&self) -> String {
        self.destination
            .as_ref()
            .and_then(Destination::locator)
            .or_else(|| self.target_url.clone())
            .unwrap_or_default()
    }

    /// The method of its deliveries (the table's CHECK allows no other; a row written
    /// around it is delivered with POST).
    pub fn method(&self) -> DeliveryMethod {
        DeliveryMethod::parse(&self.http_method).unwrap_or(DeliveryMethod::Post)
    }

    /// What people call it: its name, else where its deliveries go.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.locator())
    }

    /// Whether its deliveries carry the body: a destination other than HTTP always does;
    /// HTTP unless the method is `GET` or `DELETE` (the signature then covers an empty
    /// body).
    pub fn sends_body(&self) -> bool {
        self.destination.is_some() || self.method().sends_body()
    }

    /// Its own retry schedule, if it has one.
    pub fn own_retry_schedule(&self) -> Option<Vec<std::time::Duration>> {
        self.retry_schedule.as_ref().map(|delays| {
            delays
                .iter()
                .map(|ms| std::time::Duration::from_millis(u64::try_from(*ms).unwrap_or(0)))
                .collect()
        })
    }

    /// The secret rotated away from, while it is still signed with at `now`.
    pub fn previous_secret_at(&self, now: DateTime<Utc>) -> Option<&str> {
        match (&self.previous_secret, self.previous_secret_expires_at) {
            (Some(secret), Some(until)) if now < until => Some(secret),
            _ => None,
        }
    }

    /// The stored row (no cache), within the statement deadline.
    pub async fn find(db: &hookrelay_shared::db::DbPool, id: Uuid) -> anyhow::Result<Option<Self>> {
        use anyhow::Context as _;
        let mut conn = db.get().await.context("no Postgres connection")?;
        let query = subscriptions::table.find(id).select(Self::as_select());
        hookrelay_shared::db::bounded("Failed to read a subscription", async {
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
    pub target_url: Option<String>,
    pub destination: Option<Destination>,
    pub secret: String,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub headers: serde_json::Value,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub tenant_id: Option<Uuid>,
    pub name: Option<String>,
    pub http_method: String,
    pub timeout_ms: Option<i32>,
    pub retry_schedule: Option<Vec<i64>>,
    pub rate_limit: Option<i32>,
}

/// A partial update: `None` leaves a column alone; `Some(None)` sets it to NULL.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = subscriptions)]
pub struct SubscriptionChanges {
    pub target_url: Option<Option<String>>,
    /// `Some(None)`: back to HTTP.
    pub destination: Option<Option<Destination>>,
    pub secret: Option<String>,
    pub events: Option<Option<Vec<String>>>,
    pub description: Option<Option<String>>,
    pub headers: Option<serde_json::Value>,
    pub is_active: Option<bool>,
    pub updated_at: Option<DateTime<Utc>>,
    pub name: Option<Option<String>>,
    pub http_method: Option<String>,
    pub timeout_ms: Option<Option<i32>>,
    pub retry_schedule: Option<Option<Vec<i64>>>,
    pub rate_limit: Option<Option<i32>>,
    /// Set with `is_active: true`: re-enabling resets the failure count.
    pub consecutive_failures: Option<i32>,
    pub disabled_reason: Option<Option<String>>,
    pub disabled_at: Option<Option<DateTime<Utc>>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_read_back_from_their_names() {
        hookrelay_shared::assert_texts_round_trip!(DeliveryMethod);
    }
}
