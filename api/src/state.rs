//! What every handler can reach: connections, the caches, the ingest queue and the parts
//! of the configuration requests depend on. Built once in `startup`.

use std::sync::Arc;

use hookrelay_shared::cache::{Cache, SubscriptionCache};
use hookrelay_shared::db::DbPool;
use hookrelay_shared::keys::Keys;
use hookrelay_shared::models::Tenant;
use hookrelay_shared::queue::IngestQueue;
use hookrelay_shared::redis_client::Redis;

use crate::auth::credentials::Authenticator;
use crate::sources::Source;
use crate::sources::limit::Limiter;
use crate::sources::rejections::RejectionLog;

pub struct AppState {
    pub db: DbPool,
    /// Multiplexed, reconnecting: ingest and status commands pipeline over it.
    pub redis: Redis,
    pub keys: Keys,
    pub cache: Arc<SubscriptionCache>,
    /// Tenants by id: what `X-Tenant-Id` on ingest is checked against.
    pub tenants: Arc<Cache<Tenant>>,
    pub queue: IngestQueue,
    pub auth: Authenticator,
    pub max_payload_bytes: usize,
    pub allow_private_targets: bool,
    /// Sources by token: what `POST /in/<token>` is checked against.
    pub sources: Arc<Cache<Source>>,
    /// Sources' `rate_limit`s.
    pub limiter: Limiter,
    /// Sources' refused requests, on their way to Postgres.
    pub rejections: Arc<RejectionLog>,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` a source believes.
    pub trusted_proxies: Vec<ip_network::IpNetwork>,
    /// `CONSOLE_FRAME_ANCESTORS`: who may frame the console.
    pub console_frame_ancestors: String,
}
