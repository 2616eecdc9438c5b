//! Typed configuration, read once from the environment at start-up (CONTRACT §1).
//!
//! `Config::from_env` is the only place that reads variables; everything else gets a
//! `Config` (or one of its sections) passed down. Each section reads only its own
//! variables, through one reader (`read::Vars`), so every error names the variable and the
//! value, and a bad deployment fails with one line that says what to fix.
//!
//! | section | variables |
//! |---|---|
//! | [`DatabaseConfig`] | `DATABASE_URL` |
//! | [`RedisConfig`] | `REDIS_URL`, `REDIS_CLUSTER`, `REDIS_KEY_PREFIX`, `QUEUE_PARTITIONS`, `REDIS_WAIT_REPLICAS`, `REDIS_WAIT_TIMEOUT` |
//! | [`ServerConfig`] | `HOST`, `PORT`, `MAX_PAYLOAD_BYTES` |
//! | [`AuthConfig`] | `API_KEYS`, `AUTH_DISABLED`, `TRUSTED_PROXIES` |
//! | [`DeliveryConfig`] | `RETRY_SCHEDULE`, `DELIVERY_TIMEOUT`, `WORKER_CONCURRENCY`, `ALLOW_PRIVATE_TARGETS`, `FILE_DESTINATION_ROOT`, `RECLAIM_IDLE`, `MAX_ENTRY_REDELIVERIES`, `AUTO_DISABLE_AFTER`, `RECONCILE_AFTER` |
//! | [`RetentionConfig`] | `LOG_RETENTION`, `PURGE_SCHEDULE` |
//! | [`TelemetryConfig`] | `LOG_FORMAT`, `METRICS_ADDR` |
//! | [`StartupConfig`] | `STARTUP_TIMEOUT` |
//! | [`ConsoleConfig`] | `CONSOLE_FRAME_ANCESTORS` |

mod auth;
mod console;
mod database;
mod delivery;
mod read;
mod redis;
mod retention;
mod server;
mod startup;
mod telemetry;
mod values;

#[cfg(test)]
mod tests;

pub use auth::AuthConfig;
pub use console::ConsoleConfig;
pub use database::DatabaseConfig;
pub use delivery::DeliveryConfig;
pub use redis::{REDIS_RESPONSE_TIMEOUT, RedisConfig, ReplicaWait};
pub use retention::RetentionConfig;
pub use server::ServerConfig;
pub use startup::StartupConfig;
pub use telemetry::{LogFormat, TelemetryConfig};
pub use values::{format_duration, mask_url_password, parse_duration};

use read::Vars;

/// Every variable `Config::from_lookup` reads (a unit test keeps this exact). The container
/// files are checked against it, so they never set a variable nothing reads.
pub const VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_KEY_PREFIX",
    "REDIS_CLUSTER",
    "QUEUE_PARTITIONS",
    "REDIS_WAIT_REPLICAS",
    "REDIS_WAIT_TIMEOUT",
    "HOST",
    "PORT",
    "API_KEYS",
    "AUTH_DISABLED",
    "MAX_PAYLOAD_BYTES",
    "RETRY_SCHEDULE",
    "DELIVERY_TIMEOUT",
    "WORKER_CONCURRENCY",
    "LOG_RETENTION",
    "PURGE_SCHEDULE",
    "ALLOW_PRIVATE_TARGETS",
    "METRICS_ADDR",
    "LOG_FORMAT",
    "STARTUP_TIMEOUT",
    "RECLAIM_IDLE",
    "MAX_ENTRY_REDELIVERIES",
    "AUTO_DISABLE_AFTER",
    "RECONCILE_AFTER",
    "TRUSTED_PROXIES",
    "CONSOLE_FRAME_ANCESTORS",
    "FILE_DESTINATION_ROOT",
];

/// A configuration value that could not be used. Its `Display` is the one-line reason the
/// binaries print before exiting non-zero.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {var}={value:?}: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: String,
    },
    #[error(
        "no API keys configured: set API_KEYS to a comma-separated list of secrets \
         (clients send `Authorization: Bearer <key>`), or AUTH_DISABLED=true for local development only"
    )]
    NoApiKeys,
    #[error("{0}")]
    Inconsistent(String),
}

/// Every variable, in sections by concern; each section's doc comments name its
/// variables and their defaults.
#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub delivery: DeliveryConfig,
    pub retention: RetentionConfig,
    pub telemetry: TelemetryConfig,
    pub startup: StartupConfig,
    pub console: ConsoleConfig,
}

impl Config {
    /// Reads the process environment, after loading `.env` if there is one.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is the normal case in production; a malformed one is not fatal
        // either, since every variable it could set can also come from the environment.
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any variable source (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars::new(&get);
        let config = Config {
            database: DatabaseConfig::from_lookup(&vars)?,
            redis: RedisConfig::from_lookup(&vars)?,
            server: ServerConfig::from_lookup(&vars)?,
            auth: AuthConfig::from_lookup(&vars)?,
            delivery: DeliveryConfig::from_lookup(&vars)?,
            retention: RetentionConfig::from_lookup(&vars)?,
            telemetry: TelemetryConfig::from_lookup(&vars)?,
            startup: StartupConfig::from_lookup(&vars)?,
            console: ConsoleConfig::from_lookup(&vars)?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Cross-checks between variables.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let delivery = &self.delivery;
        if delivery.reclaim_idle <= delivery.timeout {
            return Err(ConfigError::Inconsistent(format!(
                "RECLAIM_IDLE ({:?}) must be longer than DELIVERY_TIMEOUT ({:?}), or entries \
                 still being delivered would be taken over by another worker",
                delivery.reclaim_idle, delivery.timeout
            )));
        }
        Ok(())
    }

    /// The api's extra requirement: some way of authenticating, or an explicit opt-out.
    pub fn validate_for_api(&self) -> Result<(), ConfigError> {
        if self.auth.api_keys.is_empty() && !self.auth.disabled {
            return Err(ConfigError::NoApiKeys);
        }
        Ok(())
    }
}
