//! The configuration's tests: defaults, refusals and their messages, cross-checks.

use std::collections::HashMap;
use std::time::Duration;

use super::*;

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
        c.database.url,
        "postgres://postgres@127.0.0.1:5432/hookrelay"
    );
    assert_eq!(c.redis.url, "redis://127.0.0.1:6379");
    assert_eq!(c.redis.key_prefix, "hookrelay");
    assert_eq!((c.server.host.as_str(), c.server.port), ("0.0.0.0", 8080));
    assert_eq!(c.server.max_payload_bytes, 1_048_576);
    let secs: Vec<u64> = c
        .delivery
        .retry_schedule
        .iter()
        .map(Duration::as_secs)
        .collect();
    assert_eq!(secs, [10, 30, 60, 300, 900]);
    assert_eq!(c.delivery.max_attempts(), 6);
    assert_eq!(c.delivery.timeout, Duration::from_secs(10));
    assert_eq!(c.delivery.worker_concurrency, 256);
    assert_eq!(c.retention.log_retention, Duration::from_secs(72 * 3600));
    assert_eq!(c.retention.purge_schedule, "0 0 * * * *");
    assert!(!c.delivery.allow_private_targets && !c.auth.disabled);
    assert_eq!(c.telemetry.metrics_addr, None);
    assert_eq!(c.telemetry.log_format, LogFormat::Text);
    assert_eq!(c.startup.timeout, Duration::from_secs(30));
    assert_eq!(c.delivery.reclaim_idle, Duration::from_secs(30));
    assert_eq!(c.delivery.max_entry_redeliveries, 10);
    assert_eq!(c.delivery.auto_disable_after, 10);
    assert_eq!(c.delivery.reconcile_after, Duration::from_secs(15 * 60));
    assert!(c.auth.trusted_proxies.is_empty());
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

/// The variables a section's `from_lookup` asks for when none is set.
fn read_by<T>(
    from_lookup: impl Fn(&Vars<'_>) -> Result<T, ConfigError>,
) -> std::collections::BTreeSet<String> {
    let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let get = |name: &str| {
        asked.borrow_mut().insert(name.to_owned());
        None
    };
    from_lookup(&Vars::new(&get)).expect("the defaults are valid");
    asked.into_inner()
}

#[test]
fn each_variable_belongs_to_one_section() {
    let sections = [
        read_by(DatabaseConfig::from_lookup),
        read_by(RedisConfig::from_lookup),
        read_by(ServerConfig::from_lookup),
        read_by(AuthConfig::from_lookup),
        read_by(DeliveryConfig::from_lookup),
        read_by(RetentionConfig::from_lookup),
        read_by(TelemetryConfig::from_lookup),
        read_by(StartupConfig::from_lookup),
        read_by(ConsoleConfig::from_lookup),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for name in sections.into_iter().flatten() {
        assert!(seen.insert(name.clone()), "{name} is read by two sections");
    }
    let listed: std::collections::BTreeSet<String> =
        VARIABLES.iter().map(|v| (*v).to_owned()).collect();
    assert_eq!(seen, listed);
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
    assert!(c.auth.disabled && !c.delivery.allow_private_targets);
    let c = config(&[(
        "DATABASE_URL",
        "postgresql://u:p@db.internal/hr?sslmode=require",
    )])
    .expect("a full URL");
    assert!(c.database.url.ends_with("sslmode=require"));
    let c = config(&[("TRUSTED_PROXIES", " 10.0.0.0/8, 192.0.2.1 ")]).expect("two ranges");
    assert_eq!(c.auth.trusted_proxies.len(), 2);
}

#[test]
fn the_default_reclaim_idle_leaves_room_for_a_long_timeout() {
    let c = config(&[("DELIVERY_TIMEOUT", "1h")]).expect("valid");
    assert_eq!(c.delivery.reclaim_idle, Duration::from_secs(7_200));
}

#[test]
fn an_empty_schedule_means_one_attempt() {
    let c = config(&[("RETRY_SCHEDULE", "")]).expect("valid");
    assert!(c.delivery.retry_schedule.is_empty());
    assert_eq!(c.delivery.max_attempts(), 1);
}

#[test]
fn reclaim_idle_must_exceed_the_delivery_timeout() {
    let err =
        config(&[("DELIVERY_TIMEOUT", "10s"), ("RECLAIM_IDLE", "5s")]).expect_err("inconsistent");
    assert!(err.to_string().contains("RECLAIM_IDLE"), "{err}");
}

#[test]
fn the_api_needs_keys_or_an_explicit_opt_out() {
    let c = config(&[]).expect("valid");
    let err = c.validate_for_api().expect_err("no keys");
    assert!(err.to_string().contains("API_KEYS") && err.to_string().contains("AUTH_DISABLED"));
    let c = config(&[("API_KEYS", " a, b ,,")]).expect("valid");
    assert_eq!(c.auth.api_keys, ["a", "b"]);
    assert!(c.validate_for_api().is_ok());
    let c = config(&[("AUTH_DISABLED", "true")]).expect("valid");
    assert!(c.validate_for_api().is_ok());
}

#[test]
fn the_queue_layout_is_checked() {
    let c = config(&[]).expect("defaults");
    assert_eq!((c.redis.partitions, c.redis.cluster), (16, false));
    assert_eq!(c.redis.wait.replicas, 0);
    assert_eq!(c.redis.wait.timeout, Duration::from_secs(1));
    for bad in ["0", "1025", "x"] {
        let err = config(&[("QUEUE_PARTITIONS", bad)]).expect_err(bad);
        assert!(err.to_string().contains("QUEUE_PARTITIONS"), "{err}");
    }
    let seeds = "redis://127.0.0.1:7000, redis://127.0.0.1:7001";
    let err = config(&[("REDIS_URL", seeds)]).expect_err("several nodes, no cluster");
    assert!(err.to_string().contains("REDIS_CLUSTER=true"), "{err}");
    let c = config(&[("REDIS_URL", seeds), ("REDIS_CLUSTER", "true")]).expect("seed nodes");
    assert_eq!(
        c.redis.nodes,
        ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]
    );
    // WAIT must end before the Redis command's own deadline.
    let err = config(&[("REDIS_WAIT_TIMEOUT", "2s")]).expect_err("too long");
    assert!(err.to_string().contains("REDIS_WAIT_TIMEOUT"), "{err}");
    let c = config(&[
        ("REDIS_WAIT_REPLICAS", "1"),
        ("REDIS_WAIT_TIMEOUT", "500ms"),
    ])
    .expect("a wait");
    assert_eq!(c.redis.wait.replicas, 1);
}
