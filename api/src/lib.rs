//! hookrelay's HTTP API.
//!
//! - [`routes`]: the table of contents — every route and its handler.
//! - [`handlers`]: one module per resource; each handler extracts, calls one function
//!   and shapes the response.
//! - [`auth`]: every request's `Principal` (admin, or a tenant's key with permissions),
//!   checked against the route's `Need` before the handler runs.
//! - [`extract`]: path UUIDs, query integers, JSON object bodies; [`fields`]: reading
//!   body fields with every error at once.
//! - [`body`]: reading request bodies within one deadline (408 past it).
//! - [`error`]: `ApiError` → the contract's `{"detail": …}` bodies.
//! - [`subscriptions`], [`tenants`], [`api_keys`]: input validation and storage of each
//!   resource, with no actix types.
//! - [`ingest`], [`status`], [`webhooks`]: ingest checks and queueing, status assembly,
//!   and finding webhooks (`GET /webhooks`), likewise; [`replay`] replays one webhook,
//!   [`replays`] stores bulk replays for the workers to run; [`schedules`] stores
//!   schedules; [`sources`] verifies and ingests inbound webhooks (`POST /in/<token>`).
//! - [`console`]: the web console at `/console` (HTML pages over the same modules, with
//!   sessions and CSRF); [`overview`] counts what its first page shows.
//! - [`metrics`]: the table of the Prometheus series the api serves.
//! - [`openapi`]: the OpenAPI 3.1 document at `/openapi.json` (Swagger UI at `/docs`).
//! - [`state`], [`startup`]: what handlers can reach, and how the server is built and run.

pub mod auth;
pub mod body;
pub mod console;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod inbound;
pub mod ingest;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod startup;
pub mod state;
