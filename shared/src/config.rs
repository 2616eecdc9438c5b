//! Typed configuration, read once from the environment at start-up (CONTRACT §1).
//!
//! `Config::from_env` is the only place that reads variables; everything else gets a
//! `Config` (or a part of it) passed down. Every error names the variable and the value,
//! so a bad deployment fails with one line that says what to fix.

use std::net::SocketAddr;
use std::time::Duration;

/// Every variable `Config::from_lookup` reads (a unit test keeps this exact). The container
/// files are checked against it, so they never set a variable nothing reads.
pub const VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_KEY_PREFIX",
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

/// How log lines are written (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/hookrelay`.
    pub database_url: String,
    /// `REDIS_URL`, default `redis://127.0.0.1:6379`.
    pub redis_url: String,
    /// `REDIS_KEY_PREFIX`, default `hookrelay`: every Redis key starts with it (see `keys`).
    pub redis_key_prefix: String,
    /// `HOST`, default `0.0.0.0` (api).
    pub host: String,
    /// `PORT`, default `8080` (api).
    pub port: u16,
    /// `API_KEYS`, comma-separated bearer secrets (api). Empty when unset.
    pub api_keys: Vec<String>,
    /// `AUTH_DISABLED`, default `false` (api).
    pub auth_disabled: bool,
    /// `MAX_PAYLOAD_BYTES`, default `1048576` (api).
    pub max_payload_bytes: usize,
    /// `RETRY_SCHEDULE`, default `10s,30s,1m,5m,15m` (worker): delay before retry n.
    pub retry_schedule: Vec<Duration>,
    /// `DELIVERY_TIMEOUT`, default `10s` (worker): whole-request timeout of one attempt.
    pub delivery_timeout: Duration,
    /// `WORKER_CONCURRENCY`, default `256` (worker): attempts in flight per process.
    pub worker_concurrency: usize,
    /// `LOG_RETENTION`, default `72h` (worker).
    pub log_retention: Duration,
    /// `PURGE_SCHEDULE`, default `0 0 * * * *` (worker): cron with seconds, UTC.
    pub purge_schedule: String,
    /// `ALLOW_PRIVATE_TARGETS`, default `false` (both).
    pub allow_private_targets: bool,
    /// `METRICS_ADDR`, unset by default (worker).
    pub metrics_addr: Option<SocketAddr>,
    /// `LOG_FORMAT`, default `text` (both).
    pub log_format: LogFormat,
    /// `STARTUP_TIMEOUT`, default `30s` (both): how long to wait for Postgres and Redis.
    pub startup_timeout: Duration,
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
    /// `TRUSTED_PROXIES`, comma-separated CIDRs, default none (api): a peer in one of
    /// these is a proxy, and a source's client address is the right-most
    /// `X-Forwarded-For` entry that is not.
    pub trusted_proxies: Vec<ip_network::IpNetwork>,
    /// `CONSOLE_FRAME_ANCESTORS`, default `'none'` (api): the console's CSP
    /// `frame-ancestors` sources, space-separated (`https://portal.example.com`), for
    /// operators who embed the console as a customer portal. With `'none'` the console
    /// also sends `X-Frame-Options: DENY`.
    pub console_frame_ancestors: String,
}

/// Durations accept `ms`, `s`, `m`, `h` suffixes (`250ms`, `10s`, `1m`, `72h`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{s:?} has no unit (use ms, s, m or h)"))?;
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} does not start with a whole number"))?;
    let millis = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1_000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        other => return Err(format!("unknown unit {other:?} (use ms, s, m or h)")),
    };
    millis
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// A duration the way [`parse_duration`] reads it, in the largest unit that divides it
/// (`60s` → `1m`, `1500ms` stays `1500ms`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0 => "0s".to_owned(),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
        ms => format!("{ms}ms"),
    }
}

/// `value` with the password of a URL in it replaced by `***`
/// (`postgres://user:***@host/db`), for every message and log line that shows a URL. Works
/// on the text, so a value too malformed to parse is masked too; a `password=` query
/// parameter (which libpq accepts) is masked as well. Anything else is returned as it is.
pub fn mask_url_password(value: &str) -> String {
    let Some(scheme_end) = value.find("://").map(|i| i + 3) else {
        return value.to_owned();
    };
    let mut masked = value.to_owned();
    let rest = &value[scheme_end..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    // The last `@` ends the user info: an unescaped `@` in a password stays masked.
    if let Some(at) = authority.rfind('@')
        && let Some(colon) = authority[..at].find(':')
    {
        masked.replace_range(scheme_end + colon + 1..scheme_end + at, "***");
    }
    if let Some(query_start) = masked.find('?') {
        let (head, query) = masked.split_at(query_start + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        masked = format!("{head}{}", query.join("&"));
    }
    masked
}

/// A `postgres://` (or `postgresql://`) URL naming a database: the binaries create that
/// database when it is missing, so a URL without one is a configuration error, not an
/// outage to wait out.
fn check_database_url(value: &str) -> Result<(), String> {
    let url = url::Url::parse(value).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(format!(
            "the scheme is {:?}; expected postgres:// or postgresql://",
            url.scheme()
        ));
    }
    if url.path().trim_start_matches('/').is_empty() {
        return Err("names no database (postgres://user@host:5432/<database>)".into());
    }
    Ok(())
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
        let var = |name: &'static str, default: &str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let invalid = |var: &'static str, value: &str, reason: String| ConfigError::Invalid {
            var,
            value: mask_url_password(value),
            reason,
        };
        let duration = |name: &'static str, default: &str| {
            let value = var(name, default);
            parse_duration(&value).map_err(|reason| invalid(name, &value, reason))
        };
        let positive_duration = |name: &'static str, default: &str| {
            let value = var(name, default);
            match parse_duration(&value) {
                Ok(d) if d.is_zero() => {
                    Err(invalid(name, &value, "must be longer than zero".into()))
                }
                Ok(d) => Ok(d),
                Err(reason) => Err(invalid(name, &value, reason)),
            }
        };
        // Only the two words: a switch such as AUTH_DISABLED must not flip on a value
        // that merely looks truthy.
        let boolean = |name: &'static str| {
            let value = var(name, "false");
            match value.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(invalid(name, &value, "expected true or false".into())),
            }
        };
        fn number<T: std::str::FromStr>(value: &str) -> Result<T, String>
        where
            T::Err: std::fmt::Display,
        {
            value.trim().parse::<T>().map_err(|e| e.to_string())
        }

        let redis_key_prefix = var("REDIS_KEY_PREFIX", "hookrelay");
        if redis_key_prefix.contains(['{', '}']) || redis_key_prefix.contains(char::is_whitespace) {
            return Err(invalid(
                "REDIS_KEY_PREFIX",
                &redis_key_prefix,
                "must not contain braces or whitespace (it becomes a Redis Cluster hash tag)"
                    .into(),
            ));
        }

        let port_value = var("PORT", "8080");
        let port = number::<u16>(&port_value).map_err(|r| invalid("PORT", &port_value, r))?;

        let max_payload_value = var("MAX_PAYLOAD_BYTES", "1048576");
        let max_payload_bytes = number::<usize>(&max_payload_value)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                invalid(
                    "MAX_PAYLOAD_BYTES",
                    &max_payload_value,
                    "expected a positive number of bytes".into(),
                )
            })?;

        // Set but empty: no retries (one attempt). Otherwise every item is a duration; an
        // empty item (`1s,,2s`) is a typo, not a delay to skip.
        let schedule_value = get("RETRY_SCHEDULE").unwrap_or_else(|| "10s,30s,1m,5m,15m".into());
        let retry_schedule = if schedule_value.trim().is_empty() {
            Vec::new()
        } else {
            schedule_value
                .split(',')
                .map(parse_duration)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|r| invalid("RETRY_SCHEDULE", &schedule_value, r))?
        };

        let concurrency_value = var("WORKER_CONCURRENCY", "256");
        let worker_concurrency = number::<usize>(&concurrency_value)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                invalid(
                    "WORKER_CONCURRENCY",
                    &concurrency_value,
                    "expected a positive whole number".into(),
                )
            })?;

        let redeliveries_value = var("MAX_ENTRY_REDELIVERIES", "10");
        let max_entry_redeliveries = number::<u32>(&redeliveries_value)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                invalid(
                    "MAX_ENTRY_REDELIVERIES",
                    &redeliveries_value,
                    "expected a positive whole number".into(),
                )
            })?;

        let auto_disable_value = var("AUTO_DISABLE_AFTER", "10");
        let auto_disable_after = number::<u32>(&auto_disable_value)
            .ok()
            .filter(|n| i32::try_from(*n).is_ok())
            .ok_or_else(|| {
                invalid(
                    "AUTO_DISABLE_AFTER",
                    &auto_disable_value,
                    "expected a whole number of failed deliveries (0: never disable)".to_owned(),
                )
            })?;

        let purge_schedule = var("PURGE_SCHEDULE", "0 0 * * * *");
        croner::Cron::new(&purge_schedule)
            .with_seconds_required()
            .parse()
            .map_err(|e| {
                invalid(
                    "PURGE_SCHEDULE",
                    &purge_schedule,
                    format!("not a cron expression with a seconds field: {e}"),
                )
            })?;

        let metrics_addr = match get("METRICS_ADDR").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(value) => Some(value.trim().parse::<SocketAddr>().map_err(|e| {
                invalid(
                    "METRICS_ADDR",
                    &value,
                    format!("{e} (expected host:port, e.g. 0.0.0.0:9090)"),
                )
            })?),
        };

        let log_format_value = var("LOG_FORMAT", "text");
        let log_format = match log_format_value.trim().to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => {
                return Err(invalid(
                    "LOG_FORMAT",
                    &log_format_value,
                    "expected text or json".into(),
                ));
            }
        };

        let delivery_timeout = positive_duration("DELIVERY_TIMEOUT", "10s")?;
        // Long enough that a live worker's heartbeat (every quarter of it) always lands
        // in time, even for attempts that use their whole timeout.
        let default_reclaim = format!(
            "{}ms",
            (delivery_timeout + Duration::from_secs(20))
                .max(delivery_timeout * 2)
                .as_millis()
        );

        let database_url = var(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/hookrelay",
        );
        check_database_url(&database_url)
            .map_err(|reason| invalid("DATABASE_URL", &database_url, reason))?;
        let redis_url = var("REDIS_URL", "redis://127.0.0.1:6379");
        deadpool_redis::redis::Client::open(redis_url.as_str())
            .map_err(|e| invalid("REDIS_URL", &redis_url, e.to_string()))?;

        let config = Config {
            database_url,
            redis_url,
            redis_key_prefix,
            host: var("HOST", "0.0.0.0"),
            port,
            api_keys: get("API_KEYS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect(),
            auth_disabled: boolean("AUTH_DISABLED")?,
            max_payload_bytes,
            retry_schedule,
            delivery_timeout,
            worker_concurrency,
            log_retention: positive_duration("LOG_RETENTION", "72h")?,
            purge_schedule,
            allow_private_targets: boolean("ALLOW_PRIVATE_TARGETS")?,
            metrics_addr,
            log_format,
            startup_timeout: duration("STARTUP_TIMEOUT", "30s")?,
            reclaim_idle: duration("RECLAIM_IDLE", &default_reclaim)?,
            max_entry_redeliveries,
            auto_disable_after,
            reconcile_after: positive_duration("RECONCILE_AFTER", "15m")?,
            trusted_proxies: {
                let value = var("TRUSTED_PROXIES", "");
                crate::networks::parse_list(&value)
                    .map_err(|reason| invalid("TRUSTED_PROXIES", &value, reason))?
            },
            console_frame_ancestors: {
                let value = var("CONSOLE_FRAME_ANCESTORS", "'none'");
                let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
                if value.is_empty() || value.contains([';', ',']) || !value.is_ascii() {
                    return Err(invalid(
                        "CONSOLE_FRAME_ANCESTORS",
                        &value,
                        "expected CSP sources separated by spaces, such as 'self' https://portal.example.com"
                            .into(),
                    ));
                }
                value
            },
        };
        config.validate()?;
        Ok(config)
    }

    /// Cross-checks between variables.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.reclaim_idle <= self.delivery_timeout {
            return Err(ConfigError::Inconsistent(format!(
                "RECLAIM_IDLE ({:?}) must be longer than DELIVERY_TIMEOUT ({:?}), or entries \
                 still being delivered would be taken over by another worker",
                self.reclaim_idle, self.delivery_timeout
            )));
        }
        Ok(())
    }

    /// The api's extra requirement: some way of authenticating, or an explicit opt-out.
    pub fn validate_for_api(&self) -> Result<(), ConfigError> {
        if self.api_keys.is_empty() && !self.auth_disabled {
            return Err(ConfigError::NoApiKeys);
        }
        Ok(())
    }

    /// Total attempts per delivery: the first one plus one per retry delay.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.retry_schedule.len()).unwrap_or(u32::MAX - 1) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = config(&[]).expect("defaults are valid");
        assert_eq!(
            c.database_url,
            "postgres://postgres@127.0.0.1:5432/hookrelay"
        );
        assert_eq!(c.redis_url, "redis://127.0.0.1:6379");
        assert_eq!(c.redis_key_prefix, "hookrelay");
        assert_eq!((c.host.as_str(), c.port), ("0.0.0.0", 8080));
        assert_eq!(c.max_payload_bytes, 1_048_576);
        let secs: Vec<u64> = c.retry_schedule.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [10, 30, 60, 300, 900]);
        assert_eq!(c.max_attempts(), 6);
        assert_eq!(c.delivery_timeout, Duration::from_secs(10));
        assert_eq!(c.worker_concurrency, 256);
        assert_eq!(c.log_retention, Duration::from_secs(72 * 3600));
        assert_eq!(c.purge_schedule, "0 0 * * * *");
        assert!(!c.allow_private_targets && !c.auth_disabled);
        assert_eq!(c.metrics_addr, None);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.startup_timeout, Duration::from_secs(30));
        assert_eq!(c.reclaim_idle, Duration::from_secs(30));
        assert_eq!(c.max_entry_redeliveries, 10);
        assert_eq!(c.auto_disable_after, 10);
        assert_eq!(c.reconcile_after, Duration::from_secs(15 * 60));
        assert!(c.trusted_proxies.is_empty());
    }

    #[test]
    fn variables_lists_exactly_what_is_read() {
        let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
        Config::from_lookup(|name| {
            asked.borrow_mut().insert(name.to_owned());
            None
        })
        .expect("defaults are valid");
        let listed: std::collections::BTreeSet<String> =
            VARIABLES.iter().map(|v| (*v).to_owned()).collect();
        assert_eq!(asked.into_inner(), listed);
    }

    #[test]
    fn durations_take_the_four_suffixes() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("72h"), Ok(Duration::from_secs(72 * 3600)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("ten s").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn errors_name_the_variable_and_value() {
        let err = config(&[("RETRY_SCHEDULE", "10s,soon")]).expect_err("bad schedule");
        let line = err.to_string();
        assert!(
            line.starts_with("invalid RETRY_SCHEDULE=\"10s,soon\""),
            "{line}"
        );
        let err = config(&[("PURGE_SCHEDULE", "every hour")]).expect_err("bad cron");
        assert!(err.to_string().contains("PURGE_SCHEDULE"), "{err}");
        let err = config(&[("PURGE_SCHEDULE", "0 * * * *")]).expect_err("cron without seconds");
        assert!(err.to_string().contains("seconds"), "{err}");
        let err = config(&[("PORT", "http")]).expect_err("bad port");
        assert!(err.to_string().contains("PORT"), "{err}");
        let err = config(&[("METRICS_ADDR", "9090")]).expect_err("bad addr");
        assert!(err.to_string().contains("METRICS_ADDR"), "{err}");
        let err = config(&[("LOG_FORMAT", "xml")]).expect_err("bad format");
        assert!(err.to_string().contains("LOG_FORMAT"), "{err}");
    }

    #[test]
    fn passwords_in_urls_are_masked_in_errors() {
        for (var, value, shown) in [
            (
                "DATABASE_URL",
                "mysql://app:hunter2@db.internal/hr",
                "mysql://app:***@db.internal/hr",
            ),
            (
                "DATABASE_URL",
                "postgres://app:hun@ter2@db.internal:5432",
                "postgres://app:***@db.internal:5432",
            ),
            (
                "DATABASE_URL",
                "postgres://db.internal?user=app&password=hunter2",
                "postgres://db.internal?user=app&password=***",
            ),
            ("REDIS_URL", "redis:/:hunter2@x", "redis:/:hunter2@x"),
            ("REDIS_URL", "rediss://:hunter2@[::1", "rediss://:***@[::1"),
        ] {
            let line = config(&[(var, value)])
                .expect_err(&format!("{var}={value} is refused"))
                .to_string();
            assert!(
                line.starts_with(&format!("invalid {var}={shown:?}: ")),
                "{var}={value}: {line}"
            );
        }
        assert_eq!(
            mask_url_password("postgres://postgres@127.0.0.1:5432/hookrelay"),
            "postgres://postgres@127.0.0.1:5432/hookrelay"
        );
    }

    #[test]
    fn malformed_values_are_refused_with_the_value_as_given() {
        for (var, value) in [
            ("DATABASE_URL", "notaurl"),
            ("DATABASE_URL", "mysql://root@127.0.0.1/hookrelay"),
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432"),
            ("REDIS_URL", "notaurl"),
            ("RETRY_SCHEDULE", "1s,,2s"),
            ("RETRY_SCHEDULE", "1s,"),
            ("AUTH_DISABLED", "yes"),
            ("ALLOW_PRIVATE_TARGETS", "1"),
            ("DELIVERY_TIMEOUT", "0s"),
            ("LOG_RETENTION", "0h"),
            ("TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal"),
        ] {
            let line = config(&[(var, value)])
                .expect_err(&format!("{var}={value} is refused"))
                .to_string();
            assert!(
                line.starts_with(&format!("invalid {var}={value:?}: ")),
                "{var}={value}: {line}"
            );
        }
        let c = config(&[
            ("AUTH_DISABLED", "TRUE"),
            ("ALLOW_PRIVATE_TARGETS", "False"),
        ])
        .expect("booleans ignore case");
        assert!(c.auth_disabled && !c.allow_private_targets);
        let c = config(&[(
            "DATABASE_URL",
            "postgresql://u:p@db.internal/hr?sslmode=require",
        )])
        .expect("a full URL");
        assert!(c.database_url.ends_with("sslmode=require"));
        let c = config(&[("TRUSTED_PROXIES", " 10.0.0.0/8, 192.0.2.1 ")]).expect("two ranges");
        assert_eq!(c.trusted_proxies.len(), 2);
    }

    #[test]
    fn the_default_reclaim_idle_leaves_room_for_a_long_timeout() {
        let c = config(&[("DELIVERY_TIMEOUT", "1h")]).expect("valid");
        assert_eq!(c.reclaim_idle, Duration::from_secs(7_200));
    }

    #[test]
    fn an_empty_schedule_means_one_attempt() {
        let c = config(&[("RETRY_SCHEDULE", "")]).expect("valid");
        assert!(c.retry_schedule.is_empty());
        assert_eq!(c.max_attempts(), 1);
    }

    #[test]
    fn reclaim_idle_must_exceed_the_delivery_timeout() {
        let err = config(&[("DELIVERY_TIMEOUT", "10s"), ("RECLAIM_IDLE", "5s")])
            .expect_err("inconsistent");
        assert!(err.to_string().contains("RECLAIM_IDLE"), "{err}");
    }

    #[test]
    fn the_api_needs_keys_or_an_explicit_opt_out() {
        let c = config(&[]).expect("valid");
        let err = c.validate_for_api().expect_err("no keys");
        assert!(err.to_string().contains("API_KEYS") && err.to_string().contains("AUTH_DISABLED"));
        let c = config(&[("API_KEYS", " a, b ,,")]).expect("valid");
        assert_eq!(c.api_keys, ["a", "b"]);
        assert!(c.validate_for_api().is_ok());
        let c = config(&[("AUTH_DISABLED", "true")]).expect("valid");
        assert!(c.validate_for_api().is_ok());
    }
}
