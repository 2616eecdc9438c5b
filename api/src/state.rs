//! What every handler can reach: connections, the subscription cache, the ingest queue
//! and the parts of the configuration requests depend on. Built once in `startup`.

use std::sync::Arc;

use hookrelay_shared::Config;
use hookrelay_shared::cache::SubscriptionCache;
use hookrelay_shared::db::DbPool;
use hookrelay_shared::keys::Keys;
use hookrelay_shared::queue::IngestQueue;
use hookrelay_shared::redis_client::Redis;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub struct AppState {
    pub db: DbPool,
    /// Multiplexed, reconnecting: ingest and status commands pipeline over it.
    pub redis: Redis,
    pub keys: Keys,
    pub cache: Arc<SubscriptionCache>,
    pub queue: IngestQueue,
    pub auth: Auth,
    pub max_payload_bytes: usize,
    pub allow_private_targets: bool,
}

/// Bearer-key authentication (`API_KEYS`, `AUTH_DISABLED`).
pub struct Auth {
    /// SHA-256 of each accepted key: comparing digests keeps the comparison constant-time
    /// whatever the lengths of the key sent and the keys configured.
    key_digests: Vec<[u8; 32]>,
    disabled: bool,
}

impl Auth {
    pub fn new(config: &Config) -> Self {
        Self {
            key_digests: config.api_keys.iter().map(|k| digest(k)).collect(),
            disabled: config.auth_disabled,
        }
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// Whether `key` is one of the configured keys. Every configured key is compared, so
    /// the time taken does not say which one (or how much of one) matched.
    pub fn accepts(&self, key: &str) -> bool {
        let sent = digest(key);
        self.key_digests
            .iter()
            .fold(subtle::Choice::from(0), |found, known| {
                found | known.ct_eq(&sent)
            })
            .into()
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_configured_keys() {
        let config = Config::from_lookup(|name| (name == "API_KEYS").then(|| "k1,k2".to_owned()))
            .expect("valid");
        let auth = Auth::new(&config);
        assert!(auth.accepts("k1") && auth.accepts("k2"));
        assert!(!auth.accepts("k3") && !auth.accepts("") && !auth.accepts("k1 "));
    }
}
