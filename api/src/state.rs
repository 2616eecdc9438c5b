//! What every handler can reach: connections, the caches, the ingest queue and the parts
//! of the configuration requests depend on. Built once in `startup`.

use std::sync::Arc;

use hookrelay_domain::Services;
use hookrelay_domain::sources::rejections::RejectionLog;

use crate::auth::credentials::Authenticator;
use crate::inbound::limit::Limiter;

pub struct AppState {
    /// Connections and caches, as the domain's write actions take them.
    pub services: Services,
    pub auth: Authenticator,
    /// Sources' `rate_limit`s.
    pub limiter: Limiter,
    /// Sources' refused requests, on their way to Postgres.
    pub rejections: Arc<RejectionLog>,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` a source believes.
    pub trusted_proxies: Vec<ip_network::IpNetwork>,
    /// `CONSOLE_FRAME_ANCESTORS`: who may frame the console.
    pub console_frame_ancestors: String,
}
