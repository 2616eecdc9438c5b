//! Webhooks and what happened to them: the rows a worker stores (one webhook, a delivery
//! per subscription, an attempt per request), the event types they carry, and the reads
//! and actions over them.
//!
//! - [`row`], [`delivery`], [`attempt`]: the `webhooks`, `deliveries` and `attempts` rows,
//!   and [`batch`]: the statements a worker records a batch of them with;
//! - [`event_types`]: event types (and the ones hookrelay raises itself) and subscription
//!   event filters;
//! - [`ingest`]: admitting and queueing a webhook (the api reads its body between);
//! - [`status`]: `GET /status/{webhook_id}`, from Redis or Postgres;
//! - [`search`]: `GET /webhooks`, finding webhooks by event type, status, subscription
//!   and time;
//! - [`replay`]: replaying one webhook's deliveries;
//! - [`overview`]: what the console's overview counts;
//! - [`upkeep`]: the reconciler's and the retention purge's statements;
//! - [`body`]: the ingest headers and the replay body as the OpenAPI document shows them.

pub mod attempt;
pub mod batch;
pub mod body;
pub mod delivery;
pub mod event_types;
pub mod ingest;
pub mod overview;
pub mod replay;
pub mod row;
pub mod search;
pub mod status;
pub mod upkeep;

pub use attempt::{Attempt, Outcome};
pub use delivery::{Delivery, DeliveryStatus};
pub use row::NewWebhook;
