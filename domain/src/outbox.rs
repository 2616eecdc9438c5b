//! The outbox: webhooks the service raises itself (operational events, schedule runs),
//! written to `outbox` in the transaction that decided them, and moved into the work stream
//! by [`drain`].
//!
//! A drain takes up to `DRAIN_BATCH` rows in one transaction (`FOR UPDATE SKIP LOCKED`, so
//! drainers share the rows rather than race for them), queues each with the api's own
//! ingest script under the row's idempotency key and with the row's id as the webhook id,
//! then deletes them. A crash after queueing but before the delete leaves the rows for the
//! next drain, whose ingest answers "seen before" (for 24 hours): each row becomes exactly
//! one webhook. Every worker drains on a timer (`worker/src/outbox.rs`); whoever writes a
//! row that should go at once (a schedule run) drains right after its commit as well.

use anyhow::Context as _;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use hookrelay_shared::db::{DbPool, bounded, checkout};
use hookrelay_shared::queue::{IngestQueue, IngestedWebhook};
use hookrelay_shared::redis_client::Redis;
use hookrelay_shared::schema::outbox;
use uuid::Uuid;

use crate::subscriptions::health::{self, OperationalEvent};

/// Rows per drain at most.
pub const DRAIN_BATCH: usize = 100;

/// A row as the drain reads it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = outbox, check_for_backend(diesel::pg::Pg))]
struct Row {
    id: uuid::Uuid,
    idempotency_key: String,
    tenant_id: Option<uuid::Uuid>,
    subscription_id: Option<uuid::Uuid>,
    event_type: Option<String>,
    payload: Vec<u8>,
    skip_subscription: Option<uuid::Uuid>,
}

/// One drain: returns how many rows it moved.
pub async fn drain(db: &DbPool, redis: &Redis, queue: &IngestQueue) -> anyhow::Result<usize> {
    let mut conn = checkout(db).await?;
    let moving = conn.transaction::<_, anyhow::Error, _>(async |conn| {
        let rows: Vec<Row> = bounded(
            "Failed to read the outbox",
            outbox::table
                .order(outbox::created_at.asc())
                .limit(DRAIN_BATCH as i64)
                .for_update()
                .skip_locked()
                .select(Row::as_select())
                .load(conn),
        )
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut ids = Vec::with_capacity(rows.len());
        for row in rows {
            let webhook = IngestedWebhook {
                // Operational events' ids are made with the batch that raised them, apart
                // from the queue; they get a partition here (schedule runs' ids, made for
                // the queue, keep theirs).
                webhook_id: queue.keys().placed(row.id),
                subscription_id: row.subscription_id,
                event_type: row.event_type,
                received_at: hookrelay_shared::time::now(),
                body: row.payload.into(),
                tenant_id: row.tenant_id,
                skip_subscription: row.skip_subscription,
                envelope: None,
            };
            queue
                .enqueue(&mut redis.clone(), &webhook, Some(&row.idempotency_key))
                .await
                .context("Failed to queue an outbox webhook")?;
            ids.push(row.id);
        }
        let moved = ids.len();
        bounded(
            "Failed to delete moved outbox rows",
            diesel::delete(outbox::table.filter(outbox::id.eq_any(ids))).execute(conn),
        )
        .await?;
        Ok(moved)
    });
    moving.await
}

/// Stores operational events for the outbox drainer (a repeat does nothing).
pub const INSERT_EVENTS: &str = "
INSERT INTO outbox (id, idempotency_key, tenant_id, event_type, payload, skip_subscription,
                    created_at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::bytea[], $6::uuid[],
                     $7::timestamptz[])
ON CONFLICT (idempotency_key) DO NOTHING";

/// Writes `events` (each once per space it goes to, [`health::spaces`]) with
/// [`INSERT_EVENTS`] (`statement`, prepared from it) in the caller's transaction, for the
/// drainer to move into the work stream: one statement whatever their number.
pub async fn insert_events(
    tx: &tokio_postgres::Transaction<'_>,
    statement: &tokio_postgres::Statement,
    events: &[OperationalEvent],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), tokio_postgres::Error> {
    let mut columns = EventColumns::default();
    for event in events {
        columns.push(event, now);
    }
    if columns.id.is_empty() {
        return Ok(());
    }
    tx.execute(
        statement,
        &[
            &columns.id,
            &columns.idempotency_key,
            &columns.tenant_id,
            &columns.event_type,
            &columns.payload,
            &columns.skip_subscription,
            &columns.created_at,
        ],
    )
    .await?;
    Ok(())
}

/// Outbox rows, column by column: each event once per space it goes to.
#[derive(Default)]
struct EventColumns {
    id: Vec<Uuid>,
    idempotency_key: Vec<String>,
    tenant_id: Vec<Option<Uuid>>,
    event_type: Vec<&'static str>,
    payload: Vec<Vec<u8>>,
    skip_subscription: Vec<Option<Uuid>>,
    created_at: Vec<chrono::DateTime<chrono::Utc>>,
}

impl EventColumns {
    fn push(&mut self, event: &OperationalEvent, now: chrono::DateTime<chrono::Utc>) {
        let payload = event.body.to_string().into_bytes();
        for space in health::spaces(event.tenant_id) {
            self.id.push(Uuid::now_v7());
            // The ingest's idempotency keys are per space already; the outbox's are not.
            self.idempotency_key.push(match space {
                Some(tenant) => format!("{}:{tenant}", event.idempotency_key),
                None => event.idempotency_key.clone(),
            });
            self.tenant_id.push(space);
            self.event_type.push(event.kind.event_type());
            self.payload.push(payload.clone());
            self.skip_subscription.push(Some(event.subscription_id));
            self.created_at.push(now);
        }
    }
}
