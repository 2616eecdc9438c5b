//! Start-up (`STARTUP_TIMEOUT`, both binaries): how long a process waits for Postgres and
//! Redis before it gives up with a one-line reason.

use std::time::Duration;

use super::ConfigError;
use super::read::Vars;

#[derive(Debug, Clone)]
pub struct StartupConfig {
    /// `STARTUP_TIMEOUT`, default `30s` (both): how long to wait for Postgres and Redis.
    pub timeout: Duration,
}

impl StartupConfig {
    pub(super) fn from_lookup(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            timeout: vars.duration("STARTUP_TIMEOUT", "30s")?,
        })
    }
}
