//! The Postgres side of running a bulk replay, for the workers' runner
//! (`worker/src/replays.rs`, which makes the attempts and owns the loop).
//!
//! - **Batch** ([`next_batch`]): one transaction, with the replay's row locked (a cancel
//!   waits for it, and a batch sees a cancel that came first): read up to [`BATCH`]
//!   matching rows after the cursor ([`Selection`], the query the dry run counts with),
//!   start a new run of the finished ones (`start_new_runs`: `pending`, due now — one in
//!   flight is left alone, so overlapping replays queue a delivery once), or create the
//!   missing ones (stage 2), then move the cursor and add to `matched` and `queued`. When
//!   a stage has no more rows, the next starts or the replay is `done`.
//! - **Claim** ([`lock`]): a session-level advisory lock per replay, held on the runner's
//!   own connection, so a dead worker's replay is taken over from its stored cursor.
//! - **Keeping the reconciler off** ([`touch_unattempted`]): the queued deliveries not yet
//!   attempted are marked just queued while the runner still owns them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use hookrelay_shared::db::bounded;
use hookrelay_shared::schema::{replays, subscriptions};
use uuid::Uuid;

use super::selection::{
    Matched, MissingFor, Position, ReplayStatus, Rerun, Selection, create_missing, start_new_runs,
};
use crate::subscriptions::Subscription;
use crate::tenants::space::Space;
use crate::webhooks::DeliveryStatus;

/// Rows read per batch (and so per transaction) at most.
pub const BATCH: i64 = 500;

/// The columns a batch needs.
#[derive(Queryable, Selectable)]
#[diesel(table_name = replays, check_for_backend(diesel::pg::Pg))]
struct Stored {
    tenant_id: Option<Uuid>,
    every_tenant: bool,
    subscription_id: Option<Uuid>,
    event_types: Option<Vec<String>>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    statuses: Vec<String>,
    include_missing: bool,
    missing_stage: bool,
    cursor_received_at: Option<DateTime<Utc>>,
    cursor_webhook_id: Option<Uuid>,
    cursor_subscription_id: Option<Uuid>,
}

impl Stored {
    fn selection(&self) -> Selection {
        Selection {
            space: if self.every_tenant {
                Space::Any
            } else {
                Space::of(self.tenant_id)
            },
            subscription_id: self.subscription_id,
            event_types: self.event_types.clone(),
            since: self.since,
            until: self.until,
            statuses: self
                .statuses
                .iter()
                .filter_map(|s| DeliveryStatus::parse(s))
                .collect(),
        }
    }

    fn cursor(&self) -> Option<Position> {
        Some(Position {
            received_at: self.cursor_received_at?,
            webhook_id: self.cursor_webhook_id?,
            subscription_id: self.cursor_subscription_id,
        })
    }
}

/// What a committed batch left to do.
pub enum Batch {
    /// Make these attempts, then read the next batch.
    Queued(Vec<Rerun>),
    /// The replay is no longer running (done, cancelled, or gone with its tenant).
    Over,
}

/// Replays by status, every status counted (0 for none).
pub async fn count_by_status(
    conn: &mut AsyncPgConnection,
) -> anyhow::Result<Vec<(ReplayStatus, i64)>> {
    let counts: Vec<(String, i64)> = bounded(
        "Failed to count replays",
        replays::table
            .group_by(replays::status)
            .select((replays::status, diesel::dsl::count_star()))
            .load(conn),
    )
    .await?;
    Ok(ReplayStatus::ALL
        .iter()
        .map(|status| {
            let n = counts
                .iter()
                .find(|(s, _)| s == status.as_str())
                .map_or(0, |(_, n)| *n);
            (*status, n)
        })
        .collect())
}

/// Running replays, oldest first (at most 100).
pub async fn running(conn: &mut AsyncPgConnection) -> anyhow::Result<Vec<Uuid>> {
    bounded(
        "Failed to look for running replays",
        replays::table
            .filter(replays::status.eq(ReplayStatus::Running.as_str()))
            .order(replays::created_at)
            .select(replays::id)
            .limit(100)
            .load(conn),
    )
    .await
}

/// Marks the deliveries of `watched` that this runner queued and has not yet attempted as
/// just queued (`updated_at` now), so the reconciler, which queues again unfinished
/// deliveries that are overdue and not in Redis, leaves them to the runner. Once the
/// runner stops (a crash), they become overdue and the reconciler takes them.
pub async fn touch_unattempted(
    conn: &mut AsyncPgConnection,
    watched: &[(Uuid, Uuid)],
) -> anyhow::Result<()> {
    let (webhooks, subscriptions): (Vec<Uuid>, Vec<Uuid>) = watched.iter().copied().unzip();
    let sql = format!(
        "UPDATE deliveries SET updated_at = now() \
         WHERE (webhook_id, subscription_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[])) \
           AND status = '{}' AND attempts = run_from",
        DeliveryStatus::Pending.as_str()
    );
    bounded(
        "Failed to mark queued replay deliveries",
        diesel::sql_query(sql)
            .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(webhooks)
            .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(subscriptions)
            .execute(conn),
    )
    .await?;
    Ok(())
}

/// Takes (`true`) or releases the session's advisory lock on replay `id`; whether it is
/// held.
pub async fn lock(conn: &mut AsyncPgConnection, id: Uuid, take: bool) -> anyhow::Result<bool> {
    #[derive(QueryableByName)]
    struct Held {
        #[diesel(sql_type = Bool)]
        held: bool,
    }
    let sql = if take {
        "SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS held"
    } else {
        "SELECT pg_advisory_unlock(hashtextextended($1, 0)) AS held"
    };
    let held: Held = bounded(
        "Failed to take or release a replay's lock",
        diesel::sql_query(sql)
            .bind::<Text, _>(id.to_string())
            .get_result(conn),
    )
    .await?;
    Ok(held.held)
}

/// The next batch of replay `id`, committed (see the module docs): `Over` once the replay
/// is no longer running.
pub async fn next_batch(conn: &mut AsyncPgConnection, id: Uuid) -> anyhow::Result<Batch> {
    let batching = conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        let stored: Option<Stored> = replays::table
            .find(id)
            .filter(replays::status.eq(ReplayStatus::Running.as_str()))
            .select(Stored::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some(stored) = stored else {
            return Ok(Batch::Over);
        };
        let selection = stored.selection();
        let after = stored.cursor();
        let now = hookrelay_shared::time::now();
        let (matched, reruns) = if stored.missing_stage {
            let subscription = match stored.subscription_id {
                Some(sub) => subscriptions::table
                    .find(sub)
                    .filter(subscriptions::is_active.eq(true))
                    .select(Subscription::as_select())
                    .first(conn)
                    .await
                    .optional()?,
                None => None,
            };
            match subscription {
                Some(subscription) => {
                    let to = MissingFor::of(&subscription);
                    let matched = selection
                        .missing_batch(conn, &to, after.as_ref(), BATCH)
                        .await?;
                    let webhooks: Vec<Uuid> = matched.iter().map(|m| m.webhook_id).collect();
                    let created = create_missing(
                        conn,
                        &webhooks,
                        subscription.id,
                        &subscription.locator(),
                        now,
                    )
                    .await?;
                    (matched, created)
                }
                // Deleted or inactive since: nothing more to send it.
                None => (Vec::new(), Vec::new()),
            }
        } else {
            let matched = selection
                .deliveries_batch(conn, after.as_ref(), BATCH)
                .await?;
            let keys: Vec<(Uuid, Uuid)> = matched
                .iter()
                .filter(|m| {
                    m.status
                        .as_deref()
                        .and_then(DeliveryStatus::parse)
                        .is_some_and(DeliveryStatus::is_finished)
                })
                .map(|m| (m.webhook_id, m.subscription_id))
                .collect();
            (matched, start_new_runs(conn, &keys, now).await?)
        };
        advance(conn, id, &stored, &matched, reruns.len(), now).await?;
        Ok(Batch::Queued(reruns))
    });
    bounded("Failed to run a replay batch", batching).await
}

/// Moves the cursor past `matched` and counts the batch; at the end of a stage, starts the
/// next one or ends the replay `done`.
async fn advance(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    stored: &Stored,
    matched: &[Matched],
    queued: usize,
    now: DateTime<Utc>,
) -> diesel::QueryResult<()> {
    let counted = (
        replays::matched.eq(replays::matched + matched.len() as i64),
        replays::queued.eq(replays::queued + queued as i64),
    );
    let target = replays::table.find(id);
    if let Some(last) = matched.last().filter(|_| matched.len() as i64 == BATCH) {
        let at = last.position();
        diesel::update(target)
            .set((
                counted,
                replays::cursor_received_at.eq(Some(at.received_at)),
                replays::cursor_webhook_id.eq(Some(at.webhook_id)),
                replays::cursor_subscription_id.eq(at.subscription_id),
            ))
            .execute(conn)
            .await?;
    } else if stored.include_missing && !stored.missing_stage {
        diesel::update(target)
            .set((
                counted,
                replays::missing_stage.eq(true),
                replays::cursor_received_at.eq(None::<DateTime<Utc>>),
                replays::cursor_webhook_id.eq(None::<Uuid>),
                replays::cursor_subscription_id.eq(None::<Uuid>),
            ))
            .execute(conn)
            .await?;
    } else {
        diesel::update(target)
            .set((
                counted,
                replays::status.eq(ReplayStatus::Done.as_str()),
                replays::finished_at.eq(Some(now)),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
}
