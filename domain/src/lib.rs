//! hookrelay's domains: what each resource is, which inputs it accepts, how it is stored
//! and what a change to it sets off. The api (HTTP, console, OpenAPI) and the worker
//! (loops) are front ends over this crate; it builds on `hookrelay-shared`
//! (configuration, Postgres, Redis, keys, queue, cache) and knows no web framework.
//!
//! One folder per domain, each owning its rows, its input parsing (with, in `body`, the
//! request bodies as the api's OpenAPI document shows them), its store functions and its
//! rules; each table is written from one of them:
//! - [`subscriptions`]: subscriptions (`subscriptions`), their custom headers and the
//!   cache both binaries look them up in.
//! - [`tenants`]: tenants (`tenants`) and the tenant [`tenants::Space`] every query is
//!   scoped to.
//! - [`api_keys`]: stored keys (`api_keys`), the caller of a request
//!   ([`api_keys::Principal`]) and the rules on which keys a key may make.
//! - [`schedules`]: schedules and their runs (`schedules`, `schedule_runs`), their
//!   timetables, and firing a run exactly once.
//! - [`replays`]: bulk replays (`replays`) and what they match.
//! - [`sources`]: verified inbound sources (`sources`, `source_rejections`).
//! - [`webhooks`]: webhooks, deliveries and attempts as rows, event types and filters,
//!   the status of one webhook, finding webhooks, replaying one, and the console's
//!   overview counts.
//! - [`dead_letters`]: stream entries the workers gave up on.
//! - [`outbox`]: webhooks the service raises itself, moved into the work stream.
//!
//! Across domains: [`refusal`] (the one error a domain function refuses with, and the
//! 422 field errors), [`fields`] (reading a JSON body's fields with every error at once)
//! and [`sql`] (queries built from the filters present); [`Services`] is what every write
//! action (`<domain>::ops`) is handed: the pool, Redis and the caches it tells.

pub mod api_keys;
pub mod dead_letters;
pub mod destinations;
pub mod fields;
pub mod outbox;
pub mod refusal;
pub mod replays;
pub mod schedules;
pub mod services;
pub mod sources;
pub mod sql;
pub mod subscriptions;
pub mod tenants;
pub mod webhooks;

pub use refusal::{FieldError, Refusal};
pub use services::Services;
