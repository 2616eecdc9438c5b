//! A `retry` entry: the next attempt of one delivery, moved in from the retry schedule.
//!
//! The payload comes from the `webhooks` row (read together with the delivery's state —
//! the only Postgres read on this path); the URL, secret and headers come from the
//! subscription as it is when the attempt starts (`pipeline`), so a PATCH applies to
//! every later attempt, and a subscription deleted or made inactive in the meantime
//! gets none: the delivery ends `failed`. Checks first:
//! - delivery finished (e.g. ended by DELETE) → nothing to do;
//! - `attempts >= job.attempt` → this attempt was made before a crash; only make sure
//!   the following retry is scheduled.

use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use hookrelay_domain::webhooks::DeliveryStatus;
use hookrelay_shared::db::bounded;
use hookrelay_shared::payload::Envelope;
use hookrelay_shared::queue::NextAttempt;
use hookrelay_shared::schema::{deliveries, webhooks};

use crate::pipeline::{self, Context, HandBack, PlannedAttempt};

/// What a retry needs from Postgres (columns in `load`'s select order).
#[derive(Queryable)]
struct Stored {
    status: String,
    attempts: i32,
    next_retry_at: Option<DateTime<Utc>>,
    payload: Vec<u8>,
    envelope: Option<Envelope>,
    event_type: Option<String>,
    run_from: i32,
}

/// Handles one `retry` entry; `Ok` means it may be acknowledged.
pub async fn handle(ctx: &Arc<Context>, job: NextAttempt) -> Result<(), HandBack> {
    let (webhook_id, subscription_id, attempt) = (job.webhook_id, job.subscription_id, job.attempt);
    let Some(stored) = load(ctx, &job).await? else {
        tracing::info!(%webhook_id, %subscription_id, attempt, "retry of a delivery that no longer exists (purged); dropping it");
        return Ok(());
    };
    let status = DeliveryStatus::parse(&stored.status);
    if status.is_some_and(DeliveryStatus::is_finished) {
        tracing::debug!(%webhook_id, %subscription_id, attempt, "retry of a finished delivery; nothing to do");
        return Ok(());
    }
    let made = u32::try_from(stored.attempts).unwrap_or(0);
    if made >= attempt {
        // A crash came after the attempt was recorded; the next retry may be missing.
        if status == Some(DeliveryStatus::Retrying) {
            let next = NextAttempt {
                attempt: made + 1,
                ..job
            };
            let due = stored.next_retry_at.unwrap_or_else(Utc::now);
            ctx.retries
                .schedule(&mut ctx.redis.clone(), &next, due)
                .await
                .context("Failed to re-schedule a retry")?;
        }
        tracing::info!(%webhook_id, %subscription_id, attempt, "retry already attempted before a restart; schedule repaired");
        return Ok(());
    }
    pipeline::attempt(
        ctx,
        PlannedAttempt {
            webhook_id,
            event_type: stored.event_type,
            body: Bytes::from(stored.payload),
            envelope: stored.envelope,
            subscription_id,
            attempt,
            run_from: u32::try_from(stored.run_from).unwrap_or(0),
        },
    )
    .await
}

/// The delivery's state and the webhook's payload, in one query.
async fn load(ctx: &Context, job: &NextAttempt) -> anyhow::Result<Option<Stored>> {
    let mut conn = ctx.db.get().await.context("no Postgres connection")?;
    bounded("Failed to read a delivery for its retry", async {
        deliveries::table
            .inner_join(webhooks::table)
            .filter(deliveries::webhook_id.eq(job.webhook_id))
            .filter(deliveries::subscription_id.eq(job.subscription_id))
            .select((
                deliveries::status,
                deliveries::attempts,
                deliveries::next_retry_at,
                webhooks::payload,
                webhooks::envelope,
                webhooks::event_type,
                deliveries::run_from,
            ))
            .first::<Stored>(&mut conn)
            .await
            .optional()
    })
    .await
}
