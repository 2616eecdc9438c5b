//! The api's Prometheus series (CONTRACT §8), served at its own `/metrics`
//! (`handlers::ops::metrics`). [`TABLE`] is the list: each entry's name, kind and help,
//! what `startup` describes and zero-initialises at start, and what `docs/operations.md`
//! must document (a test holds the doc to it). The call sites record under an entry's `name`.

use hookrelay_domain::sources::rejections;
use hookrelay_shared::telemetry::Metric;
use hookrelay_shared::{cache, queue};

/// Ingest requests, `{route, outcome}`: `targeted` or `fan_out`; `accepted`, `replayed`,
/// `rejected` or `unavailable` (`ingest::record`).
pub const INGEST: Metric = Metric::counter(
    "hookrelay_ingest_total",
    "Ingest requests by route (targeted, fan_out) and outcome (accepted, replayed, rejected, unavailable)",
);
/// Time to answer an ingest request, `{route}`.
pub const INGEST_DURATION: Metric = Metric::seconds(
    "hookrelay_ingest_duration_seconds",
    "Time to answer an ingest request",
);
/// The queue depths, read from Redis when `/metrics` is scraped.
pub const QUEUE_DEPTH: Metric = queue::DEPTH.with_help(
    "Stream entries ready and in flight, retries scheduled, delayed webhooks waiting, and dead letters (read at scrape time)",
);
/// Requests refused authentication or authorization, `{reason}` (`auth::FailureReason`).
pub const AUTH_FAILURES: Metric = Metric::counter(
    "hookrelay_auth_failures_total",
    "Requests refused by authentication or authorization, by reason (missing, unknown, expired, forbidden)",
);
/// Requests to sources, `{outcome}` (`inbound::OUTCOMES`).
pub const INBOUND_REQUESTS: Metric = Metric::counter(
    "hookrelay_inbound_requests_total",
    "Requests to sources (POST /in/<token>) by outcome: accepted, replayed, challenge, or the refusal",
);
/// Time spent verifying a source's request.
pub const INBOUND_VERIFICATION: Metric = Metric::seconds(
    "hookrelay_inbound_verification_seconds",
    "Time spent verifying a source's request (headers and signature, not reading the body)",
);
/// Time to answer a request to a source.
pub const INBOUND_DURATION: Metric = Metric::seconds(
    "hookrelay_inbound_duration_seconds",
    "Time to answer a request to a source",
);

/// Every series the api serves, including those recorded in `shared` and `domain` code:
/// subscription cache lookups and refusals the rejections list dropped.
pub const TABLE: &[Metric] = &[
    INGEST,
    INGEST_DURATION,
    QUEUE_DEPTH,
    cache::LOOKUPS,
    AUTH_FAILURES,
    INBOUND_REQUESTS,
    INBOUND_VERIFICATION,
    INBOUND_DURATION,
    rejections::DROPPED,
];
