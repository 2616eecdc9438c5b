//! Redis (`REDIS_URL`, `REDIS_KEY_PREFIX`, both binaries): where the queue lives, and the
//! prefix that keeps two deployments sharing one Redis apart.

use super::ConfigError;
use super::read::Vars;

#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `REDIS_URL`, default `redis://127.0.0.1:6379`.
    pub url: String,
    /// `REDIS_KEY_PREFIX`, default `hookrelay`: every Redis key starts with it (see `keys`).
    pub key_prefix: String,
}

impl RedisConfig {
    pub(super) fn from_lookup(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let key_prefix = vars.parse("REDIS_KEY_PREFIX", "hookrelay", |value| {
            if value.contains(['{', '}']) || value.contains(char::is_whitespace) {
                return Err(
                    "must not contain braces or whitespace (it becomes a Redis Cluster hash tag)"
                        .into(),
                );
            }
            Ok(value.to_owned())
        })?;
        let url = vars.parse("REDIS_URL", "redis://127.0.0.1:6379", |value| {
            deadpool_redis::redis::Client::open(value)
                .map(|_| value.to_owned())
                .map_err(|e| e.to_string())
        })?;
        Ok(Self { url, key_prefix })
    }
}
