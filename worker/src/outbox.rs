//! The outbox drainer: moves the webhooks the service raises itself (operational events,
//! written to `outbox` in the transaction that decided them) into the work stream.
//!
//! Every worker drains every `DRAIN_INTERVAL`: in one transaction it takes up to
//! `DRAIN_BATCH` rows (`FOR UPDATE SKIP LOCKED`, so workers share the rows rather than
//! race for them), queues each with the api's own ingest script under the row's
//! idempotency key, then deletes them. A crash after queueing but before the delete
//! leaves the rows for the next drain, whose ingest answers "seen before" (for 24 hours):
//! each row becomes exactly one webhook.

use std::time::Duration;

use anyhow::Context as _;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use hookrelay_shared::db::{DbPool, bounded, checkout};
use hookrelay_shared::keys::Keys;
use hookrelay_shared::queue::{IngestQueue, IngestedWebhook};
use hookrelay_shared::redis_client::Redis;
use hookrelay_shared::schema::outbox;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often each worker looks for outbox rows.
pub const DRAIN_INTERVAL: Duration = Duration::from_millis(250);
/// Rows per drain at most.
const DRAIN_BATCH: i64 = 100;

type Row = (Uuid, String, Option<Uuid>, String, Vec<u8>, Option<Uuid>);

/// Drains until `shutdown`; errors are logged and retried on the next tick.
pub fn spawn(db: DbPool, redis: Redis, keys: Keys, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let queue = IngestQueue::new(keys);
        let mut tick = tokio::time::interval(DRAIN_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = drain(&db, &redis, &queue).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "could not move operational events into the queue; retrying"
                );
            }
        }
    });
}

/// One drain: returns how many rows it moved.
pub async fn drain(db: &DbPool, redis: &Redis, queue: &IngestQueue) -> anyhow::Result<usize> {
    let mut conn = checkout(db).await?;
    let moving = conn.transaction::<_, anyhow::Error, _>(async |conn| {
        let rows: Vec<Row> = bounded(
            "Failed to read the outbox",
            outbox::table
                .order(outbox::created_at.asc())
                .limit(DRAIN_BATCH)
                .for_update()
                .skip_locked()
                .select((
                    outbox::id,
                    outbox::idempotency_key,
                    outbox::tenant_id,
                    outbox::event_type,
                    outbox::payload,
                    outbox::skip_subscription,
                ))
                .load(conn),
        )
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut ids = Vec::with_capacity(rows.len());
        for (id, key, tenant_id, event_type, payload, skip_subscription) in rows {
            let webhook = IngestedWebhook {
                webhook_id: Uuid::now_v7(),
                subscription_id: None,
                event_type: Some(event_type),
                received_at: hookrelay_shared::time::now(),
                body: payload.into(),
                tenant_id,
                skip_subscription,
            };
            queue
                .enqueue(&mut redis.clone(), &webhook, Some(&key))
                .await
                .context("Failed to queue an operational event")?;
            ids.push(id);
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
