//! One attempt of one delivery, end to end, in the order that makes crashes harmless:
//! look the subscription up as it is now → ask its rate limit, if it has one
//! (`throttle`) → wait for a concurrency permit → send (`delivery`) → judge → commit the
//! attempt row and the delivery state (`recorder`, awaited) → schedule the next retry
//! (`retry`). Only when this returns `Ok` may the stream entry that asked for it be
//! acknowledged.
//!
//! The subscription is looked up when the attempt is about to start, not when it was
//! queued, so a change applies to every attempt that starts after the cache saw it
//! (CONTRACT §3): a new URL, secret or headers are used; a deleted or inactive
//! subscription gets no attempt, and the delivery ends `failed` with the [`NoAttempt`]
//! error instead (without waiting for a permit: nothing is sent). The look-up comes
//! before the permit because the rate limit needs it, and one look-up is all an attempt
//! that finds a permit free needs; one that had to wait for its permit looks again, since
//! the wait can be long enough for a change to matter.
//!
//! An attempt its rate limit holds back is parked ([`prepare`]): put in the retry
//! schedule as the same attempt, due when the limiter gives it its turn, and the entry is
//! done. That is not an attempt (no attempt row, no attempt metric) and not a failure
//! (the delivery's state is untouched); it holds neither a permit nor an entry slot while
//! it waits, and the mover brings it back like any retry.
//!
//! [`Context`] is what every handler shares: configuration, connections, the cache, the
//! destinations (HTTP client and broker connections), the log writer, the retry store, the rate limiter and the concurrency
//! semaphore.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use chrono::Utc;
use hookrelay_domain::subscriptions::Subscription;
use hookrelay_domain::subscriptions::SubscriptionCache;
use hookrelay_domain::webhooks::DeliveryStatus;
use hookrelay_shared::Config;
use hookrelay_shared::db::DbPool;
use hookrelay_shared::keys::Keys;
use hookrelay_shared::payload::Envelope;
use hookrelay_shared::queue::NextAttempt;
use hookrelay_shared::redis_client::Redis;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::delivery::{self, AttemptRequest, DeliveryOutcome};
use crate::destinations::Registry;
use crate::metrics;
use crate::recorder::{DeliveryUpdate, NotCommitted, Recorder};
use crate::retry::RetrySchedule;
use crate::throttle::{self, Throttle, Verdict};

/// Why a delivery ends without an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoAttempt {
    /// The subscription no longer exists (DELETE).
    Deleted,
    /// The subscription is inactive (`is_active=false`).
    Inactive,
}

impl NoAttempt {
    /// The delivery's `error`.
    pub const fn error(self) -> &'static str {
        match self {
            Self::Deleted => "subscription deleted",
            Self::Inactive => "subscription inactive",
        }
    }
}

/// Everything the handlers share.
pub struct Context {
    pub config: Config,
    pub keys: Keys,
    pub db: DbPool,
    pub redis: Redis,
    pub cache: Arc<SubscriptionCache>,
    /// Sends an attempt to its subscription's destination (HTTP or another).
    pub destinations: Arc<Registry>,
    pub logs: Recorder,
    pub retries: RetrySchedule,
    /// Per-subscription rate limits, asked before an attempt waits for its permit.
    pub throttle: Throttle,
    /// `WORKER_CONCURRENCY` permits: the hard cap on attempts in flight.
    pub permits: Arc<Semaphore>,
    /// Fires on SIGTERM: attempts not yet started are handed back instead.
    pub shutdown: CancellationToken,
}

/// Why an entry's handler did not finish.
#[derive(Debug, thiserror::Error)]
pub enum HandBack {
    /// Shutdown came first: the entry stays pending for another worker.
    #[error("shutting down before the attempt started")]
    ShuttingDown,
    /// A dependency cannot do the work now (unreachable, timed out): the entry is run
    /// again in place once it can (`dispatch`), without being handed back.
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
    /// Postgres refused one of the entry's records: the entry is handed back, to be run
    /// again after reclaim, and dead-lettered after `MAX_ENTRY_REDELIVERIES`.
    #[error("Postgres refused a record: {0}")]
    Refused(String),
}

impl From<NotCommitted> for HandBack {
    fn from(e: NotCommitted) -> Self {
        match e {
            NotCommitted::WriterGone => Self::ShuttingDown,
            NotCommitted::Refused(reason) => Self::Refused(reason),
        }
    }
}

/// One attempt to make (of a new webhook, a retry or a replay), before its checks.
pub struct PlannedAttempt {
    pub webhook_id: Uuid,
    pub event_type: Option<String>,
    pub body: Bytes,
    /// A sourced webhook's content type and forwarded headers.
    pub envelope: Option<Envelope>,
    /// Looked up when the attempt starts: its URL, secret and headers as they are then.
    pub subscription_id: Uuid,
    /// 1-based.
    pub attempt: u32,
    /// Attempts made before this run of the retry schedule began: 0, or the attempts a
    /// replayed delivery had when it was replayed (its schedule starts again, its
    /// attempt numbers go on).
    pub run_from: u32,
}

/// An attempt that passed the checks made before its permit: the subscription exists,
/// is active, and its rate limit (if any) gave it its turn.
pub struct Ready {
    job: PlannedAttempt,
    /// As the cache had it at the check.
    subscription: Arc<Subscription>,
}

/// A concurrency permit.
pub struct Permit {
    held: OwnedSemaphorePermit,
    /// It had to be waited for, so the subscription may have changed meanwhile.
    waited: bool,
}

/// Takes a concurrency permit, waiting for one if none is free; at shutdown, hands back
/// instead.
pub async fn permit(ctx: &Context) -> Result<Permit, HandBack> {
    if ctx.shutdown.is_cancelled() {
        return Err(HandBack::ShuttingDown);
    }
    if let Ok(held) = Arc::clone(&ctx.permits).try_acquire_owned() {
        return Ok(Permit {
            held,
            waited: false,
        });
    }
    tokio::select! {
        biased;
        () = ctx.shutdown.cancelled() => Err(HandBack::ShuttingDown),
        permit = Arc::clone(&ctx.permits).acquire_owned() => permit
            .map(|held| Permit { held, waited: true })
            .map_err(|_| HandBack::ShuttingDown),
    }
}

/// Makes one attempt and commits its effects (or ends or parks it, see [`prepare`]).
pub async fn attempt(ctx: &Context, job: PlannedAttempt) -> Result<(), HandBack> {
    let Some(ready) = prepare(ctx, job).await? else {
        return Ok(());
    };
    let permit = permit(ctx).await?;
    attempt_with(ctx, ready, permit).await
}

/// What comes before waiting for a permit: looks the subscription up and, if it has a
/// rate limit, asks the limiter (a Redis round trip for limited subscriptions only).
/// `None` when nothing is left to do for the job: the delivery ended without an attempt
/// (subscription deleted or inactive), or the limiter held the attempt back and it was
/// parked in the retry schedule until its turn.
pub async fn prepare(ctx: &Context, job: PlannedAttempt) -> Result<Option<Ready>, HandBack> {
    let subscription = match look_up(ctx, job.subscription_id).await? {
        Ok(subscription) => subscription,
        Err(why) => {
            end_without_attempt(ctx, job.webhook_id, job.subscription_id, why).await?;
            return Ok(None);
        }
    };
    if let Some(rate) = throttle::limit(subscription.rate_limit) {
        let verdict = ctx
            .throttle
            .check(&mut ctx.redis.clone(), job.subscription_id, rate)
            .await
            .with_context(|| {
                format!(
                    "Failed to ask the rate limit of subscription {}",
                    job.subscription_id
                )
            })?;
        if let Verdict::Wait(wait) = verdict {
            park(ctx, &job, rate.get(), wait).await?;
            return Ok(None);
        }
    }
    Ok(Some(Ready { job, subscription }))
}

/// The subscription as the cache has it now, or why it gets no attempt.
async fn look_up(
    ctx: &Context,
    subscription_id: Uuid,
) -> anyhow::Result<Result<Arc<Subscription>, NoAttempt>> {
    Ok(match ctx.cache.get_or_fetch(&subscription_id).await? {
        Some(subscription) if subscription.is_active => Ok(subscription),
        Some(_) => Err(NoAttempt::Inactive),
        None => Err(NoAttempt::Deleted),
    })
}

/// Puts an attempt the rate limit held back into the retry schedule as the same attempt,
/// due when its turn comes. The entry is then done: the delivery keeps its state, and no
/// attempt is recorded.
async fn park(
    ctx: &Context,
    job: &PlannedAttempt,
    rate_limit: u32,
    wait: Duration,
) -> Result<(), HandBack> {
    let parked = NextAttempt {
        webhook_id: job.webhook_id,
        subscription_id: job.subscription_id,
        attempt: job.attempt,
    };
    let due = Utc::now() + wait;
    ctx.retries
        .schedule(&mut ctx.redis.clone(), &parked, due)
        .await
        .with_context(|| format!("Failed to park throttled attempt {}", parked.member()))?;
    metrics::throttled();
    tracing::debug!(
        webhook_id = %job.webhook_id, subscription_id = %job.subscription_id, attempt = job.attempt,
        rate_limit, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        "rate limit reached; attempt parked until its turn"
    );
    Ok(())
}

/// Makes one attempt that passed [`prepare`], with its permit, and commits its effects.
pub async fn attempt_with(ctx: &Context, ready: Ready, permit: Permit) -> Result<(), HandBack> {
    let Ready { job, subscription } = ready;
    let subscription_id = job.subscription_id;
    let subscription = if permit.waited {
        // The wait may have outlasted a change: the attempt uses the subscription as it
        // is when it starts. (A rate limit set meanwhile applies from the next attempt:
        // asking it now would mean holding the permit while parking.)
        match look_up(ctx, subscription_id).await? {
            Ok(current) => current,
            Err(why) => {
                drop(permit);
                return end_without_attempt(ctx, job.webhook_id, subscription_id, why).await;
            }
        }
    } else {
        subscription
    };
    let permit = permit.held;
    let request = AttemptRequest {
        webhook_id: job.webhook_id,
        event_type: job.event_type.as_deref(),
        body: &job.body,
        envelope: job.envelope.as_ref(),
        subscription: &subscription,
        attempt: job.attempt,
    };
    let timeout = subscription
        .timeout_ms
        .and_then(|ms| u64::try_from(ms).ok())
        .map_or(ctx.config.delivery.timeout, Duration::from_millis);
    let report = ctx.destinations.send(&request, timeout).await;
    // The permit bounds requests in flight; recording is bounded by the log writer.
    drop(permit);

    let own_schedule = subscription.own_retry_schedule();
    let outcome = delivery::decide(
        &report.exchange,
        job.attempt.saturating_sub(job.run_from),
        report.finished_at,
        own_schedule
            .as_deref()
            .unwrap_or(&ctx.config.delivery.retry_schedule),
        report.retry_after,
    );
    let row = delivery::attempt_row(
        &report,
        job.webhook_id,
        subscription_id,
        job.attempt,
        &outcome,
    );
    metrics::attempt(&outcome, report.duration, subscription.destination().kind());
    log_outcome(&job, &outcome, row.status_code, row.duration_ms);

    let update = DeliveryUpdate {
        webhook_id: job.webhook_id,
        subscription_id,
        status: match outcome {
            DeliveryOutcome::Delivered => DeliveryStatus::Succeeded,
            DeliveryOutcome::Retry { .. } => DeliveryStatus::Retrying,
            DeliveryOutcome::Failed { .. } => DeliveryStatus::Failed,
        },
        attempts: row.attempt_number,
        attempted: true,
        last_status_code: row.status_code,
        error: row.error.clone(),
        next_retry_at: row.next_retry_at,
        target_url: Some(row.target_url.clone()),
    };
    ctx.logs.record(Some(row), update).await?;
    match outcome {
        DeliveryOutcome::Retry { at, .. } => {
            let next = NextAttempt {
                webhook_id: job.webhook_id,
                subscription_id,
                attempt: job.attempt + 1,
            };
            ctx.retries
                .schedule(&mut ctx.redis.clone(), &next, at)
                .await
                .map_err(|e| anyhow::anyhow!("Failed to schedule retry {}: {e}", next.member()))?;
        }
        DeliveryOutcome::Delivered => metrics::finished(DeliveryStatus::Succeeded),
        DeliveryOutcome::Failed { .. } => metrics::finished(DeliveryStatus::Failed),
    }
    Ok(())
}

/// Ends a delivery `failed` without an attempt, with the error that says `why`.
async fn end_without_attempt(
    ctx: &Context,
    webhook_id: Uuid,
    subscription_id: Uuid,
    why: NoAttempt,
) -> Result<(), HandBack> {
    tracing::info!(%webhook_id, %subscription_id, error = why.error(), "delivery ended without an attempt");
    let update = DeliveryUpdate {
        webhook_id,
        subscription_id,
        status: DeliveryStatus::Failed,
        attempts: 0,
        attempted: false,
        last_status_code: None,
        error: Some(why.error().into()),
        next_retry_at: None,
        target_url: None,
    };
    ctx.logs.record(None, update).await?;
    metrics::finished(DeliveryStatus::Failed);
    Ok(())
}

fn log_outcome(
    job: &PlannedAttempt,
    outcome: &DeliveryOutcome,
    status_code: Option<i32>,
    duration_ms: i64,
) {
    let (webhook_id, subscription_id, attempt) = (job.webhook_id, job.subscription_id, job.attempt);
    match outcome {
        DeliveryOutcome::Delivered => {
            tracing::debug!(%webhook_id, %subscription_id, attempt, status_code, duration_ms, "delivered")
        }
        DeliveryOutcome::Retry { at, reason } => tracing::info!(
            %webhook_id, %subscription_id, attempt, status_code, duration_ms, error = %reason,
            next_retry_at = %hookrelay_shared::time::format(at),
            "delivery attempt failed; retry scheduled"
        ),
        DeliveryOutcome::Failed { reason } => tracing::warn!(
            %webhook_id, %subscription_id, attempt, status_code, duration_ms, error = %reason,
            "delivery failed for good"
        ),
    }
}
