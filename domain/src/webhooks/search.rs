//! `GET /webhooks`: finding stored webhooks by event type, status,
//! subscription and time, newest first.
//!
//! One query, built from the filters present. Its shape is what keeps it fast on a table
//! of millions (measured by `scripts/explain-webhook-search.sh`): the webhooks are walked
//! newest first down a `received_at` index (one per tenant, one per event type, one of
//! the webhooks stored with no subscriber), or, with `subscription_id`, down that
//! subscription's deliveries by their copy of `received_at`; each filter on deliveries
//! is an `EXISTS` / `NOT EXISTS` probe of that webhook's deliveries by primary key, so
//! the first page stops after the rows it needs. A webhook's status is not stored: its
//! filter is the status's [`Rule`](crate::webhooks::status::view::Rule), the same one
//! `/status/{id}` derives it with, written as those probes.
//!
//! Webhooks no worker has stored yet (`scheduled` or `queued`, known to Redis only) are not listed.

use crate::sql::{Bind, Binds, status_list};
use crate::tenants::space::Space;
use crate::webhooks::DeliveryStatus;
use chrono::{DateTime, Utc};
use diesel::sql_types::{Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use hookrelay_shared::db::{DbPool, bounded, checkout};
use hookrelay_shared::time;
use serde::Serialize;
use uuid::Uuid;

use crate::FieldError;
use crate::fields::{Fields, query_map};
use crate::webhooks::status::view::{AggregateStatus, Rule};

/// The filters of `GET /webhooks`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub event_type: Option<String>,
    pub status: Option<AggregateStatus>,
    pub subscription_id: Option<Uuid>,
    /// Received at or after.
    pub since: Option<DateTime<Utc>>,
    /// Received before.
    pub until: Option<DateTime<Utc>>,
}

/// Reads the filters from a query string, every bad one reported at once.
pub fn parse_filter(query: &str) -> Result<Filter, Vec<FieldError>> {
    let params = query_map(query);
    let mut fields = Fields::query(&params);
    let event_type = fields.string("event_type");
    let status = fields.string("status").and_then(|raw| {
        let parsed = AggregateStatus::parse(&raw);
        if parsed.is_none() {
            let expected: Vec<_> = AggregateStatus::ALL
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            fields.error(
                "status",
                format!("Input should be {}", expected.join(", ")),
                "enum",
            );
        }
        parsed
    });
    let subscription_id = fields.uuid("subscription_id");
    let since = fields.timestamp("since");
    // `since` after `until` is an empty window, not an error: each is a valid value on
    // its own, as the OpenAPI document can say.
    let until = fields.timestamp("until");
    fields.finish(Filter {
        event_type,
        status,
        subscription_id,
        since,
        until,
    })
}

/// One entry of `GET /webhooks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WebhookSummary {
    pub webhook_id: Uuid,
    /// The tenant it was ingested in; null: the default space.
    #[schema(required = true)]
    pub tenant_id: Option<Uuid>,
    #[schema(required = true)]
    pub event_type: Option<String>,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-22T15:04:02.551966Z")]
    pub received_at: DateTime<Utc>,
    pub status: AggregateStatus,
    /// The targeted subscription; null for fan-out.
    #[schema(required = true)]
    pub subscription_id: Option<Uuid>,
    /// How many deliveries (one per subscription) it has.
    pub deliveries: i64,
}

#[derive(diesel::QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    tenant_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    event_type: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    received_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    subscription_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Array<Text>)]
    statuses: Vec<String>,
}

/// The query's conditions and its binds.
#[derive(Default)]
struct Query {
    conditions: Vec<String>,
    binds: Binds,
}

impl Query {
    fn sql(&mut self, space: Space, filter: &Filter, skip: i64, limit: i64) -> String {
        // One subscription's webhooks are walked from its deliveries (`s`), which carry
        // their webhook's `received_at`: the window and the order are then on `s`.
        let (from, at, id) = match filter.subscription_id {
            None => ("webhooks w", "w.received_at", "w.id"),
            Some(subscription) => {
                let p = self.binds.push(Bind::Uuid(subscription));
                self.conditions.push(format!("s.subscription_id = {p}"));
                (
                    "deliveries s JOIN webhooks w ON w.id = s.webhook_id",
                    "s.received_at",
                    "s.webhook_id",
                )
            }
        };
        self.conditions
            .extend(self.binds.space(space, "w.tenant_id"));
        if let Some(event_type) = &filter.event_type {
            let p = self.binds.push(Bind::Text(event_type.clone()));
            self.conditions.push(format!("w.event_type = {p}"));
        }
        if let Some(since) = filter.since {
            let p = self.binds.push(Bind::Time(since));
            self.conditions.push(format!("{at} >= {p}"));
        }
        if let Some(until) = filter.until {
            let p = self.binds.push(Bind::Time(until));
            self.conditions.push(format!("{at} < {p}"));
        }
        match filter.status {
            None => {}
            Some(status) => match status.rule() {
                // Stored webhooks are never queued.
                None => self.conditions.push("FALSE".into()),
                Some(rule) => {
                    if status == AggregateStatus::NoSubscribers {
                        // The mark the log writer stores, so the walk is of its partial
                        // index; the rule's probe below still decides.
                        self.conditions.push("w.no_subscribers".into());
                    }
                    self.conditions.extend(status_conditions(rule, id));
                }
            },
        }
        let filter = if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        };
        let skip = self.binds.push(Bind::Int(skip));
        let limit = self.binds.push(Bind::Int(limit));
        format!(
            "SELECT w.id, w.tenant_id, w.event_type, w.received_at, w.subscription_id, \
             ARRAY(SELECT d.status FROM deliveries d WHERE d.webhook_id = w.id) AS statuses \
             FROM {from} {filter} \
             ORDER BY {at} DESC, {id} DESC OFFSET {skip} LIMIT {limit}"
        )
    }
}

/// A status [`Rule`] as conditions on the deliveries of the webhook whose id is `id`:
/// written on the column the walk comes from (`s.webhook_id` for one subscription's
/// deliveries), so each row is probed before its webhook is joined (measured: 8 ms instead
/// of 50 ms for `?status=failed&subscription_id=` on 1,000,000 webhooks).
fn status_conditions(rule: Rule, id: &str) -> Vec<String> {
    let mut conditions = Vec::new();
    if let Some(some) = rule.some {
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = {id} AND d.status IN {})",
            status_list(some)
        ));
    }
    if let Some(every) = rule.every {
        let outside = if every.is_empty() {
            String::new()
        } else {
            format!(" AND d.status NOT IN {}", status_list(every))
        };
        conditions.push(format!(
            "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = {id}{outside})"
        ));
    }
    conditions
}

/// The stored webhooks in `space` that match `filter`, newest first.
pub async fn search(
    db: &DbPool,
    space: Space,
    filter: &Filter,
    skip: i64,
    limit: i64,
) -> anyhow::Result<Vec<WebhookSummary>> {
    let mut query = Query::default();
    let sql = query.sql(space, filter, skip, limit);
    let statement = query.binds.query(sql);
    let mut conn = checkout(db).await?;
    let searching = conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        // A parallel walk of the index is slower here, never faster: Gather Merge waits
        // for every worker's next match, and a worker whose share of the index holds
        // none (rare statuses, in-flight webhooks that are all recent) walks all of it
        // (measured: 1.9 s instead of 2 ms for `delivering` on 1,000,000 webhooks).
        diesel::sql_query("SET LOCAL max_parallel_workers_per_gather = 0")
            .execute(conn)
            .await?;
        statement.load::<Row>(conn).await
    });
    let rows = bounded("Failed to search webhooks", searching).await?;
    Ok(rows.into_iter().map(summary).collect())
}

fn summary(row: Row) -> WebhookSummary {
    // The table's CHECK constraint allows only the four known values.
    let statuses: Vec<_> = row
        .statuses
        .iter()
        .filter_map(|s| DeliveryStatus::parse(s))
        .collect();
    WebhookSummary {
        webhook_id: row.id,
        tenant_id: row.tenant_id,
        event_type: row.event_type,
        received_at: row.received_at,
        status: crate::webhooks::status::view::aggregate(&statuses),
        subscription_id: row.subscription_id,
        deliveries: statuses.len() as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_read_with_every_error_at_once() {
        let filter = parse_filter(
            "event_type=order.paid&status=failed&since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00%2B01:00",
        )
        .expect("valid filters");
        assert_eq!(filter.event_type.as_deref(), Some("order.paid"));
        assert_eq!(filter.status, Some(AggregateStatus::Failed));
        assert!(filter.since < filter.until);

        let errors =
            parse_filter("status=lost&subscription_id=x&since=yesterday").expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.loc[1].clone()).collect();
        assert_eq!(fields, ["status", "subscription_id", "since"]);

        assert!(parse_filter("since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z").is_ok());
        assert!(parse_filter("since=2026-01-01T00:00:00Z&until=2026-01-01T00:00:00Z").is_ok());
    }

    #[test]
    fn no_subscribers_is_no_delivery_at_all() {
        let rule = AggregateStatus::NoSubscribers
            .rule()
            .expect("a stored status");
        assert_eq!(
            status_conditions(rule, "w.id"),
            ["NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = w.id)"]
        );
        let rule = AggregateStatus::Failed.rule().expect("a stored status");
        assert_eq!(
            status_conditions(rule, "s.webhook_id")[1],
            "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = s.webhook_id \
             AND d.status NOT IN ('succeeded', 'failed'))"
        );
    }
}
