//! hookrelay's HTTP API: a front end over `hookrelay-domain`. Routes, authentication,
//! request reading and HTTP answers live here; what a resource is, its rules and its
//! write actions are the domain's (`hookrelay_domain::<domain>::{store, ops}`), which the
//! handlers and the console call alike.
//!
//! - [`routes`]: the table of contents — every route, its handler and what it needs.
//! - [`handlers`]: one module per resource; each handler extracts, calls one domain
//!   function and shapes the response.
//! - [`auth`]: every request's `Principal` (admin, or a stored key with a reach and
//!   permissions), checked against the route's `Need` before the handler runs.
//! - [`extract`]: path UUIDs, query integers, paging, list spaces, JSON object bodies.
//! - [`body`]: reading request bodies within one deadline (408 past it).
//! - [`error`]: `ApiError` → the contract's `{"detail": …}` bodies; the one place a domain
//!   `Refusal` becomes an HTTP answer.
//! - [`ingest`]: ingest's HTTP side (the body, JSON, metrics) between the domain's admit
//!   and queue steps; [`inbound`]: one `POST /in/<token>` to a source, check by check,
//!   and the sources' rate limiter.
//! - [`console`]: the web console at `/console` (HTML pages over the same domain
//!   functions, with sessions and CSRF).
//! - [`metrics`]: the table of the Prometheus series the api serves.
//! - [`openapi`]: the OpenAPI 3.1 document at `/openapi.json` (Swagger UI at `/docs`),
//!   built once at start-up.
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
