//! `GET /status/{webhook_id}`: where a webhook's status comes from.
//!
//! A webhook lives in two places over its life. From the 202 until a worker stores it,
//! only the Redis `queued:` marker knows it (written by the ingest script); from then on
//! Postgres does, and the worker deletes the marker. Reading in the order Postgres →
//! marker → Postgres again means a webhook never flickers to 404 while the worker moves
//! it between our reads.
//!
//! - [`view`]: the contract's object and how it is assembled (pure, unit-tested).
//! - [`store`]: the Postgres queries.

pub mod store;
pub mod view;

use std::time::Duration;

use hookrelay_shared::db::DbPool;
use hookrelay_shared::keys::Keys;
use hookrelay_shared::queue::QueuedMarker;
use hookrelay_shared::redis_client::Redis;
use uuid::Uuid;

use crate::Refusal;
pub use view::WebhookStatus;

/// The longest one status read waits for Postgres or Redis before answering 503.
const BACKEND_TIMEOUT: Duration = Duration::from_secs(3);

const UNAVAILABLE: &str = "Status is temporarily unavailable. Retry later.";

/// The webhook's status, or `None` when it is unknown (never accepted, or purged).
pub async fn lookup(
    db: &DbPool,
    redis: &Redis,
    keys: &Keys,
    webhook_id: Uuid,
) -> Result<Option<WebhookStatus>, Refusal> {
    // A Postgres failure is not the answer yet: a queued webhook is known to Redis alone.
    let first = stored(db, webhook_id).await;
    if let Ok(Some(status)) = first {
        return Ok(Some(status));
    }
    let marker = tokio::time::timeout(
        BACKEND_TIMEOUT,
        QueuedMarker::fetch(&mut redis.clone(), keys, webhook_id),
    )
    .await
    .map_err(|elapsed| Refusal::unavailable(UNAVAILABLE, elapsed))?
    .map_err(|e| Refusal::unavailable(UNAVAILABLE, e))?;
    if let Some(marker) = marker {
        return Ok(Some(view::from_marker(webhook_id, marker)));
    }
    first?;
    // No marker: unknown — or a worker stored the webhook and deleted the marker after
    // our first read. Postgres decides.
    stored(db, webhook_id).await
}

async fn stored(db: &DbPool, webhook_id: Uuid) -> Result<Option<WebhookStatus>, Refusal> {
    tokio::time::timeout(BACKEND_TIMEOUT, store::stored(db, webhook_id))
        .await
        .map_err(|elapsed| Refusal::unavailable(UNAVAILABLE, elapsed))?
        .map_err(|e| Refusal::unavailable(UNAVAILABLE, e))
}
