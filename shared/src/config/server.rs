//! The api's HTTP server (`HOST`, `PORT`, `MAX_PAYLOAD_BYTES`): where it listens and how
//! large an ingested body may be.

use super::ConfigError;
use super::read::Vars;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `HOST`, default `0.0.0.0` (api).
    pub host: String,
    /// `PORT`, default `8080` (api).
    pub port: u16,
    /// `MAX_PAYLOAD_BYTES`, default `1048576` (api).
    pub max_payload_bytes: usize,
}

impl ServerConfig {
    pub(super) fn from_lookup(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let port = vars.number::<u16>("PORT", "8080")?;
        let max_payload_bytes = vars.number_where::<usize>(
            "MAX_PAYLOAD_BYTES",
            "1048576",
            |n| *n > 0,
            "expected a positive number of bytes",
        )?;
        Ok(Self {
            host: vars.text("HOST", "0.0.0.0"),
            port,
            max_payload_bytes,
        })
    }
}
