//! Postgres (`DATABASE_URL`, both binaries). The URL must name a database: the binaries
//! create it when it is missing, so a URL without one is a configuration error, not an
//! outage to wait out.

use super::ConfigError;
use super::read::Vars;

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/hookrelay`.
    pub url: String,
}

impl DatabaseConfig {
    pub(super) fn from_lookup(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let url = vars.parse(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/hookrelay",
            |value| check_database_url(value).map(|()| value.to_owned()),
        )?;
        Ok(Self { url })
    }
}

/// A `postgres://` (or `postgresql://`) URL naming a database.
fn check_database_url(value: &str) -> Result<(), String> {
    let url = url::Url::parse(value).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(format!(
            "the scheme is {:?}; expected postgres:// or postgresql://",
            url.scheme()
        ));
    }
    if url.path().trim_start_matches('/').is_empty() {
        return Err("names no database (postgres://user@host:5432/<database>)".into());
    }
    Ok(())
}
