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

/// The OpenAPI document served at `/openapi.json`, as JSON: built and serialized once,
/// on the first request (building it at start-up cost every api process ~3 MiB of
/// resident memory that only a client of `/openapi.json` needs), from the builder
/// `startup` hands over, so handlers neither build it nor depend on `crate::openapi`.
pub struct OpenApiJson {
    build: fn() -> utoipa::openapi::OpenApi,
    json: std::sync::OnceLock<serde_json::Result<bytes::Bytes>>,
}

impl OpenApiJson {
    pub const fn new(build: fn() -> utoipa::openapi::OpenApi) -> Self {
        Self {
            build,
            json: std::sync::OnceLock::new(),
        }
    }

    /// The serialized document (built on the first call); cloning it shares the bytes.
    pub fn bytes(&self) -> anyhow::Result<bytes::Bytes> {
        match self
            .json
            .get_or_init(|| serde_json::to_vec(&(self.build)()).map(bytes::Bytes::from))
        {
            Ok(json) => Ok(json.clone()),
            Err(e) => Err(anyhow::anyhow!(
                "the OpenAPI document does not serialize: {e}"
            )),
        }
    }
}
