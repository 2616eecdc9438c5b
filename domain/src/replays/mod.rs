//! Bulk replays (`/replays`): a filter over past deliveries, stored for the workers to
//! run in batches.
//!
//! - [`selection`]: what a replay matches, as the SQL the dry run counts with and the
//!   worker's runner walks;
//! - [`runs`]: the runner's side in Postgres: claiming, batches, the cursor;
//! - [`store`]: reading a replay's filter, the dry run, storing, listing, reading and
//!   cancelling replays;
//! - [`body`]: the body [`store`] reads, as the OpenAPI document shows it.
//!
//! Replaying one webhook (`POST /webhooks/{id}/replay`) is `webhooks::replay`.

pub mod body;
pub mod ops;
pub mod runs;
pub mod selection;
pub mod store;
