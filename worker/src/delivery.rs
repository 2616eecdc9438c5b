//! One delivery attempt: build the signed request (CONTRACT §5), send it, and turn what
//! happened into a typed outcome. Nothing here touches Redis or Postgres, so the rules —
//! which responses count as success, what the error text says, when the next retry is
//! due — are plain functions tested directly.

use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hookrelay_domain::subscriptions::DeliveryMethod;
use hookrelay_domain::subscriptions::Subscription;
use hookrelay_domain::webhooks::Attempt;
use hookrelay_domain::webhooks::Outcome;
use hookrelay_domain::webhooks::attempt::RESPONSE_BODY_LIMIT;
use hookrelay_shared::payload::Envelope;
use hookrelay_shared::{signing, time};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use uuid::Uuid;

use crate::http_client::{self, DnsFailure, RefusedAddress, TargetCheck};

/// What one attempt sends.
pub struct AttemptRequest<'a> {
    pub webhook_id: Uuid,
    pub event_type: Option<&'a str>,
    pub body: &'a Bytes,
    /// A sourced webhook's content type and forwarded headers; `None`: JSON.
    pub envelope: Option<&'a Envelope>,
    /// The subscription as it is now: its URL, secret and headers apply to this attempt.
    pub subscription: &'a Subscription,
    /// 1-based.
    pub attempt: u32,
}

/// How the HTTP exchange ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange {
    /// The receiver answered (any status).
    Response { status: u16, body: String },
    /// The receiver answered `status`, but its body did not arrive (the whole-request
    /// timeout ran out while it trickled in, the connection broke): a failed attempt.
    /// `body` is what arrived before.
    Incomplete {
        status: u16,
        body: String,
        error: String,
    },
    /// No usable answer. `retryable: false` for refused targets, which fail at once.
    Failed { error: String, retryable: bool },
    /// A destination other than HTTP took the message: `ack` says how (the broker's
    /// confirm, the stream entry, the object's ETag).
    Acknowledged { ack: String },
}

/// One finished attempt, before it is judged.
#[derive(Debug, Clone)]
pub struct AttemptReport {
    pub target_url: String,
    /// What a 429 or 503 asked for in `Retry-After`, from when it arrived (capped at
    /// [`MAX_RETRY_AFTER`]; a value in the past or not understood is ignored).
    pub retry_after: Option<Duration>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration: Duration,
    pub exchange: Exchange,
}

/// What an attempt means for its delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Failed; the next attempt is due at `at`.
    Retry {
        at: DateTime<Utc>,
        reason: String,
    },
    /// Failed, and final.
    Failed {
        reason: String,
    },
}

impl DeliveryOutcome {
    /// The attempt object's `outcome`.
    pub fn attempt_outcome(&self) -> Outcome {
        match self {
            Self::Delivered => Outcome::Success,
            Self::Retry { .. } => Outcome::FailedAttempt,
            Self::Failed { .. } => Outcome::Failure,
        }
    }
}

/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A `Retry-After` value (delay-seconds or an HTTP-date, RFC 9110 §10.2.3) as a delay
/// from `now`, at most [`MAX_RETRY_AFTER`]. `None` for garbage or a date already past.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still "a very long time".
        Duration::from_secs(value.parse().unwrap_or(u64::MAX))
    } else {
        httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .ok()?
    };
    (!delay.is_zero()).then(|| delay.min(MAX_RETRY_AFTER))
}

/// Sends one attempt. Never fails: every failure is an `Exchange::Failed`.
pub async fn send(
    client: &reqwest::Client,
    request: &AttemptRequest<'_>,
    timeout: Duration,
    allow_private_targets: bool,
) -> AttemptReport {
    let target_url = request.subscription.locator();
    let started_at = time::now();
    let clock = Instant::now();
    let mut retry_after = None;
    let exchange = match http_client::check_target(&target_url, allow_private_targets) {
        Err(TargetCheck::Refused(refused)) => Exchange::Failed {
            error: refused.to_string(),
            retryable: false,
        },
        Err(TargetCheck::Invalid(reason)) => Exchange::Failed {
            error: format!("invalid target URL: {reason}"),
            retryable: false,
        },
        Ok(()) => {
            let method = request.subscription.method();
            let headers = build_headers(request, started_at.timestamp());
            let mut builder = client
                .request(http_method(method), &target_url)
                .headers(headers)
                .timeout(timeout);
            if method.sends_body() {
                builder = builder.body(request.body.clone());
            }
            match builder.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if matches!(status, 429 | 503) {
                        retry_after = response
                            .headers()
                            .get(reqwest::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
                    }
                    match read_prefix(response).await {
                        Ok(body) => Exchange::Response { status, body },
                        Err((body, e)) => Exchange::Incomplete {
                            status,
                            body,
                            error: describe_error(&e, timeout),
                        },
                    }
                }
                Err(e) => classify_error(&e, timeout),
            }
        }
    };
    AttemptReport {
        target_url,
        retry_after,
        started_at,
        finished_at: time::now(),
        duration: clock.elapsed(),
        exchange,
    }
}

fn http_method(method: DeliveryMethod) -> reqwest::Method {
    match method {
        DeliveryMethod::Post => reqwest::Method::POST,
        DeliveryMethod::Put => reqwest::Method::PUT,
        DeliveryMethod::Patch => reqwest::Method::PATCH,
        DeliveryMethod::Get => reqwest::Method::GET,
        DeliveryMethod::Delete => reqwest::Method::DELETE,
    }
}

/// The headers of CONTRACT §5, then a sourced webhook's forwarded ones, then the
/// subscription's own. A method that sends no body signs an empty one
/// (`<id>.<timestamp>.`). During a secret rotation's grace period the signature header
/// carries both signatures, the new secret's first. A sourced webhook goes out with the
/// content type it came in with (none if it had none).
pub fn build_headers(request: &AttemptRequest<'_>, timestamp: i64) -> HeaderMap {
    let id = request.webhook_id.to_string();
    let sends_body = request.subscription.sends_body();
    let body: &[u8] = if sends_body { request.body } else { b"" };
    let sign = |secret: &str| signing::sign(&signing::signing_key(secret), &id, timestamp, body);
    let mut signature = sign(&request.subscription.secret);
    let signed_at = DateTime::from_timestamp(timestamp, 0).unwrap_or_default();
    if let Some(previous) = request.subscription.previous_secret_at(signed_at) {
        signature = format!("{signature} {}", sign(previous));
    }
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    if sends_body {
        match request.envelope {
            None => set("content-type", "application/json"),
            Some(envelope) => {
                if let Some(content_type) = &envelope.content_type {
                    set("content-type", content_type);
                }
            }
        }
    }
    set("webhook-id", &id);
    set("webhook-timestamp", &timestamp.to_string());
    set("webhook-signature", &signature);
    if let Some(event_type) = request.event_type {
        set("x-event-type", event_type);
    }
    set(
        "user-agent",
        &format!("hookrelay/{}", hookrelay_shared::VERSION),
    );
    let forwarded = request
        .envelope
        .into_iter()
        .flat_map(|e| e.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    for (name, value) in forwarded.chain(request.subscription.header_pairs()) {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            continue;
        };
        // The api refuses these names; never let a stored one override what we sign.
        if hookrelay_domain::subscriptions::headers::is_reserved(name.as_str()) {
            continue;
        }
        headers.insert(name, value);
    }
    headers
}

/// Reads at most `RESPONSE_BODY_LIMIT` bytes of the body, never buffering more (the rest
/// of a longer body is not read, and is no error). A read that fails before (the client's
/// whole-request timeout covers the body too) is an error, with what arrived so far.
async fn read_prefix(mut response: reqwest::Response) -> Result<String, (String, reqwest::Error)> {
    let mut prefix = Vec::new();
    while prefix.len() < RESPONSE_BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => prefix.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => return Err((truncate_body(&prefix), e)),
        }
    }
    Ok(truncate_body(&prefix))
}

/// The first `RESPONSE_BODY_LIMIT` bytes as text: a character cut at the limit is
/// dropped, invalid bytes and NUL become U+FFFD, and the result never exceeds the limit.
pub fn truncate_body(bytes: &[u8]) -> String {
    let mut prefix = &bytes[..bytes.len().min(RESPONSE_BODY_LIMIT)];
    if let Err(e) = std::str::from_utf8(prefix)
        && e.error_len().is_none()
    {
        prefix = &prefix[..e.valid_up_to()];
    }
    let mut text = storable_text(String::from_utf8_lossy(prefix).into_owned());
    if text.len() > RESPONSE_BODY_LIMIT {
        let mut end = RESPONSE_BODY_LIMIT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Text from outside (a receiver's body, an error message that may quote one) as a
/// Postgres `text` column takes it: NUL is the one character `text` cannot hold, and a
/// row with one is refused, so it becomes U+FFFD.
pub fn storable_text(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

/// A request that got no usable answer.
fn classify_error(err: &reqwest::Error, timeout: Duration) -> Exchange {
    Exchange::Failed {
        error: describe_error(err, timeout),
        // A refused address fails at once; everything else may work next time.
        retryable: http_client::find_cause::<RefusedAddress>(err).is_none(),
    }
}

/// Says what went wrong, in the words an operator would use.
fn describe_error(err: &reqwest::Error, timeout: Duration) -> String {
    if let Some(refused) = http_client::find_cause::<RefusedAddress>(err) {
        return refused.to_string();
    }
    if err.is_timeout() {
        return format!("timed out after {}", human_duration(timeout));
    }
    if let Some(dns) = http_client::find_cause::<DnsFailure>(err) {
        return dns.to_string();
    }
    if http_client::has_io_kind(err, std::io::ErrorKind::ConnectionRefused) {
        return "connection refused".into();
    }
    if http_client::has_io_kind(err, std::io::ErrorKind::ConnectionReset) {
        return "connection reset by the receiver".into();
    }
    if err.is_body() || err.is_decode() {
        // reqwest and hyper each wrap the cause in words of their own; only the innermost
        // says what happened (`end of file before message length reached`).
        let mut root: &(dyn std::error::Error + 'static) = err;
        while let Some(source) = root.source() {
            root = source;
        }
        return format!("response body failed: {root}");
    }
    let chain = error_chain(err);
    if err.is_connect() {
        return format!("connection failed: {chain}");
    }
    format!("request failed: {chain}")
}

/// `outer: inner: root`, without repeating the same text twice.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// `10s`, `1500ms`: how durations read in error texts.
pub fn human_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Judges a finished attempt: success, a retry at `finished_at + schedule[n-1]` after
/// failed attempt n while the schedule lasts (or later, when the receiver's
/// `Retry-After` asks for more), or final failure. A 410 Gone is final at once.
pub fn decide(
    exchange: &Exchange,
    attempt: u32,
    finished_at: DateTime<Utc>,
    schedule: &[Duration],
    retry_after: Option<Duration>,
) -> DeliveryOutcome {
    let reason = match exchange {
        Exchange::Response { status, .. } if (200..300).contains(status) => {
            return DeliveryOutcome::Delivered;
        }
        Exchange::Acknowledged { .. } => return DeliveryOutcome::Delivered,
        Exchange::Response { status, .. } if (300..400).contains(status) => {
            format!("HTTP {status} (redirects are not followed)")
        }
        Exchange::Response { status: 410, .. } => {
            return DeliveryOutcome::Failed {
                reason: "HTTP 410 (Gone: the receiver asked for no more deliveries)".into(),
            };
        }
        Exchange::Response { status, .. } => format!("HTTP {status}"),
        Exchange::Incomplete { error, .. } => error.clone(),
        Exchange::Failed {
            error,
            retryable: false,
        } => {
            return DeliveryOutcome::Failed {
                reason: error.clone(),
            };
        }
        Exchange::Failed {
            error,
            retryable: true,
        } => error.clone(),
    };
    let delay = usize::try_from(attempt)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| schedule.get(i))
        .map(|d| retry_after.map_or(*d, |asked| asked.max(*d)))
        .and_then(|d| chrono::Duration::from_std(d).ok());
    match delay {
        Some(delay) => DeliveryOutcome::Retry {
            at: finished_at + delay,
            reason,
        },
        None => DeliveryOutcome::Failed { reason },
    }
}

/// The attempt row CONTRACT §5 describes.
pub fn attempt_row(
    report: &AttemptReport,
    webhook_id: Uuid,
    subscription_id: Uuid,
    attempt: u32,
    outcome: &DeliveryOutcome,
) -> Attempt {
    let (status_code, response_body) = match &report.exchange {
        Exchange::Response { status, body } | Exchange::Incomplete { status, body, .. } => {
            (Some(i32::from(*status)), Some(body.clone()))
        }
        Exchange::Acknowledged { ack } => (None, Some(ack.clone())),
        Exchange::Failed { .. } => (None, None),
    };
    let (error, next_retry_at) = match outcome {
        DeliveryOutcome::Delivered => (None, None),
        DeliveryOutcome::Retry { at, reason } => (Some(storable_text(reason.clone())), Some(*at)),
        DeliveryOutcome::Failed { reason } => (Some(storable_text(reason.clone())), None),
    };
    Attempt {
        id: Uuid::now_v7(),
        webhook_id,
        subscription_id,
        target_url: report.target_url.clone(),
        timestamp: report.started_at,
        attempt_number: i32::try_from(attempt).unwrap_or(i32::MAX),
        outcome: outcome.attempt_outcome().as_str().to_owned(),
        status_code,
        error,
        duration_ms: i64::try_from(report.duration.as_millis()).unwrap_or(i64::MAX),
        response_body,
        next_retry_at,
    }
}

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod tests;
