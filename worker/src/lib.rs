//! hookrelay's delivery worker: reads the work stream through a Redis consumer group,
//! delivers signed webhooks, retries on schedule and records every attempt. The design
//! — what is acknowledged when, and what each kind of crash leaves behind — is written
//! down in `docs/delivery.md`.
//!
//! Crate map, in the order an entry travels:
//! - [`startup`]: [`Worker::build`] and [`Worker::run_until_stopped`]; the metrics listener.
//! - [`partitions`]: which queue partitions this worker serves (active and draining).
//! - [`dispatch`]: the main loop — read rounds over the partitions, reclaim, heartbeat,
//!   one task per entry, ack.
//! - [`consumer`]: the Redis side of that loop, per partition (group, XREADGROUP,
//!   XPENDING + XCLAIM, XACK).
//! - [`fanout`]: a `webhook` entry — recipients, storing, first attempts.
//! - [`redeliver`]: a `retry` entry — checks, then the next attempt.
//! - [`pipeline`]: one attempt end to end, in crash-safe order; the shared [`pipeline::Context`].
//! - [`throttle`]: per-subscription rate limits (one Redis script), asked before a permit.
//! - [`delivery`]: the request and the typed outcome of one attempt (no Redis, no Postgres).
//! - [`http_client`]: the pooled client and the SSRF guard.
//! - [`retry`]: the retry schedule (sorted set) and its move script.
//! - [`delayed`]: webhooks ingested with `X-Deliver-At`, and their move script.
//! - [`mover`]: the loop that moves due retries and delayed webhooks into the stream.
//! - [`recorder`]: batched Postgres writes of webhooks, deliveries and attempts, with each
//!   batch's subscription health (the statements and the rule are the domain's:
//!   `hookrelay_domain::webhooks::batch`, `subscriptions::health`).
//! - [`outbox`]: moves the operational events the writer stored, and schedule runs, into
//!   the work stream.
//! - [`schedules`]: the runner of user schedules (cron and one-time), each tick once.
//! - [`metrics`]: the Prometheus series.
//! - [`scheduler`], [`purge`]: the retention purge on `PURGE_SCHEDULE`, once per tick in all.
//! - [`reconcile`]: deliveries Postgres has unfinished that Redis lost, queued again.
//! - [`replays`]: the bulk replay runner — batches from Postgres, attempts with a capped share.
//! - [`tick_lock`]: the Redis lock that gives each tick of a periodic job to one worker.

pub mod consumer;
pub mod delayed;
pub mod delivery;
pub mod destinations;
pub mod dispatch;
pub mod fanout;
pub mod http_client;
pub mod metrics;
pub mod mover;
pub mod outbox;
pub mod partitions;
pub mod pipeline;
pub mod purge;
pub mod reconcile;
pub mod recorder;
pub mod redeliver;
pub mod replays;
pub mod retry;
pub mod scheduler;
pub mod schedules;
pub mod startup;
pub mod throttle;
pub mod tick_lock;

pub use startup::Worker;
