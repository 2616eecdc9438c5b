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
                webhook_id: row.id,
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
