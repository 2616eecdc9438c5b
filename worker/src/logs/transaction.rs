//! One transaction of the log writer: the statements that store a batch of records, and
//! how their errors tell an unreachable Postgres from one that refused the rows.

use std::collections::HashSet;

use diesel::sql_types::{Array, Bool, Int4, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use hookrelay_shared::db::DbPool;
use hookrelay_shared::models::NewWebhook;
use hookrelay_shared::schema::{attempts, deliveries, webhooks};
use uuid::Uuid;

use super::{DeliveryUpdate, Record};

/// Rows per INSERT statement (Postgres allows 65,535 bind parameters per statement).
const ROWS_PER_INSERT: usize = 2_000;

/// Sets delivery state from a batch of changes, never touching a delivery that has
/// already finished (DELETE /subscriptions ends them concurrently). `target_url` follows
/// the attempts: a PATCHed URL shows once an attempt went there.
const UPDATE_DELIVERIES: &str = "
UPDATE deliveries d SET
    status = u.status,
    attempts = GREATEST(d.attempts, u.attempts),
    last_status_code = CASE WHEN u.attempted THEN u.code ELSE d.last_status_code END,
    error = u.error,
    next_retry_at = u.next_retry_at,
    target_url = COALESCE(u.target_url, d.target_url),
    updated_at = now()
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int4[], $5::bool[], $6::int4[], $7::text[], $8::timestamptz[], $9::text[])
    AS u(webhook_id, subscription_id, status, attempts, attempted, code, error, next_retry_at, target_url)
WHERE d.webhook_id = u.webhook_id
  AND d.subscription_id = u.subscription_id
  AND d.status IN ('pending', 'retrying')";

/// Why a write did not commit.
pub(super) enum WriteError {
    /// Postgres could not be reached or the connection broke: the same rows go in once
    /// it answers again.
    Unavailable(anyhow::Error),
    /// Postgres answered with an error about the statement (a data error such as text it
    /// cannot store, a constraint): the same rows never go in. Errors Postgres raises
    /// for reasons of its own (a deadlock, a statement timeout) land here too; written
    /// one at a time such records commit or are held back for a later run, and nothing
    /// is lost either way.
    Refused(diesel::result::Error),
}

impl From<diesel::result::Error> for WriteError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as Kind, Error};
        match e {
            Error::DatabaseError(
                Kind::UnableToSendCommand
                | Kind::ClosedConnection
                | Kind::SerializationFailure
                | Kind::ReadOnlyTransaction,
                _,
            ) => Self::Unavailable(e.into()),
            Error::DatabaseError(..) | Error::SerializationError(_) | Error::InvalidCString(_) => {
                Self::Refused(e)
            }
            e => Self::Unavailable(e.into()),
        }
    }
}

/// Commits one batch; returns the ids of webhooks that were not stored before.
pub(super) async fn write_batch(
    db: &DbPool,
    batch: &[Record],
) -> Result<HashSet<Uuid>, WriteError> {
    let mut conn = db
        .get()
        .await
        .map_err(|e| WriteError::Unavailable(anyhow::anyhow!("no Postgres connection: {e}")))?;
    let mut new_webhooks = Vec::new();
    let mut new_deliveries = Vec::new();
    let mut new_attempts = Vec::new();
    let mut updates = Vec::new();
    for record in batch {
        match record {
            Record::Webhook {
                webhook,
                deliveries,
                ..
            } => {
                new_webhooks.push(webhook);
                new_deliveries.extend(deliveries.iter());
            }
            Record::Update {
                attempt, update, ..
            } => {
                new_attempts.extend(attempt.iter());
                updates.push(update);
            }
        }
    }
    let conn: &mut AsyncPgConnection = &mut conn;
    let stored = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let mut stored = HashSet::new();
            for chunk in new_webhooks.chunks(ROWS_PER_INSERT) {
                let rows: Vec<&NewWebhook> = chunk.to_vec();
                let ids: Vec<Uuid> = diesel::insert_into(webhooks::table)
                    .values(rows)
                    .on_conflict_do_nothing()
                    .returning(webhooks::id)
                    .get_results(conn)
                    .await?;
                stored.extend(ids);
            }
            for chunk in new_deliveries.chunks(ROWS_PER_INSERT) {
                diesel::insert_into(deliveries::table)
                    .values(chunk.to_vec())
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
            }
            for chunk in new_attempts.chunks(ROWS_PER_INSERT) {
                diesel::insert_into(attempts::table)
                    .values(chunk.to_vec())
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
            }
            if !updates.is_empty() {
                update_deliveries(conn, &updates).await?;
            }
            Ok(stored)
        })
        .await?;
    Ok(stored)
}

async fn update_deliveries(
    conn: &mut AsyncPgConnection,
    updates: &[&DeliveryUpdate],
) -> diesel::QueryResult<usize> {
    diesel::sql_query(UPDATE_DELIVERIES)
        .bind::<Array<diesel::sql_types::Uuid>, _>(
            updates.iter().map(|u| u.webhook_id).collect::<Vec<_>>(),
        )
        .bind::<Array<diesel::sql_types::Uuid>, _>(
            updates
                .iter()
                .map(|u| u.subscription_id)
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Text>, _>(
            updates
                .iter()
                .map(|u| u.status.as_str())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Int4>, _>(updates.iter().map(|u| u.attempts).collect::<Vec<_>>())
        .bind::<Array<Bool>, _>(updates.iter().map(|u| u.attempted).collect::<Vec<_>>())
        .bind::<Array<Nullable<Int4>>, _>(
            updates
                .iter()
                .map(|u| u.last_status_code)
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Text>>, _>(
            updates.iter().map(|u| u.error.clone()).collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Timestamptz>>, _>(
            updates.iter().map(|u| u.next_retry_at).collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Text>>, _>(
            updates
                .iter()
                .map(|u| u.target_url.as_deref())
                .collect::<Vec<_>>(),
        )
        .execute(conn)
        .await
}
