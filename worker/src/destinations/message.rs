//! What a destination other than HTTP is given ([`Message`]) and what it answers: an
//! [`Ack`] or a [`Failure`]. The registry builds the message; each type's module sends it.

use bytes::Bytes;
use uuid::Uuid;

/// What a destination other than HTTP is given: the ingested bytes and the metadata §5
/// sends as HTTP headers.
#[derive(Debug, Clone)]
pub struct Message {
    pub webhook_id: Uuid,
    /// The ingested bytes, unchanged.
    pub body: Bytes,
    /// `content-type`, `webhook-id`, `webhook-timestamp`, `webhook-signature`,
    /// `x-event-type`, a sourced webhook's forwarded headers and the subscription's own:
    /// lower-case names, in that order.
    pub headers: Vec<(String, String)>,
    /// `webhook-timestamp`, in seconds.
    pub timestamp: i64,
}

impl Message {
    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text, for destinations that carry it as a string.
    pub fn body_text(&self) -> Result<&str, Failure> {
        std::str::from_utf8(&self.body).map_err(|_| {
            Failure::permanent("the body is not UTF-8, and this destination carries it as text")
        })
    }
}

/// The headers as the fields of a Redis stream entry or a log line, beside `body`: a
/// header named `body` would collide with it, and is left out.
pub fn metadata_fields(message: &Message) -> impl Iterator<Item = (&str, &str)> {
    message
        .headers
        .iter()
        .filter(|(name, _)| name != "body")
        .map(|(name, value)| (name.as_str(), value.as_str()))
}

/// Why a publish failed, in the words the attempt's `error` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub error: String,
    /// `false`: no later attempt can succeed (a refused host, a body the destination
    /// cannot carry); the delivery fails at once.
    pub retryable: bool,
}

impl Failure {
    pub fn retry(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            retryable: true,
        }
    }

    pub fn permanent(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            retryable: false,
        }
    }
}

/// What the destination said on success (`stream seq 42`, `partition 0 offset 7`): the
/// attempt's `response_body`.
pub type Ack = String;
