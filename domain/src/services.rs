//! [`Services`]: what a use case needs to carry out a write action — commit it in
//! Postgres, queue what it queues in Redis, and tell every process's caches — built once
//! by the api at start-up and handed to every `ops` function.

use std::sync::Arc;

use hookrelay_shared::cache::Cache;
use hookrelay_shared::db::DbPool;
use hookrelay_shared::keys::Keys;
use hookrelay_shared::queue::IngestQueue;
use hookrelay_shared::redis_client::Redis;

use crate::api_keys::credential::Credential;
use crate::sources::Source;
use crate::subscriptions::SubscriptionCache;
use crate::tenants::Tenant;

pub struct Services {
    pub db: DbPool,
    /// Multiplexed, reconnecting: ingest and status commands pipeline over it.
    pub redis: Redis,
    pub keys: Keys,
    /// The work stream's ingest script (webhooks, test sends, schedule runs).
    pub queue: IngestQueue,
    /// Subscriptions by id: what ingest and fan-out look up.
    pub subscriptions: Arc<SubscriptionCache>,
    /// Tenants by id: what `X-Tenant-Id` on ingest is checked against.
    pub tenants: Arc<Cache<Tenant>>,
    /// Sources by token: what `POST /in/<token>` is checked against.
    pub sources: Arc<Cache<Source>>,
    /// Stored API keys by prefix: what authentication looks keys up in.
    pub credentials: Arc<Cache<Credential>>,
    /// `ALLOW_PRIVATE_TARGETS`: whether a subscription may target a private address.
    pub allow_private_targets: bool,
    /// `FILE_DESTINATION_ROOT`: where `file` destinations may write (`None`: nowhere).
    pub file_destination_root: Option<std::path::PathBuf>,
    /// `MAX_PAYLOAD_BYTES`: the largest body a webhook (or a schedule's payload) may have.
    pub max_payload_bytes: usize,
}

impl Services {
    /// The deployment's rules for a subscription's destination.
    pub fn destination_rules(&self) -> crate::destinations::input::Rules<'_> {
        crate::destinations::input::Rules {
            allow_private: self.allow_private_targets,
            file_root: self.file_destination_root.as_deref(),
        }
    }
}

/// Logs a cache that could not be told about a committed change. The change stands; the
/// caches catch up on their periodic full reload (`cache::FULL_RELOAD_INTERVAL`).
pub fn log_stale(what: &str, result: anyhow::Result<()>) {
    if let Err(e) = result {
        tracing::error!(
            error = format!("{e:#}"),
            "{what} changed but caches could not be told"
        );
    }
}
