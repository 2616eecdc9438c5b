//! How the processes report on themselves: the log line format (`LOG_FORMAT`, both) and
//! where the worker serves `/metrics` and `/healthz` (`METRICS_ADDR`).

use std::net::SocketAddr;

use super::ConfigError;
use super::read::Vars;

/// How log lines are written (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// `METRICS_ADDR`, unset by default (worker).
    pub metrics_addr: Option<SocketAddr>,
    /// `LOG_FORMAT`, default `text` (both).
    pub log_format: LogFormat,
}

impl TelemetryConfig {
    pub(super) fn from_lookup(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let metrics_addr = vars.optional("METRICS_ADDR", |value| {
            value
                .trim()
                .parse::<SocketAddr>()
                .map_err(|e| format!("{e} (expected host:port, e.g. 0.0.0.0:9090)"))
        })?;
        let log_format = vars.parse("LOG_FORMAT", "text", |value| {
            match value.trim().to_ascii_lowercase().as_str() {
                "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                _ => Err("expected text or json".into()),
            }
        })?;
        Ok(Self {
            metrics_addr,
            log_format,
        })
    }
}
