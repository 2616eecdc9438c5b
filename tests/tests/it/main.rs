//! The end-to-end suite, as one test binary: one module per behaviour, all on the harness
//! (`hookrelay_tests`). One binary links once, where a binary per file linked the api,
//! the worker and the harness forty times over.
//!
//! nextest runs each test in a process of its own, as it did when every file was a binary.
//! Plain `cargo test` runs the whole binary in one process, so the tests that read the
//! process-wide metrics recorder exactly (`metrics_api`, `metrics_worker`, and
//! `tenants_api::auth_failures_are_counted_by_reason`) get processes of their own there:
//! `scripts/test.sh` runs them apart.
//!
//! - **domain**: [`domain_ops`] (the write actions called directly, no HTTP).
//! - **api**: [`api_operations`] (keys, probes, start-up and shutdown), [`api_robustness`]
//!   (misbehaving clients), [`api_schemathesis`] (fuzzing the OpenAPI document),
//!   [`openapi_document`] (the document against the route table), [`docs_guide`] (the
//!   API guide and links in the docs).
//! - **ingest**: [`ingest_api`], [`ingest_outage`] (Redis away), [`delayed_ingest`]
//!   (`X-Deliver-At`).
//! - **delivery**: [`delivery_basics`], [`delivery_fanout`], [`delivery_changes`]
//!   (subscription changes mid-delivery), [`delivery_failures`] (retries and errors),
//!   [`delivery_responses`] (what a receiver's answer makes of an attempt),
//!   [`delivery_throttle`] (rate limits), [`delivery_backlog`] (entry slots),
//!   [`delivery_crashes`] (SIGKILL, SIGTERM, lost groups), [`delivery_outage`] (Postgres
//!   and Redis away), [`delivery_reconcile`] (what Redis lost), [`delivery_late_entries`],
//!   [`delivery_dead_letters`], [`delivery_logs`] (the attempt log writer),
//!   [`destinations`] (RabbitMQ, NATS, Kafka, Redis, RQ, S3, MQTT, files and the log).
//! - **scale-out**: [`partitions`] (the partitioned queue on one Redis), [`cluster`] (the
//!   service on a Redis Cluster of its own).
//! - **subscriptions**: [`subscriptions_api`], [`subscription_health`] (auto-disable,
//!   Retry-After, rotation, test sends).
//! - **webhooks**: [`status_api`], [`webhooks_search`], [`webhooks_replay`],
//!   [`replays_bulk`].
//! - **tenants**: [`tenants_api`] (tenants and stored keys), [`tenants_delivery`],
//!   [`tenants_isolation`] (every route against tenant keys).
//! - **schedules and sources**: [`schedules`], [`sources`] (inbound webhooks).
//! - **purge**: [`purge_retention`], [`purge_plans`] (the purge's query plans).
//! - **metrics**: [`metrics_api`], [`metrics_worker`], [`metrics_docs`] (`docs/operations.md`
//!   against the processes' metric tables).
//! - **operators**: [`cli`], [`console`] (headless Chromium).
//! - **deployment**: [`startup_behaviour`] (the real binaries starting and stopping),
//!   [`containers_consistency`] (Dockerfile, compose and the Render blueprint).

mod api_operations;
mod api_robustness;
mod api_schemathesis;
mod docs_guide;
mod openapi_document;

mod delayed_ingest;
mod domain_ops;
mod ingest_api;
mod ingest_outage;

mod cluster;
mod delivery_backlog;
mod delivery_basics;
mod delivery_changes;
mod delivery_crashes;
mod delivery_dead_letters;
mod delivery_failures;
mod delivery_fanout;
mod delivery_late_entries;
mod delivery_logs;
mod delivery_outage;
mod delivery_reconcile;
mod delivery_responses;
mod delivery_throttle;
mod destinations;
mod partitions;

mod subscription_health;
mod subscriptions_api;

mod replays_bulk;
mod status_api;
mod webhooks_replay;
mod webhooks_search;

mod tenants_api;
mod tenants_delivery;
mod tenants_isolation;

mod schedules;
mod sources;

mod purge_plans;
mod purge_retention;

mod metrics_api;
mod metrics_docs;
mod metrics_worker;

mod cli;
mod console;

mod containers_consistency;
mod startup_behaviour;
