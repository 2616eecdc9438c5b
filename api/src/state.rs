//! What every handler can reach: connections, the caches, the ingest queue and the parts
//! of the configuration requests depend on, and the OpenAPI document. Built once in
//! `startup`.

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

/// The OpenAPI document served at `/openapi.json`, as JSON: built and serialized once in
/// `startup`, so handlers neither build it nor depend on `crate::openapi`.
pub struct OpenApiJson(bytes::Bytes);

impl OpenApiJson {
    pub fn new(document: &utoipa::openapi::OpenApi) -> serde_json::Result<Self> {
        serde_json::to_vec(document).map(|json| Self(json.into()))
    }

    /// The serialized document; cloning it shares the bytes.
    pub fn bytes(&self) -> bytes::Bytes {
        self.0.clone()
    }
}
