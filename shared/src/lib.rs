//! hookrelay's shared library: what the api and the worker both need to agree on.
//!
//! - [`config`]: every environment variable, parsed once into [`config::Config`].
//! - [`db`], [`schema`], [`models`]: Postgres pool, embedded migrations, tables and rows.
//! - [`redis_client`]: Redis connections with bounded timeouts.
//! - [`keys`]: the only place Redis key names are built (with a Redis Cluster hash tag).
//! - [`queue`]: the work stream's entries and the atomic ingest script.
//! - [`cache`]: in-process caches of small tables (subscriptions, tenants, keys) kept
//!   coherent through Redis; [`tenancy`]: which tenant spaces a query covers.
//! - [`signing`]: Standard Webhooks signatures; [`targets`]: URL and address rules;
//!   [`networks`]: CIDR lists (`TRUSTED_PROXIES`, a source's `ip_allowlist`);
//!   [`events`]: event types and filters.
//! - [`replays`]: what a bulk replay matches (its batches' SQL, shared by the api's dry
//!   run and the worker's runner); [`sql`]: queries built from the filters present.
//! - [`time`]: contract timestamps; [`telemetry`]: logs and metrics; [`startup`]:
//!   waiting for dependencies.

pub mod cache;
pub mod config;
pub mod db;
pub mod dead_letters;
pub mod events;
pub mod headers;
pub mod keys;
pub mod models;
pub mod networks;
pub mod outbox;
pub mod queue;
pub mod redis_client;
pub mod replays;
pub mod schedules;
pub mod schema;
pub mod signing;
pub mod sql;
pub mod startup;
pub mod targets;
pub mod telemetry;
pub mod tenancy;
pub mod time;
pub mod timetable;

pub use config::Config;

/// The version in `user-agent: hookrelay/<version>`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
