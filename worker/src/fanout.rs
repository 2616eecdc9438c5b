//! A `webhook` entry: decide who receives it, store it, and make the first attempts.
//!
//! Targeted webhooks go to their subscription (if it still exists); fan-out webhooks to
//! every active subscription whose filter matches, as the in-process cache knows them —
//! no Postgres read. The webhook row (exact bytes) and one `pending` delivery row per
//! recipient are committed before anything is sent; then the api's `queued:` marker is
//! deleted, since status can now answer from Postgres. Whether an attempt is made is
//! decided when it starts (`pipeline`): a targeted subscription made inactive since the
//! webhook was queued gets none, and its delivery ends `failed`.
//!
//! Running the same entry twice (reclaimed after a crash) is safe: both inserts do
//! nothing the second time, and the deliveries are then taken from Postgres as they
//! stand — finished ones are skipped, `retrying` ones get their retry re-scheduled,
//! `pending` ones are attempted.

use std::sync::Arc;

use anyhow::Context as _;
use chrono::Utc;
use deadpool_redis::redis;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use hookrelay_shared::models::{Delivery, DeliveryStatus, NewWebhook, Subscription};
use hookrelay_shared::queue::{IngestedWebhook, RetryJob};
use hookrelay_shared::schema::deliveries;
use hookrelay_shared::time;
use uuid::Uuid;

use crate::pipeline::{self, Context, HandBack, Job, NoAttempt};

/// Handles one `webhook` entry; `Ok` means it may be acknowledged.
pub async fn handle(ctx: &Arc<Context>, webhook: IngestedWebhook) -> Result<(), HandBack> {
    let webhook_id = webhook.webhook_id;
    let (recipients, gone) = recipients(ctx, &webhook).await?;
    let now = time::now();
    let mut rows: Vec<Delivery> = recipients
        .iter()
        .map(|s| Delivery {
            webhook_id,
            subscription_id: s.id,
            target_url: s.target_url.clone(),
            status: DeliveryStatus::Pending.as_str().into(),
            attempts: 0,
            last_status_code: None,
            error: None,
            next_retry_at: None,
            updated_at: now,
        })
        .collect();
    // A targeted webhook whose subscription was deleted before we saw it.
    if let Some(subscription_id) = gone {
        rows.push(Delivery {
            webhook_id,
            subscription_id,
            target_url: String::new(),
            status: DeliveryStatus::Failed.as_str().into(),
            attempts: 0,
            last_status_code: None,
            error: Some(NoAttempt::Deleted.error().into()),
            next_retry_at: None,
            updated_at: now,
        });
    }
    let stored = NewWebhook {
        id: webhook_id,
        event_type: webhook.event_type.clone(),
        subscription_id: webhook.subscription_id,
        payload: webhook.body.to_vec(),
        received_at: webhook.received_at,
    };
    let is_new = ctx
        .logs
        .store_webhook(stored, rows)
        .await
        .map_err(anyhow::Error::from)?;
    redis::cmd("DEL")
        .arg(ctx.keys.queued(webhook_id))
        .query_async::<()>(&mut ctx.redis.clone())
        .await
        .context("Failed to delete the queued marker")?;

    let jobs = if is_new {
        if gone.is_some() {
            crate::metrics::finished(DeliveryStatus::Failed);
        }
        tracing::debug!(%webhook_id, recipients = recipients.len(), "webhook stored");
        recipients
            .into_iter()
            .map(|subscription| job(&webhook, subscription.id, 1))
            .collect()
    } else {
        tracing::info!(%webhook_id, "webhook seen before; resuming its deliveries from Postgres");
        resume(ctx, &webhook).await?
    };
    run_all(ctx, jobs).await
}

/// The subscriptions that receive this webhook, and the targeted one if it is gone.
async fn recipients(
    ctx: &Context,
    webhook: &IngestedWebhook,
) -> anyhow::Result<(Vec<Arc<Subscription>>, Option<Uuid>)> {
    match webhook.subscription_id {
        Some(id) => match ctx.cache.get_or_fetch(id).await? {
            Some(subscription) => Ok((vec![subscription], None)),
            None => Ok((Vec::new(), Some(id))),
        },
        None => Ok((ctx.cache.matching(webhook.event_type.as_deref()), None)),
    }
}

fn job(webhook: &IngestedWebhook, subscription_id: Uuid, attempt: u32) -> Job {
    Job {
        webhook_id: webhook.webhook_id,
        event_type: webhook.event_type.clone(),
        body: webhook.body.clone(),
        subscription_id,
        attempt,
    }
}

/// The attempts still owed for a webhook stored by an earlier run; repairs the retry
/// schedule on the way.
async fn resume(ctx: &Context, webhook: &IngestedWebhook) -> Result<Vec<Job>, HandBack> {
    let mut conn = ctx.db.get().await.context("no Postgres connection")?;
    let rows: Vec<Delivery> = deliveries::table
        .filter(deliveries::webhook_id.eq(webhook.webhook_id))
        .select(Delivery::as_select())
        .load(&mut conn)
        .await
        .context("Failed to read the deliveries of a webhook")?;
    drop(conn);
    let mut jobs = Vec::new();
    for row in rows {
        let attempts = u32::try_from(row.attempts).unwrap_or(0);
        match DeliveryStatus::parse(&row.status) {
            Some(DeliveryStatus::Pending) => {
                jobs.push(job(webhook, row.subscription_id, attempts + 1));
            }
            Some(DeliveryStatus::Retrying) => {
                let next = RetryJob {
                    webhook_id: webhook.webhook_id,
                    subscription_id: row.subscription_id,
                    attempt: attempts + 1,
                };
                let due = row.next_retry_at.unwrap_or_else(Utc::now);
                ctx.retries
                    .schedule(&mut ctx.redis.clone(), &next, due)
                    .await
                    .context("Failed to re-schedule a retry")?;
            }
            _ => {}
        }
    }
    Ok(jobs)
}

/// Runs the attempts, each as its own task so a slow receiver holds up only itself;
/// succeeds when every one of them did.
pub async fn run_all(ctx: &Arc<Context>, mut jobs: Vec<Job>) -> Result<(), HandBack> {
    if jobs.len() == 1
        && let Some(job) = jobs.pop()
    {
        // The common case needs no extra task.
        return pipeline::attempt(ctx, job).await;
    }
    let tasks: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let ctx = Arc::clone(ctx);
            tokio::spawn(async move { pipeline::attempt(&ctx, job).await })
        })
        .collect();
    let mut result = Ok(());
    for task in tasks {
        let outcome = task.await.unwrap_or_else(|e| {
            Err(HandBack::Failed(anyhow::anyhow!(
                "attempt task failed: {e}"
            )))
        });
        if result.is_ok() {
            result = outcome;
        }
    }
    result
}
