//! A subscription's custom `headers` (CONTRACT §3): which names and values may be stored,
//! so that every delivery sends them exactly as stored (README, "Design choices").
//!
//! The names they may not use ([`RESERVED`], [`RESERVED_PREFIX`]) are declared here once:
//! the api refuses them when a subscription is written, and the worker never sends them
//! from a stored row (one written outside the api, say), so a custom header can never
//! override what hookrelay sets and signs.

use std::collections::BTreeMap;

use http::HeaderName;
use serde_json::{Map, Value};

use crate::FieldError;
use crate::fields::NUL_ERROR;

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

/// The headers object to store, or an error for each header that cannot be sent as given
/// (loc `["body", "headers", <name>]`).
pub fn validate(map: &Map<String, Value>) -> Result<Value, Vec<FieldError>> {
    // Lower-cased name → the first name as given: HTTP names are case-insensitive, so
    // `X-A` and `x-a` would be one header sent twice.
    let mut names = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, value) in map {
        let lower = name.to_ascii_lowercase();
        let first = names.get(&lower).copied();
        names.entry(lower).or_insert(name.as_str());
        let problem = match value {
            Value::String(value) => problem(name, value).map(|(m, k)| (m.to_owned(), k)),
            _ => Some(("Input should be a valid string".to_owned(), "string_type")),
        }
        .or_else(|| {
            first.map(|first| {
                let msg = format!("Header name repeats {first}: names are case-insensitive");
                (msg, "value_error")
            })
        });
        if let Some((msg, kind)) = problem {
            errors.push(FieldError::new(&["body", "headers"], msg, kind).at(name.as_str()));
        }
    }
    if errors.is_empty() {
        Ok(Value::Object(map.clone()))
    } else {
        Err(errors)
    }
}

/// Why one header cannot be used, if it cannot.
fn problem(name: &str, value: &str) -> Option<(&'static str, &'static str)> {
    if name.contains('\0') || value.contains('\0') {
        return Some(NUL_ERROR);
    }
    let lower = name.to_ascii_lowercase();
    if HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Some(("Header name is not a valid HTTP header name", "value_error"));
    }
    if is_reserved(&lower) {
        return Some((
            "Header is set by hookrelay itself or changes how the request is sent, and cannot \
             be overridden",
            "value_error",
        ));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_graphic() || b == b' ' || b == b'\t')
    {
        return Some((
            "Header value must be visible ASCII characters, spaces and tabs",
            "value_error",
        ));
    }
    // HTTP drops whitespace around a value, so the receiver would not get it as stored.
    if value.starts_with([' ', '\t']) || value.ends_with([' ', '\t']) {
        return Some((
            "Header value must not start or end with a space or tab",
            "value_error",
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validate_json(headers: &Value) -> Result<Value, Vec<FieldError>> {
        validate(headers.as_object().expect("an object"))
    }

    #[test]
    fn names_are_unique_ignoring_case_and_values_plain() {
        let errors = validate_json(&json!({
            "X-A": "1", "x-a": "2", "Expect": "100-continue", "x-e": "é", "x-del": "\u{7f}",
            "x-s": " v", "x-t": "v\t", "x-ok": "a\tb c", "x-empty": "",
        }))
        .expect_err("invalid");
        let found: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.loc[2].as_str().expect("a name"), e.msg.as_str()))
            .collect();
        let (reserved, ascii, edges) = (
            "Header is set by hookrelay itself or changes how the request is sent, and cannot be overridden",
            "Header value must be visible ASCII characters, spaces and tabs",
            "Header value must not start or end with a space or tab",
        );
        assert_eq!(
            found,
            [
                ("Expect", reserved),
                ("x-a", "Header name repeats X-A: names are case-insensitive"),
                ("x-del", ascii),
                ("x-e", ascii),
                ("x-s", edges),
                ("x-t", edges),
            ]
        );
    }

    #[test]
    fn inner_spaces_and_tabs_and_empty_values_are_kept_as_given() {
        let given = json!({"X-A": "1", "x-ok": "a\tb c", "x-empty": ""});
        assert_eq!(validate_json(&given), Ok(given));
    }

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
