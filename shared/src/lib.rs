//! hookrelay's infrastructure: what every process needs and no domain owns. The rules of
//! the domains (subscriptions, tenants, schedules, …) are in `hookrelay-domain`, which
//! builds on this crate; nothing here knows a domain's rows.
//!
//! - [`config`]: every environment variable, parsed once into [`config::Config`], in
//!   sections by concern (`config.redis.url`, `config.delivery.timeout`).
//! - [`db`], [`schema`]: the Postgres pool with bounded statements, embedded migrations,
//!   and the tables (generated).
//! - [`redis_client`]: Redis connections with bounded timeouts.
//! - [`keys`]: the only place Redis key, stream, group and cache names are built (with a
//!   Redis Cluster hash tag).
//! - [`queue`]: the work stream's entries, the atomic ingest script and the retry set;
//!   [`payload`]: the bytes and envelope a webhook carries through it.
//! - [`cache`]: in-process caches of small tables, kept coherent through Redis (what a row
//!   type must say to be cached: [`cache::Cached`]).
//! - [`signing`]: Standard Webhooks signatures; [`targets`]: URL and address rules;
//!   [`networks`]: CIDR lists (`TRUSTED_PROXIES`, a source's `ip_allowlist`).
//! - [`time`]: contract timestamps; [`telemetry`]: logs and metrics; [`startup`]:
//!   waiting for dependencies.
//! - [`text_enum`](mod@text_enum): the one macro for enums whose values each have a
//!   fixed text (stored, in JSON, as metric labels); [`const_text`]: constants (SQL)
//!   joined from other constants.

pub mod cache;
pub mod config;
pub mod const_text;
pub mod db;
pub mod keys;
pub mod networks;
pub mod payload;
pub mod queue;
pub mod redis_client;
pub mod schema;
pub mod signing;
pub mod startup;
pub mod targets;
pub mod telemetry;
pub mod text_enum;
pub mod time;

pub use config::Config;

/// The version in `user-agent: hookrelay/<version>`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
