//! The retention purge (CONTRACT §7): attempt logs older than `LOG_RETENTION`, then
//! stored webhooks older than that whose deliveries have all finished (their deliveries
//! go with them through `ON DELETE CASCADE`), then sources' rejections older than that.
//!
//! Every statement deletes at most `BATCH_SIZE` rows and commits on its own, so no lock is
//! held for long and deliveries and status lookups carry on while a purge runs. Each
//! batch finds its rows through an index (`attempts_timestamp_idx`, `webhooks_received_at_idx`
//! and `deliveries_unfinished_by_webhook_idx`; plans in `docs/operations.md`). Who runs a
//! purge, and when, is `scheduler`'s business.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Timestamptz};
use diesel_async::RunQueryDsl;
use hookrelay_domain::sources::rejections::DELETE_OLD_REJECTIONS;
use hookrelay_domain::webhooks::upkeep::{DELETE_OLD_ATTEMPTS, DELETE_OLD_WEBHOOKS};
use hookrelay_shared::db::DbPool;
use tokio_util::sync::CancellationToken;

/// Rows one statement deletes at most.
pub const BATCH_SIZE: i64 = 1000;

/// What one purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub attempts: u64,
    pub webhooks: u64,
    pub rejections: u64,
    /// `false` when the run stopped early (time budget or shutdown); the next run goes on.
    pub complete: bool,
}

#[derive(Clone)]
pub struct Purge {
    pub db: DbPool,
    /// `LOG_RETENTION`.
    pub retention: Duration,
    /// No new batch starts after this long, so one run never outlives its lock.
    pub budget: Duration,
}

impl Purge {
    /// Deletes everything older than `now - retention`, batch by batch.
    pub async fn run(
        &self,
        now: DateTime<Utc>,
        stop: &CancellationToken,
    ) -> anyhow::Result<PurgeReport> {
        let cutoff = now
            - chrono::Duration::from_std(self.retention).context("LOG_RETENTION is too large")?;
        let deadline = Instant::now() + self.budget;
        let mut conn = self
            .db
            .get()
            .await
            .context("Failed to get a Postgres connection for the purge")?;
        let (attempts, attempts_done) = purge_table(
            &mut conn,
            "attempts",
            DELETE_OLD_ATTEMPTS,
            cutoff,
            deadline,
            stop,
        )
        .await?;
        let (webhooks, webhooks_done) = if attempts_done {
            purge_table(
                &mut conn,
                "webhooks",
                DELETE_OLD_WEBHOOKS,
                cutoff,
                deadline,
                stop,
            )
            .await?
        } else {
            (0, false)
        };
        let (rejections, complete) = if webhooks_done {
            purge_table(
                &mut conn,
                "source_rejections",
                DELETE_OLD_REJECTIONS,
                cutoff,
                deadline,
                stop,
            )
            .await?
        } else {
            (0, false)
        };
        Ok(PurgeReport {
            attempts,
            webhooks,
            rejections,
            complete,
        })
    }
}

/// Runs `sql` until a batch comes back short; returns the rows deleted and whether it got
/// that far before `deadline` or `stop`.
async fn purge_table(
    conn: &mut diesel_async::AsyncPgConnection,
    table: &'static str,
    sql: &'static str,
    cutoff: DateTime<Utc>,
    deadline: Instant,
    stop: &CancellationToken,
) -> anyhow::Result<(u64, bool)> {
    let mut total = 0;
    loop {
        if stop.is_cancelled() || Instant::now() > deadline {
            return Ok((total, false));
        }
        let deleted = hookrelay_shared::db::bounded(
            format!("Failed to purge a batch of {table}"),
            diesel::sql_query(sql)
                .bind::<Timestamptz, _>(cutoff)
                .bind::<BigInt, _>(BATCH_SIZE)
                .execute(conn),
        )
        .await?;
        total += deleted as u64;
        metrics::counter!(crate::metrics::PURGED_ROWS.name, "table" => table)
            .increment(deleted as u64);
        if (deleted as i64) < BATCH_SIZE {
            return Ok((total, true));
        }
    }
}
