//! One reconciliation pass: the overdue unfinished deliveries, batch by batch, checked
//! against what Redis holds, and the ones it lost queued again (the rules are in the
//! parent module's docs).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use deadpool_redis::redis::{self, streams::StreamRangeReply};
use hookrelay_domain::webhooks::upkeep::{self, Overdue};
use hookrelay_shared::queue;
use hookrelay_shared::redis_client::Redis;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Reconciler;

/// Deliveries read per batch at most.
pub const BATCH_SIZE: i64 = upkeep::OVERDUE_BATCH;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Overdue unfinished deliveries looked at.
    pub examined: u64,
    /// Queued again: Redis held nothing of them.
    pub requeued: u64,
    /// Left for a later pass: the work stream may still hold them.
    pub deferred: u64,
    /// `false` when the pass stopped early (budget or shutdown).
    pub complete: bool,
}

impl Reconciler {
    /// Queues again what Redis lost of the deliveries overdue at `now`; no batch starts
    /// after `budget` or once `stop` fires.
    pub async fn pass(
        &self,
        now: DateTime<Utc>,
        budget: Duration,
        stop: &CancellationToken,
    ) -> anyhow::Result<PassReport> {
        let cutoff = now - chrono::Duration::from_std(self.timing.overdue)?;
        let deadline = Instant::now() + budget;
        let mut report = PassReport::default();
        let mut after = (DateTime::UNIX_EPOCH, Uuid::nil(), Uuid::nil());
        loop {
            if stop.is_cancelled() || Instant::now() > deadline {
                return Ok(report);
            }
            let rows = {
                let mut conn = self.db.get().await.context("no Postgres connection")?;
                upkeep::overdue(&mut conn, cutoff, after).await?
            };
            let Some(last) = rows.last() else {
                report.complete = true;
                return Ok(report);
            };
            after = (last.due, last.webhook_id, last.subscription_id);
            let full = rows.len() as i64 == BATCH_SIZE;
            report.examined += rows.len() as u64;
            let lost = self.lost(rows, &mut report).await?;
            report.requeued += self.requeue(&lost, now).await?;
            if !full {
                report.complete = true;
                return Ok(report);
            }
        }
    }

    /// The deliveries of `rows` that Redis holds nothing of; counts the deferred ones.
    async fn lost(
        &self,
        rows: Vec<Overdue>,
        report: &mut PassReport,
    ) -> anyhow::Result<Vec<Overdue>> {
        let mut redis = self.redis.clone();
        // Every partition that may hold work: a delivery's retry sits in its webhook's
        // home partition, or, after `QUEUE_PARTITIONS` changed, in an older one.
        let partitions = queue::served_partitions(&mut redis, &self.keys)
            .await
            .context("Failed to read the partition layout")?;
        // The schedules first, then the streams: a retry the mover takes out of a
        // schedule in between is then seen in its stream (the move is atomic), never
        // missed in both.
        let members: Vec<String> = rows.iter().map(|row| row.next().member()).collect();
        let scores = futures::future::try_join_all(partitions.iter().map(|partition| {
            let mut redis = redis.clone();
            let schedule = self.keys.partition(*partition).retry_schedule();
            let members = &members;
            async move {
                redis::cmd("ZMSCORE")
                    .arg(schedule)
                    .arg(members)
                    .query_async::<Vec<Option<f64>>>(&mut redis)
                    .await
            }
        }))
        .await
        .context("Failed to look up retries in the schedules")?;
        let oldest = futures::future::try_join_all(partitions.iter().map(|partition| {
            let mut redis = redis.clone();
            let stream = self.keys.partition(*partition).stream();
            async move { oldest_entry(&mut redis, &stream).await }
        }))
        .await?
        .into_iter()
        .flatten()
        .min();
        let slack = chrono::Duration::from_std(self.timing.slack)?;
        let mut settled = Vec::new();
        for (i, row) in rows.into_iter().enumerate() {
            if scores
                .iter()
                .any(|partition| partition.get(i).is_some_and(Option::is_some))
            {
                continue;
            }
            if oldest.is_none_or(|oldest| row.due + slack < oldest) {
                settled.push(row);
            } else {
                report.deferred += 1;
            }
        }
        Ok(settled)
    }

    /// Marks `lost` as queued again at `now` in Postgres, then schedules each one still
    /// unchanged as a retry due now; returns how many were queued.
    async fn requeue(&self, lost: &[Overdue], now: DateTime<Utc>) -> anyhow::Result<u64> {
        if lost.is_empty() {
            return Ok(0);
        }
        let marked = upkeep::mark_queued(&self.db, lost, now).await?;
        if marked.is_empty() {
            return Ok(0);
        }
        // One command each: they go to their webhooks' home partitions, which a cluster
        // spreads over its masters (a pipeline must stay in one slot).
        let added: Vec<i64> = futures::future::try_join_all(marked.iter().map(|row| {
            let mut redis = self.redis.clone();
            let job = row.next();
            async move {
                redis::cmd("ZADD")
                    .arg(self.keys.home(job.webhook_id).retry_schedule())
                    .arg("NX")
                    .arg(now.timestamp_millis())
                    .arg(job.member())
                    .query_async::<i64>(&mut redis)
                    .await
            }
        }))
        .await
        .context("Failed to schedule the lost deliveries")?;
        for (row, added) in marked.iter().zip(&added) {
            if *added == 1 {
                let job = row.next();
                tracing::info!(
                    webhook_id = %job.webhook_id, subscription_id = %job.subscription_id,
                    attempt = job.attempt, status = %row.status,
                    "delivery queued again: Redis no longer held it"
                );
            }
        }
        Ok(added.iter().filter(|a| **a == 1).count() as u64)
    }
}

/// When the stream's oldest entry was added (from its id), or `None` when it is empty.
async fn oldest_entry(redis: &mut Redis, stream: &str) -> anyhow::Result<Option<DateTime<Utc>>> {
    let reply: StreamRangeReply = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query_async(redis)
        .await
        .context("Failed to read the oldest stream entry")?;
    let Some(entry) = reply.ids.into_iter().next() else {
        return Ok(None);
    };
    let ms = entry
        .id
        .split_once('-')
        .and_then(|(ms, _)| ms.parse::<i64>().ok())
        .with_context(|| format!("unexpected stream entry id {}", entry.id))?;
    Ok(Some(
        DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::UNIX_EPOCH),
    ))
}
