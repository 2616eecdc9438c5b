//! The web console's embedding policy (`CONSOLE_FRAME_ANCESTORS`, api), for operators who
//! show the console inside their own customer portal.

use super::ConfigError;
use super::read::{Vars, invalid};

#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// `CONSOLE_FRAME_ANCESTORS`, default `'none'` (api): the console's CSP
    /// `frame-ancestors` sources, space-separated (`https://portal.example.com`), for
    /// operators who embed the console as a customer portal. With `'none'` the console
    /// also sends `X-Frame-Options: DENY`.
    pub frame_ancestors: String,
}

impl ConsoleConfig {
    pub(super) fn from_lookup(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let value = vars.text("CONSOLE_FRAME_ANCESTORS", "'none'");
        // Refused as normalised (runs of whitespace made one space), which is how the
        // value would be sent in the header.
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        if value.is_empty() || value.contains([';', ',']) || !value.is_ascii() {
            return Err(invalid(
                "CONSOLE_FRAME_ANCESTORS",
                &value,
                "expected CSP sources separated by spaces, such as 'self' https://portal.example.com"
                    .into(),
            ));
        }
        Ok(Self {
            frame_ancestors: value,
        })
    }
}
