//! One module per resource. A handler extracts, calls one function and shapes the
//! response; anything longer lives in a plain function outside actix.

pub mod api_keys;
pub mod dead_letters;
pub mod inbound;
pub mod ingest;
pub mod ops;
pub mod replays;
pub mod schedules;
pub mod sources;
pub mod status;
pub mod subscriptions;
pub mod tenants;
pub mod webhooks;
