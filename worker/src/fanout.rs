//! A `webhook` entry: decide who receives it, store it, and make the first attempts.
//!
//! Targeted webhooks go to their subscription (if it still exists); fan-out webhooks to
//! every active subscription of the webhook's tenant (or of the default space) whose
//! filter matches, as the in-process cache knows them — no Postgres read. The webhook row (exact bytes) and one `pending` delivery row per
//! recipient are committed before anything is sent; then the api's `queued:` marker is
//! deleted, since status can now answer from Postgres. Whether an attempt is made is
//! decided when it starts (`pipeline`): a targeted subscription made inactive since the
//! webhook was queued gets none, and its delivery ends `failed`.
//!
//! Running the same entry twice (reclaimed after a crash) is safe: both inserts do
//! nothing the second time, and the deliveries are then taken from Postgres as they
//! stand — finished ones are skipped, `retrying` ones get their retry re-scheduled,
//! `pending` ones are attempted. A re-run that comes after the purge removed the webhook
//! would insert it anew; the `queued:` marker tells: it exists until the first run stored
//! the webhook, so a "new" row whose marker was already gone is a late re-run, and it is
//! removed again instead of being delivered twice.
//!
//! Read your writes: the cache first catches up with a subscription version read after
//! the entry was, so a subscription created or changed just before the ingest is used.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use chrono::Utc;
use deadpool_redis::redis;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use hookrelay_domain::subscriptions::Subscription;
use hookrelay_domain::webhooks::Delivery;
use hookrelay_domain::webhooks::DeliveryStatus;
use hookrelay_domain::webhooks::NewWebhook;
use hookrelay_shared::db::bounded;
use hookrelay_shared::keys::Partition;
use hookrelay_shared::payload::Payload;
use hookrelay_shared::queue::{IngestedWebhook, NextAttempt};
use hookrelay_shared::schema::deliveries;
use hookrelay_shared::time;
use uuid::Uuid;

use crate::pipeline::{self, Context, HandBack, NoAttempt, PlannedAttempt};

/// Handles one `webhook` entry; `Ok` means it may be acknowledged.
/// `partition` is where the entry was read, and so where its `queued:` marker is;
/// `read_at`, when.
pub async fn handle(
    ctx: &Arc<Context>,
    partition: Partition,
    webhook: IngestedWebhook,
    read_at: Instant,
) -> Result<(), HandBack> {
    let webhook_id = webhook.webhook_id;
    ctx.cache
        .catch_up_since(read_at)
        .await
        .context("Failed to bring the subscription cache up to date")?;
    let (recipients, gone) = recipients(ctx, &webhook).await?;
    let now = time::now();
    let mut rows: Vec<Delivery> = recipients
        .iter()
        .map(|s| Delivery {
            webhook_id,
            subscription_id: s.id,
            target_url: s.locator(),
            status: DeliveryStatus::Pending.as_str().into(),
            attempts: 0,
            last_status_code: None,
            error: None,
            next_retry_at: None,
            updated_at: now,
            received_at: webhook.received_at,
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
            received_at: webhook.received_at,
        });
    }
    let stored = NewWebhook {
        id: webhook_id,
        event_type: webhook.event_type.clone(),
        subscription_id: webhook.subscription_id,
        payload: Payload(webhook.body.clone()),
        received_at: webhook.received_at,
        tenant_id: webhook.tenant_id,
        skip_subscription: webhook.skip_subscription,
        envelope: webhook.envelope.clone(),
    };
    let is_new = ctx.logs.store_webhook(stored, rows).await?;
    let marker_removed: u32 = redis::cmd("DEL")
        .arg(ctx.keys.partition(partition).queued(webhook_id))
        .query_async(&mut ctx.redis.clone())
        .await
        .context("Failed to delete the queued marker")?;

    let jobs = if is_new && marker_removed == 0 {
        return forget_purged(ctx, webhook_id).await;
    } else if is_new {
        if gone.is_some() {
            crate::metrics::finished(DeliveryStatus::Failed);
        }
        if recipients.is_empty() && gone.is_none() {
            tracing::info!(%webhook_id, event_type = webhook.event_type.as_deref(), "webhook matched no subscription (status no_subscribers)");
            crate::metrics::no_subscribers();
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

/// Removes a webhook that a late re-run of its entry stored again after the purge had
/// removed it (its first run finished long ago), so it is not delivered twice.
async fn forget_purged(ctx: &Context, webhook_id: Uuid) -> Result<(), HandBack> {
    tracing::warn!(%webhook_id, "a stream entry came back after its webhook was purged; dropping it instead of delivering it again");
    hookrelay_domain::webhooks::upkeep::forget(&ctx.db, webhook_id).await?;
    Ok(())
}

/// The subscriptions that receive this webhook, and the targeted one if it is gone.
async fn recipients(
    ctx: &Context,
    webhook: &IngestedWebhook,
) -> anyhow::Result<(Vec<Arc<Subscription>>, Option<Uuid>)> {
    match webhook.subscription_id {
        Some(id) => match ctx.cache.get_or_fetch(&id).await? {
            Some(subscription) => Ok((vec![subscription], None)),
            None => Ok((Vec::new(), Some(id))),
        },
        None => Ok((
            hookrelay_domain::subscriptions::cache::matching(
                &ctx.cache,
                webhook.tenant_id,
                webhook.event_type.as_deref(),
                webhook.skip_subscription,
            ),
            None,
        )),
    }
}

fn job(webhook: &IngestedWebhook, subscription_id: Uuid, attempt: u32) -> PlannedAttempt {
    PlannedAttempt {
        webhook_id: webhook.webhook_id,
        event_type: webhook.event_type.clone(),
        body: webhook.body.clone(),
        envelope: webhook.envelope.clone(),
        subscription_id,
        attempt,
        run_from: 0,
    }
}

/// The attempts still owed for a webhook stored by an earlier run; repairs the retry
/// schedule on the way.
async fn resume(ctx: &Context, webhook: &IngestedWebhook) -> Result<Vec<PlannedAttempt>, HandBack> {
    let mut conn = ctx.db.get().await.context("no Postgres connection")?;
    let rows: Vec<Delivery> = bounded(
        "Failed to read the deliveries of a webhook",
        deliveries::table
            .filter(deliveries::webhook_id.eq(webhook.webhook_id))
            .select(Delivery::as_select())
            .load(&mut conn),
    )
    .await?;
    drop(conn);
    let mut jobs = Vec::new();
    for row in rows {
        let attempts = u32::try_from(row.attempts).unwrap_or(0);
        match DeliveryStatus::parse(&row.status) {
            Some(DeliveryStatus::Pending) => {
                jobs.push(job(webhook, row.subscription_id, attempts + 1));
            }
            Some(DeliveryStatus::Retrying) => {
                let next = NextAttempt {
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
/// succeeds when every one of them did. A task starts only once its attempt holds a
/// concurrency permit, so a webhook with thousands of recipients never has more tasks
/// (or attempts in flight) than the worker has permits. Each job's checks
/// (`pipeline::prepare`: the subscription, its rate limit) come right before its permit
/// is waited for, so an attempt its rate limit holds back is parked without ever
/// holding a permit, and the recipients after it are not held up by it.
pub async fn run_all(ctx: &Arc<Context>, mut jobs: Vec<PlannedAttempt>) -> Result<(), HandBack> {
    if jobs.len() == 1
        && let Some(job) = jobs.pop()
    {
        // The common case needs no extra task.
        return pipeline::attempt(ctx, job).await;
    }
    let mut running = tokio::task::JoinSet::new();
    let mut result = Ok(());
    let mut merge = |outcome: Result<Result<(), HandBack>, tokio::task::JoinError>| {
        // A panicked attempt is handed back like a refused one: run again, then dead-lettered.
        let outcome =
            outcome.unwrap_or_else(|e| Err(HandBack::Refused(format!("attempt task failed: {e}"))));
        if result.is_ok() {
            result = outcome;
        }
    };
    for job in jobs {
        let ready = match pipeline::prepare(ctx, job).await {
            Ok(Some(ready)) => ready,
            // Ended without an attempt, or parked by its rate limit.
            Ok(None) => continue,
            // The entry runs again (in place, or after reclaim) and resumes what is left.
            Err(e) => {
                merge(Ok(Err(e)));
                break;
            }
        };
        // Stops starting attempts at shutdown; the entry is handed back and resumed.
        let Ok(permit) = pipeline::permit(ctx).await else {
            merge(Ok(Err(HandBack::ShuttingDown)));
            break;
        };
        let ctx = Arc::clone(ctx);
        running.spawn(async move { pipeline::attempt_with(&ctx, ready, permit).await });
        while let Some(done) = running.try_join_next() {
            merge(done);
        }
    }
    while let Some(done) = running.join_next().await {
        merge(done);
    }
    result
}
