//! Who may call the api (`API_KEYS`, `AUTH_DISABLED`) and which peers are proxies whose
//! `X-Forwarded-For` names the real client (`TRUSTED_PROXIES`).

use super::ConfigError;
use super::read::Vars;

#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `API_KEYS`, comma-separated bearer secrets (api). Empty when unset.
    pub api_keys: Vec<String>,
    /// `AUTH_DISABLED`, default `false` (api).
    pub disabled: bool,
    /// `TRUSTED_PROXIES`, comma-separated CIDRs, default none (api): a peer in one of
    /// these is a proxy, and a source's client address is the right-most
    /// `X-Forwarded-For` entry that is not.
    pub trusted_proxies: Vec<ip_network::IpNetwork>,
}

impl AuthConfig {
    pub(super) fn from_lookup(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            api_keys: vars
                .raw("API_KEYS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect(),
            disabled: vars.boolean("AUTH_DISABLED")?,
            trusted_proxies: vars.parse("TRUSTED_PROXIES", "", crate::networks::parse_list)?,
        })
    }
}
