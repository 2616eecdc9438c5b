//! The header names a subscription's custom `headers` may not use (CONTRACT §3), declared
//! once: the api refuses them when a subscription is written, and the worker never sends
//! them from a stored row (one written outside the api, say), so a custom header can never
//! override what hookrelay sets and signs.

/// Header names hookrelay sets on every delivery, or that change how the request is sent:
/// those of the HTTP connection, and `expect` (a `100-continue` would make the client wait
/// for an interim response before sending the body).
pub const RESERVED: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "x-event-type",
    "expect",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-connection",
];

/// Header names starting with this are hookrelay's own (`webhook-id`, `webhook-signature`, …).
pub const RESERVED_PREFIX: &str = "webhook-";

/// Whether `name` (any case) is reserved.
pub fn is_reserved(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    RESERVED.contains(&lower.as_str()) || lower.starts_with(RESERVED_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_match_in_any_case() {
        for name in [
            "Content-Type",
            "HOST",
            "webhook-id",
            "Webhook-Signature",
            "Expect",
        ] {
            assert!(is_reserved(name), "{name}");
        }
        for name in ["x-tenant", "authorization", "webhookid"] {
            assert!(!is_reserved(name), "{name}");
        }
    }
}
