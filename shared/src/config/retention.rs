//! How long the worker keeps attempt logs and stored payloads (`LOG_RETENTION`), and when
//! it purges what is older (`PURGE_SCHEDULE`).

use std::time::Duration;

use super::ConfigError;
use super::read::Vars;

#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// `LOG_RETENTION`, default `72h` (worker).
    pub log_retention: Duration,
    /// `PURGE_SCHEDULE`, default `0 0 * * * *` (worker): cron with seconds, UTC.
    pub purge_schedule: String,
}

impl RetentionConfig {
    pub(super) fn from_lookup(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let purge_schedule = vars.parse("PURGE_SCHEDULE", "0 0 * * * *", |value| {
            croner::Cron::new(value)
                .with_seconds_required()
                .parse()
                .map(|_| value.to_owned())
                .map_err(|e| format!("not a cron expression with a seconds field: {e}"))
        })?;
        Ok(Self {
            log_retention: vars.positive_duration("LOG_RETENTION", "72h")?,
            purge_schedule,
        })
    }
}
