//! How the worker delivers (worker variables, except `ALLOW_PRIVATE_TARGETS`, which the
//! api applies too): the retry schedule, the attempt timeout, concurrency, where
//! deliveries may go, and the recovery of entries a worker lost (`RECLAIM_IDLE`,
//! `MAX_ENTRY_REDELIVERIES`, `RECONCILE_AFTER`) or subscriptions that keep failing
//! (`AUTO_DISABLE_AFTER`).

use std::time::Duration;

use super::ConfigError;
use super::read::{Vars, invalid};
use super::values::parse_duration;

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// `RETRY_SCHEDULE`, default `10s,30s,1m,5m,15m` (worker): delay before retry n.
    pub retry_schedule: Vec<Duration>,
    /// `DELIVERY_TIMEOUT`, default `10s` (worker): whole-request timeout of one attempt.
    pub timeout: Duration,
    /// `WORKER_CONCURRENCY`, default `256` (worker): attempts in flight per process.
    pub worker_concurrency: usize,
    /// `ALLOW_PRIVATE_TARGETS`, default `false` (both).
    pub allow_private_targets: bool,
    /// `FILE_DESTINATION_ROOT`, default unset (both): the existing directory under which
    /// `file` destinations write; unset, they are refused.
    pub file_destination_root: Option<std::path::PathBuf>,
    /// `RECLAIM_IDLE`, default `DELIVERY_TIMEOUT + 20s` or twice `DELIVERY_TIMEOUT`,
    /// whichever is longer (worker): how long a queue entry
    /// may sit unacknowledged, without its owner's heartbeat, before another worker takes
    /// it over. Must exceed `DELIVERY_TIMEOUT`.
    pub reclaim_idle: Duration,
    /// `MAX_ENTRY_REDELIVERIES`, default `10` (worker): how many times a stream entry may
    /// be handed to a worker again (after a crash or a refused write) before it is moved
    /// to the dead-letter stream instead.
    pub max_entry_redeliveries: u32,
    /// `AUTO_DISABLE_AFTER`, default `10` (worker): consecutive failed deliveries after
    /// which a subscription is made inactive; `0`: never.
    pub auto_disable_after: u32,
    /// `RECONCILE_AFTER`, default `15m` (worker): how long past its due time an unfinished
    /// delivery that Redis no longer holds may wait before the reconciler queues it again.
    pub reconcile_after: Duration,
}

impl DeliveryConfig {
    pub(super) fn from_lookup(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        // Set but empty: no retries (one attempt). Otherwise every item is a duration; an
        // empty item (`1s,,2s`) is a typo, not a delay to skip.
        let schedule_value = vars
            .raw("RETRY_SCHEDULE")
            .unwrap_or_else(|| "10s,30s,1m,5m,15m".into());
        let retry_schedule = if schedule_value.trim().is_empty() {
            Vec::new()
        } else {
            schedule_value
                .split(',')
                .map(parse_duration)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|r| invalid("RETRY_SCHEDULE", &schedule_value, r))?
        };
        let worker_concurrency = vars.number_where::<usize>(
            "WORKER_CONCURRENCY",
            "256",
            |n| *n > 0,
            "expected a positive whole number",
        )?;
        let max_entry_redeliveries = vars.number_where::<u32>(
            "MAX_ENTRY_REDELIVERIES",
            "10",
            |n| *n > 0,
            "expected a positive whole number",
        )?;
        let auto_disable_after = vars.number_where::<u32>(
            "AUTO_DISABLE_AFTER",
            "10",
            |n| i32::try_from(*n).is_ok(),
            "expected a whole number of failed deliveries (0: never disable)",
        )?;
        let timeout = vars.positive_duration("DELIVERY_TIMEOUT", "10s")?;
        // Long enough that a live worker's heartbeat (every quarter of it) always lands
        // in time, even for attempts that use their whole timeout.
        let default_reclaim = format!(
            "{}ms",
            (timeout + Duration::from_secs(20))
                .max(timeout * 2)
                .as_millis()
        );
        Ok(Self {
            retry_schedule,
            timeout,
            worker_concurrency,
            allow_private_targets: vars.boolean("ALLOW_PRIVATE_TARGETS")?,
            file_destination_root: vars.optional("FILE_DESTINATION_ROOT", |value| {
                let root = std::path::PathBuf::from(value);
                if root.is_dir() {
                    Ok(root)
                } else {
                    Err("expected an existing directory".into())
                }
            })?,
            reclaim_idle: vars.duration("RECLAIM_IDLE", &default_reclaim)?,
            max_entry_redeliveries,
            auto_disable_after,
            reconcile_after: vars.positive_duration("RECONCILE_AFTER", "15m")?,
        })
    }

    /// Total attempts per delivery: the first one plus one per retry delay.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.retry_schedule.len()).unwrap_or(u32::MAX - 1) + 1
    }
}
