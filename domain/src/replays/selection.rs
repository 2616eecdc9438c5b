//! What a bulk replay (`POST /replays`) matches, as SQL that the api's dry run counts
//! with and the worker's runner walks in batches, so the count is the same query.
//!
//! Two stages, each in keyset order of `(received_at, webhook_id, subscription_id)`:
//! 1. **deliveries**: the deliveries of webhooks received in `[since, until]` in the
//!    replay's space, to subscriptions that exist and are active, whose status is one of
//!    `statuses` (and, when set, to `subscription_id`, of `event_types`);
//! 2. **missing** (`include_missing`, with a subscription): fan-out webhooks of the
//!    subscription's space in the window that its event filter matches, that have no
//!    delivery to it and are not operational events about it.
//!
//! Webhooks already purged have no row and match nothing.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::sql::{Bind, Binds, all_of, status_list};
use crate::tenants::space::Space;
use crate::webhooks::DeliveryStatus;
use crate::webhooks::event_types::filter_condition;

hookrelay_shared::text_enum! {
    /// A replay's state: `running` until its last batch, or until it is cancelled.
    #[derive(utoipa::ToSchema)]
    pub enum ReplayStatus {
        Running = "running",
        Done = "done",
        Cancelled = "cancelled",
    }
    impl Serialize, TryFrom<String>;
}

/// The days a replay's window may span at most.
pub const MAX_WINDOW_DAYS: i64 = 31;

/// What stage 1 matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub space: Space,
    pub subscription_id: Option<Uuid>,
    /// Entries as in a subscription's `events`; `None`: every type.
    pub event_types: Option<Vec<String>>,
    pub since: DateTime<Utc>,
    /// Inclusive.
    pub until: DateTime<Utc>,
    pub statuses: Vec<DeliveryStatus>,
}

/// The subscription whose missing deliveries stage 2 creates, as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingFor {
    pub subscription_id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub events: Option<Vec<String>>,
}

impl MissingFor {
    /// For `subscription` as it is now.
    pub fn of(subscription: &crate::subscriptions::Subscription) -> Self {
        Self {
            subscription_id: subscription.id,
            tenant_id: subscription.tenant_id,
            events: subscription.events.clone(),
        }
    }
}

/// Where a batch starts after: the last row the previous one covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub received_at: DateTime<Utc>,
    pub webhook_id: Uuid,
    /// Stage 1 only.
    pub subscription_id: Option<Uuid>,
}

/// One matched row: a delivery (stage 1, with its status) or a webhook missing one to
/// `subscription_id` (stage 2, no status).
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Matched {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub webhook_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub subscription_id: Uuid,
    #[diesel(sql_type = Timestamptz)]
    pub received_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Text>)]
    pub status: Option<String>,
}

impl Matched {
    pub fn position(&self) -> Position {
        Position {
            received_at: self.received_at,
            webhook_id: self.webhook_id,
            subscription_id: Some(self.subscription_id),
        }
    }
}

/// A delivery that starts a new run of its retry schedule.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Rerun {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub webhook_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub subscription_id: Uuid,
    /// Attempts made so far: the new run's `run_from`; the next attempt is one more.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub attempts: i32,
}

/// Starts a new run of the retry schedule for each of these deliveries that is finished
/// (one still `pending` or `retrying` is in flight and left alone, so two replays
/// queue a delivery once): `pending`, due `now`, `run_from` = its attempts, no error.
/// Used by both the single and the bulk replay; the caller queues the returned ones.
pub async fn start_new_runs(
    conn: &mut AsyncPgConnection,
    deliveries: &[(Uuid, Uuid)],
    now: DateTime<Utc>,
) -> diesel::QueryResult<Vec<Rerun>> {
    let (webhooks, subscriptions): (Vec<Uuid>, Vec<Uuid>) = deliveries.iter().copied().unzip();
    let sql = format!(
        "UPDATE deliveries d SET status = '{}', run_from = d.attempts, error = NULL, \
         next_retry_at = $3, updated_at = $3 \
         WHERE (d.webhook_id, d.subscription_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[])) \
           AND d.status IN {} \
         RETURNING d.webhook_id, d.subscription_id, d.attempts",
        DeliveryStatus::Pending.as_str(),
        status_list(&DeliveryStatus::FINISHED)
    );
    diesel::sql_query(sql)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(webhooks)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(subscriptions)
        .bind::<Timestamptz, _>(now)
        .load(conn)
        .await
}

/// Creates the missing deliveries of `webhooks` to `subscription_id` (`pending`, due
/// `now`, sent to `target_url` until the attempt looks the subscription up); one that
/// exists meanwhile is left alone. Returns the created ones.
pub async fn create_missing(
    conn: &mut AsyncPgConnection,
    webhooks: &[Uuid],
    subscription_id: Uuid,
    target_url: &str,
    now: DateTime<Utc>,
) -> diesel::QueryResult<Vec<Rerun>> {
    // A webhook that had no delivery at all is no longer `no_subscribers`.
    let sql = format!(
        "WITH created AS ( \
           INSERT INTO deliveries (webhook_id, subscription_id, target_url, status, attempts, \
                                   next_retry_at, updated_at, received_at) \
           SELECT w.id, $2, $3, '{}', 0, $4, $4, w.received_at \
           FROM webhooks w WHERE w.id = ANY($1) \
           ON CONFLICT DO NOTHING \
           RETURNING webhook_id, subscription_id, attempts), \
         marked AS ( \
           UPDATE webhooks SET no_subscribers = false \
           WHERE no_subscribers AND id IN (SELECT webhook_id FROM created)) \
         SELECT webhook_id, subscription_id, attempts FROM created",
        DeliveryStatus::Pending.as_str()
    );
    diesel::sql_query(sql)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(webhooks.to_vec())
        .bind::<diesel::sql_types::Uuid, _>(subscription_id)
        .bind::<Text, _>(target_url)
        .bind::<Timestamptz, _>(now)
        .load(conn)
        .await
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The window's conditions on the webhook `w`, and the keyset condition after `after`.
fn window(since: DateTime<Utc>, until: DateTime<Utc>, binds: &mut Binds) -> Vec<String> {
    vec![
        format!("w.received_at >= {}", binds.push(Bind::Time(since))),
        format!("w.received_at <= {}", binds.push(Bind::Time(until))),
    ]
}

impl Selection {
    /// `FROM … WHERE …` of stage 1.
    fn deliveries(&self, after: Option<&Position>, binds: &mut Binds) -> String {
        let mut conditions = window(self.since, self.until, binds);
        conditions.extend(binds.space(self.space, "w.tenant_id"));
        conditions.extend(filter_condition(
            self.event_types.as_deref(),
            "w.event_type",
            binds,
        ));
        if let Some(subscription) = self.subscription_id {
            let p = binds.push(Bind::Uuid(subscription));
            conditions.push(format!("d.subscription_id = {p}"));
        }
        conditions.push(format!("d.status IN {}", status_list(&self.statuses)));
        if let Some(after) = after {
            let at = binds.push(Bind::Time(after.received_at));
            let webhook = binds.push(Bind::Uuid(after.webhook_id));
            let subscription = binds.push(Bind::Uuid(after.subscription_id.unwrap_or_default()));
            conditions.push(format!(
                "(w.received_at, w.id, d.subscription_id) > ({at}, {webhook}, {subscription})"
            ));
        }
        format!(
            "FROM webhooks w JOIN deliveries d ON d.webhook_id = w.id \
             JOIN subscriptions s ON s.id = d.subscription_id AND s.is_active \
             WHERE {}",
            all_of(&conditions)
        )
    }

    /// `FROM … WHERE …` of stage 2.
    fn missing(&self, to: &MissingFor, after: Option<&Position>, binds: &mut Binds) -> String {
        let mut conditions = window(self.since, self.until, binds);
        conditions.extend(binds.space(Space::of(to.tenant_id), "w.tenant_id"));
        conditions.push("w.subscription_id IS NULL".into());
        conditions.extend(filter_condition(
            self.event_types.as_deref(),
            "w.event_type",
            binds,
        ));
        conditions.extend(filter_condition(
            to.events.as_deref(),
            "w.event_type",
            binds,
        ));
        let subscription = binds.push(Bind::Uuid(to.subscription_id));
        conditions.push(format!(
            "w.skip_subscription IS DISTINCT FROM {subscription}"
        ));
        conditions.push(format!(
            "NOT EXISTS (SELECT 1 FROM deliveries d \
             WHERE d.webhook_id = w.id AND d.subscription_id = {subscription})"
        ));
        if let Some(after) = after {
            let at = binds.push(Bind::Time(after.received_at));
            let webhook = binds.push(Bind::Uuid(after.webhook_id));
            conditions.push(format!("(w.received_at, w.id) > ({at}, {webhook})"));
        }
        format!("FROM webhooks w WHERE {}", all_of(&conditions))
    }

    /// Up to `limit` rows of stage 1 after `after`, in keyset order.
    pub async fn deliveries_batch(
        &self,
        conn: &mut AsyncPgConnection,
        after: Option<&Position>,
        limit: i64,
    ) -> diesel::QueryResult<Vec<Matched>> {
        let mut binds = Binds::default();
        let from = self.deliveries(after, &mut binds);
        let limit = binds.push(Bind::Int(limit));
        let sql = format!(
            "SELECT d.webhook_id, d.subscription_id, w.received_at, d.status {from} \
             ORDER BY w.received_at, w.id, d.subscription_id LIMIT {limit}"
        );
        binds.query(sql).load(conn).await
    }

    /// Up to `limit` rows of stage 2 after `after`, in keyset order.
    pub async fn missing_batch(
        &self,
        conn: &mut AsyncPgConnection,
        to: &MissingFor,
        after: Option<&Position>,
        limit: i64,
    ) -> diesel::QueryResult<Vec<Matched>> {
        let mut binds = Binds::default();
        let from = self.missing(to, after, &mut binds);
        let subscription = binds.push(Bind::Uuid(to.subscription_id));
        let limit = binds.push(Bind::Int(limit));
        let sql = format!(
            "SELECT w.id AS webhook_id, {subscription}::uuid AS subscription_id, w.received_at, \
             NULL::text AS status {from} ORDER BY w.received_at, w.id LIMIT {limit}"
        );
        binds.query(sql).load(conn).await
    }

    /// How many rows both stages match now (the dry run's `matched`).
    pub async fn count(
        &self,
        conn: &mut AsyncPgConnection,
        missing: Option<&MissingFor>,
    ) -> diesel::QueryResult<i64> {
        let mut binds = Binds::default();
        let mut sql = format!(
            "SELECT (SELECT count(*) {})",
            self.deliveries(None, &mut binds)
        );
        if let Some(to) = missing {
            sql.push_str(&format!(
                " + (SELECT count(*) {})",
                self.missing(to, None, &mut binds)
            ));
        }
        sql.push_str(" AS n");
        let count: Count = binds.query(sql).get_result(conn).await?;
        Ok(count.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        hookrelay_shared::assert_texts_round_trip!(ReplayStatus);
        assert_eq!(ReplayStatus::parse("paused"), None);
    }

    #[test]
    fn stage_one_conditions_follow_the_filter() {
        let since = hookrelay_shared::time::parse("2026-12-01T00:00:00Z").expect("as set up");
        let selection = Selection {
            space: Space::Tenant(Uuid::from_u128(1)),
            subscription_id: Some(Uuid::from_u128(2)),
            event_types: Some(vec!["order.*".into()]),
            since,
            until: since,
            statuses: vec![DeliveryStatus::Failed],
        };
        let mut binds = Binds::default();
        let from = selection.deliveries(None, &mut binds);
        assert!(from.ends_with(
            "WHERE w.received_at >= $1 AND w.received_at <= $2 AND w.tenant_id = $3 \
             AND (w.event_type LIKE ANY($4)) AND d.subscription_id = $5 AND d.status IN ('failed')"
        ));
    }
}
