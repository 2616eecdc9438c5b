//! One request to `POST /in/<token>` (a source's inbound URL), checked in this order, with
//! the per-source rate limit in [`limit`]:
//!
//! 1. 404 `Source not found`: no source has the token, or it is inactive;
//! 2. 403: the client address is not in the source's `ip_allowlist`;
//! 3. 429 with `Retry-After`: over the source's `rate_limit`;
//! 4. 401 naming the failed check: everything the verification can judge from the
//!    headers (a missing or malformed signature header, a stale timestamp, a wrong token);
//! 5. 413 over `MAX_PAYLOAD_BYTES` (408 for a body that does not arrive in time);
//! 6. 401: the signature over the raw body;
//! 7. the targeted subscription, if the source has one: 404 / 409 as for ingest;
//! 8. 202 once queued, 503 when Redis cannot take it.
//!
//! A request whose signature cannot be checked before its body is read is refused for
//! its size first: the signature covers the whole body, and reading an oversized body
//! from an unauthenticated client just to refuse it would let anyone make the api read
//! without limit. Every refusal of a known source goes into its rejections.
//!
//! No step queries Postgres: the source comes from the cache, the rate limit is one Redis
//! script (only for sources that have one), and the webhook goes into Redis through the
//! same script as `POST /ingest`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::{CONTENT_TYPE, HeaderMap};
use bytes::Bytes;
use futures::Stream;
use hookrelay_domain::tenants::space::Space;
use hookrelay_domain::webhooks::event_types::is_visible_ascii_token;
use hookrelay_shared::networks;
use hookrelay_shared::payload::Envelope;
use hookrelay_shared::queue::{Enqueued, IngestedWebhook};
use hookrelay_shared::time;
use ip_network::IpNetwork;

pub mod limit;

use hookrelay_domain::sources::rejections::NewRejection;
use hookrelay_domain::sources::verification::Verification;
use hookrelay_domain::sources::verify::{HeaderValue, Headers};
use hookrelay_domain::sources::{NOT_FOUND, Source};
use limit::{Verdict, retry_after_secs};

use crate::error::ApiError;
use hookrelay_domain::webhooks::ingest::{self as admission, BACKEND_TIMEOUT};

use crate::ingest::{self, Body};
use crate::state::AppState;

/// The request's headers as the domain's verifiers and event-type rules read them.
struct RequestHeaders<'a>(&'a HeaderMap);

impl Headers for RequestHeaders<'_> {
    fn single(&self, name: &str) -> HeaderValue<'_> {
        let mut values = self.0.get_all(name);
        match (values.next(), values.next()) {
            (None, _) => HeaderValue::Missing,
            (Some(value), None) => HeaderValue::One(value.as_bytes()),
            (Some(_), Some(_)) => HeaderValue::Repeated,
        }
    }
}

/// What an accepted request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Queued (or a repeat of a provider's delivery id already queued).
    Queued(Enqueued),
    /// Slack's `url_verification`: answered with its challenge, nothing queued.
    Challenge(String),
}

/// One inbound request as it arrived.
pub struct Request<'a, S> {
    pub token: &'a str,
    /// The socket peer (`None` only for a request that came through no socket, in tests).
    pub peer: Option<IpAddr>,
    pub headers: &'a HeaderMap,
    pub body: Body<S>,
}

/// Checks, reads and queues one inbound request; records a refusal of a known source.
pub async fn receive<S, E>(state: &AppState, request: Request<'_, S>) -> Result<Answer, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let received_at = time::now();
    let client = request.peer.map(|peer| {
        let forwarded = request
            .headers
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok());
        client_address(peer, forwarded, &state.trusted_proxies)
    });
    let source = match find(state, request.token).await {
        Ok(source) => source,
        Err(error) => {
            let result = Err(error);
            record_outcome(&result);
            return result;
        }
    };
    let result = checked(state, &source, client, request).await;
    if let Err(error) = &result {
        reject(state, &source, client, received_at, error);
    }
    record_outcome(&result);
    result
}

/// The active source with this token: from the cache, which refreshes once for a token
/// it does not know (a source created a moment ago on another api process).
async fn find(state: &AppState, token: &str) -> Result<Arc<Source>, ApiError> {
    let token = token.to_owned();
    let lookup = state.services.sources.get_current(&token);
    match tokio::time::timeout(BACKEND_TIMEOUT, lookup).await {
        Ok(Ok(Some(source))) => Ok(source),
        Ok(Ok(None)) => Err(ApiError::NotFound(NOT_FOUND)),
        Ok(Err(e)) => Err(ApiError::unavailable(SOURCES_UNAVAILABLE, e)),
        Err(elapsed) => Err(ApiError::unavailable(SOURCES_UNAVAILABLE, elapsed)),
    }
}

const SOURCES_UNAVAILABLE: &str = "Sources are unavailable. Retry later.";

async fn checked<S, E>(
    state: &AppState,
    source: &Source,
    client: Option<IpAddr>,
    request: Request<'_, S>,
) -> Result<Answer, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    if !source.is_active {
        return Err(ApiError::NotFound(NOT_FOUND));
    }
    if let (Some(allowed), Some(client)) = (&source.ip_allowlist, client)
        && !networks::contains(allowed, client)
    {
        return Err(ApiError::Forbidden(format!(
            "Client address {client} is not allowed"
        )));
    }
    if let Some(limit) = source.rate_limit {
        let mut redis = state.services.redis.clone();
        let check = state.limiter.check(&mut redis, source.id, limit);
        match tokio::time::timeout(BACKEND_TIMEOUT, check).await {
            Ok(Ok(Verdict::Accept)) => {}
            Ok(Ok(Verdict::Refuse(wait))) => {
                return Err(ApiError::TooManyRequests {
                    detail: format!(
                        "Rate limit of {} requests per {} s exceeded",
                        limit.requests, limit.per_seconds
                    ),
                    retry_after_secs: retry_after_secs(wait),
                });
            }
            Ok(Err(e)) => return Err(ApiError::unavailable(QUEUE_UNAVAILABLE, e)),
            Err(elapsed) => return Err(ApiError::unavailable(QUEUE_UNAVAILABLE, elapsed)),
        }
    }
    let now = time::now().timestamp();
    let clock = Instant::now();
    let pending = source
        .verification
        .check_headers(&RequestHeaders(request.headers), now)
        .map_err(|refusal| ApiError::Unverified(refusal.to_string()))?;
    let mut verifying = clock.elapsed();
    let body = ingest::read_body(request.body, state.services.max_payload_bytes).await?;
    let clock = Instant::now();
    let verified = pending.check_body(&body);
    verifying += clock.elapsed();
    metrics::histogram!(crate::metrics::INBOUND_VERIFICATION.name).record(verifying.as_secs_f64());
    verified.map_err(|refusal| ApiError::Unverified(refusal.to_string()))?;

    if let Some(challenge) = slack_challenge(&source.verification, &body) {
        return Ok(Answer::Challenge(challenge));
    }
    let tenant_id = match source.subscription_id {
        Some(id) => {
            admission::check_subscription(&state.services, Space::of(source.tenant_id), id).await?
        }
        None => source.tenant_id,
    };
    let envelope = Envelope {
        content_type: request
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        headers: forwarded_headers(&source.forward_headers, request.headers),
    };
    let event_type = source
        .event_type
        .as_ref()
        .and_then(|rule| rule.event_type(&RequestHeaders(request.headers), &body));
    let idempotency_key = delivery_id(&source.verification, request.headers)
        .map(|id| format!("source:{}:{id}", source.id));
    let webhook = IngestedWebhook {
        envelope: Some(envelope),
        ..admission::new_webhook(
            &state.services.keys,
            idempotency_key.as_deref(),
            source.subscription_id,
            event_type,
            tenant_id,
            body,
        )
    };
    let enqueued =
        admission::queue(&state.services, &webhook, idempotency_key.as_deref(), None).await?;
    Ok(Answer::Queued(enqueued))
}

const QUEUE_UNAVAILABLE: &str =
    "The queue is unavailable; the webhook was not accepted. Retry later.";

/// The client address: the socket peer, unless the peer is a trusted proxy; then the
/// right-most `X-Forwarded-For` entry that is not one. Entries are read right to left
/// because each proxy appends the address it saw: what lies left of the first untrusted
/// entry was written by the client and proves nothing. An entry that does not parse
/// stops the walk at the last trusted hop (a proxy writing garbage is not believed
/// either); a chain of trusted proxies only yields its left-most entry.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[IpNetwork],
) -> IpAddr {
    let peer = networks::canonical(peer);
    if !networks::contains(trusted, peer) {
        return peer;
    }
    let entries: Vec<&str> = forwarded_for
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(address) = parse_forwarded(entry) else {
            return client;
        };
        client = networks::canonical(address);
        if !networks::contains(trusted, client) {
            return client;
        }
    }
    client
}

/// An `X-Forwarded-For` entry: an address, or an address with a port (`1.2.3.4:80`,
/// `[2001:db8::1]:443`), as some proxies write them.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// The values of the headers a source forwards, in the order they arrived.
fn forwarded_headers(names: &[String], headers: &HeaderMap) -> Vec<(String, String)> {
    names
        .iter()
        .flat_map(|name| {
            headers
                .get_all(name.as_str())
                .filter_map(|value| value.to_str().ok())
                .map(|value| (name.clone(), value.to_owned()))
        })
        .collect()
}

/// The provider's own id of this delivery, where it sends one: a repeat of it (the
/// provider retrying after a lost answer) queues nothing new, as an `Idempotency-Key`.
fn delivery_id<'h>(verification: &Verification, headers: &'h HeaderMap) -> Option<&'h str> {
    let header = match verification {
        Verification::Github { .. } => "x-github-delivery",
        Verification::Shopify { .. } => "x-shopify-webhook-id",
        Verification::StandardWebhooks { .. } => "webhook-id",
        _ => "idempotency-key",
    };
    headers
        .get(header)
        .and_then(|v| v.to_str().ok())
        .filter(|id| id.len() <= 200 && is_visible_ascii_token(id))
}

/// Slack's `url_verification` request (sent when an Events API URL is set up): its
/// `challenge`, which must be answered as is.
fn slack_challenge(verification: &Verification, body: &[u8]) -> Option<String> {
    if !matches!(verification, Verification::Slack { .. }) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    (value.get("type")?.as_str()? == "url_verification")
        .then(|| value.get("challenge")?.as_str().map(str::to_owned))
        .flatten()
}

/// Notes a refusal in the source's rejections (written off the request path).
fn reject(
    state: &AppState,
    source: &Source,
    client: Option<IpAddr>,
    received_at: chrono::DateTime<chrono::Utc>,
    error: &ApiError,
) {
    use actix_web::ResponseError as _;
    let reason = match error {
        ApiError::Unavailable { detail, cause } => format!("{detail} ({cause:#})"),
        other => other.to_string(),
    };
    tracing::info!(source_id = %source.id, status = error.status_code().as_u16(), reason = %reason, "inbound request refused");
    state.rejections.record(NewRejection {
        source_id: source.id,
        received_at,
        status: error.status_code().as_u16(),
        reason,
        remote_addr: client.map_or_else(|| "unknown".into(), |c| c.to_string()),
    });
}

/// Every `outcome` label value of [`crate::metrics::INBOUND_REQUESTS`].
pub const OUTCOMES: &[&str] = &[
    "accepted",
    "replayed",
    "challenge",
    "not_found",
    "forbidden",
    "rate_limited",
    "unverified",
    "too_large",
    "timeout",
    "subscription_inactive",
    "unavailable",
];

/// The `outcome` label of [`crate::metrics::INBOUND_REQUESTS`]: one per way a request ends
/// (never the source, which would make one series per source).
pub fn outcome(result: &Result<Answer, ApiError>) -> &'static str {
    match result {
        Ok(Answer::Queued(Enqueued::New(_))) => "accepted",
        Ok(Answer::Queued(Enqueued::Replayed(_))) => "replayed",
        Ok(Answer::Challenge(_)) => "challenge",
        Err(ApiError::NotFound(_)) => "not_found",
        Err(ApiError::Forbidden(_)) => "forbidden",
        Err(ApiError::TooManyRequests { .. }) => "rate_limited",
        Err(ApiError::Unverified(_)) => "unverified",
        Err(ApiError::PayloadTooLarge(_)) => "too_large",
        Err(ApiError::RequestTimeout(_)) => "timeout",
        Err(ApiError::Conflict(_)) => "subscription_inactive",
        Err(_) => "unavailable",
    }
}

fn record_outcome(result: &Result<Answer, ApiError>) {
    metrics::counter!(crate::metrics::INBOUND_REQUESTS.name, "outcome" => outcome(result))
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn proxies(list: &str) -> Vec<IpNetwork> {
        networks::parse_list(list).expect("valid")
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = proxies("10.0.0.0/8");
        assert_eq!(
            client_address(ip("203.0.113.9"), ["192.30.252.1"].into_iter(), &trusted),
            ip("203.0.113.9"),
            "a spoofed X-Forwarded-For from an untrusted peer is ignored"
        );
        assert_eq!(
            client_address(ip("203.0.113.9"), std::iter::empty(), &[]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_entry_is_the_client() {
        let trusted = proxies("10.0.0.0/8,2001:db8::/32");
        assert_eq!(
            client_address(
                ip("10.0.0.2"),
                ["1.1.1.1, 198.51.100.7", "10.0.0.9"].into_iter(),
                &trusted
            ),
            ip("198.51.100.7"),
            "what the client wrote (1.1.1.1) is left of the real address"
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), ["10.0.0.3, 10.0.0.4"].into_iter(), &trusted),
            ip("10.0.0.3"),
            "only proxies: the left-most"
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), std::iter::empty(), &trusted),
            ip("10.0.0.2"),
            "no header: the peer"
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), ["nonsense, 10.0.0.5"].into_iter(), &trusted),
            ip("10.0.0.5"),
            "garbage stops the walk at the last trusted hop"
        );
        assert_eq!(
            client_address(
                ip("2001:db8::1"),
                ["198.51.100.7:4711", "[2001:db8::2]:443"].into_iter(),
                &trusted
            ),
            ip("198.51.100.7"),
            "entries with ports"
        );
    }

    #[test]
    fn ipv4_mapped_peers_are_ipv4() {
        let trusted = proxies("10.0.0.0/8");
        assert_eq!(
            client_address(
                ip("::ffff:10.0.0.2"),
                ["::ffff:198.51.100.7"].into_iter(),
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(ip("::ffff:203.0.113.9"), std::iter::empty(), &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn only_slack_sources_answer_challenges() {
        let slack = Verification::Slack {
            secret: "s".into(),
            tolerance: 300,
        };
        let body = br#"{"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "token": "x"}"#;
        assert_eq!(
            slack_challenge(&slack, body).as_deref(),
            Some("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
        );
        assert_eq!(
            slack_challenge(&slack, br#"{"type": "event_callback"}"#),
            None
        );
        assert_eq!(slack_challenge(&Verification::None, body), None);
    }
}
