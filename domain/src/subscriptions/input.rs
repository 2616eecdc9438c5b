//! Validation of subscription bodies (CONTRACT §3). Every bad field is reported at once,
//! with its `loc`, in the 422 list. Unknown fields are ignored.

use crate::subscriptions::DeliveryMethod;

use crate::subscriptions::SubscriptionChanges;
use hookrelay_shared::signing::{generate_secret, validate_secret};
use hookrelay_shared::targets::{TargetError, parse_target_url};
use serde_json::{Map, Value};

use super::headers;
use crate::FieldError;
use crate::destinations::input::{RuledFields, Rules};
use crate::destinations::{self, Destination};
use crate::fields::Fields;
use crate::subscriptions::Subscription;

/// The bounds of the delivery options.
pub const TIMEOUT_MS: std::ops::RangeInclusive<i64> = 100..=60_000;
pub const RATE_LIMIT: std::ops::RangeInclusive<i64> = 1..=100_000;
const MAX_RETRIES: usize = 20;
/// The longest delay a subscription's `retry_schedule` may hold.
const MAX_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// The most entries an `events` filter may have, and the longest description.
const MAX_EVENT_FILTERS: usize = 1000;
const MAX_DESCRIPTION_CHARS: usize = 4096;

/// A validated `POST /subscriptions` body.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSubscriptionInput {
    /// `None` with a destination other than HTTP.
    pub target_url: Option<String>,
    /// `None`: HTTP.
    pub destination: Option<Destination>,
    pub secret: String,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub headers: Value,
    pub is_active: bool,
    /// The tenant asked for (`null` or absent: the default space); a tenant key's own
    /// tenant replaces it.
    pub tenant_id: Option<uuid::Uuid>,
    pub name: Option<String>,
    pub http_method: DeliveryMethod,
    pub timeout_ms: Option<i32>,
    pub retry_schedule: Option<Vec<i64>>,
    pub rate_limit: Option<i32>,
}

/// The subscription fields, read with the common field reader under the deployment's rules.
type SubscriptionFields<'a, 'r> = RuledFields<'a, 'r>;

impl SubscriptionFields<'_, '_> {
    fn target_url(&mut self) -> Option<String> {
        let raw = self.string("target_url")?;
        match parse_target_url(&raw, self.rules.allow_private) {
            Ok(url) => Some(url.into()),
            Err(e) => {
                let kind = match e {
                    TargetError::Invalid(_) => "url_parsing",
                    TargetError::Private(_) => "url_private_host",
                };
                self.error("target_url", e.to_string(), kind);
                None
            }
        }
    }

    /// `destination`, if present: `Some(None)` for HTTP. `stored`: the subscription's
    /// current one, whose secrets a `***` keeps.
    fn destination(&mut self, stored: Option<&Destination>) -> Option<Option<Destination>> {
        self.null("destination", "dict_type", "a valid dictionary");
        let value = self.present("destination")?;
        match destinations::input::parse(value, stored, self.rules) {
            Ok(Destination::Http) => Some(None),
            Ok(destination) => Some(Some(destination)),
            Err(errors) => {
                self.errors.extend(errors);
                None
            }
        }
    }

    /// The 422 for a `target_url` sent with a destination that has none.
    fn target_url_not_used(&mut self, kind: &str) {
        if self.present("target_url").is_some() {
            self.error(
                "target_url",
                format!("target_url must be absent: a {kind} destination does not use it"),
                "extra_forbidden",
            );
        }
    }

    fn secret(&mut self) -> Option<String> {
        let secret = self.string("secret")?;
        if secret.is_empty() {
            self.error(
                "secret",
                "String should have at least 1 character",
                "string_too_short",
            );
            return None;
        }
        if let Err(e) = validate_secret(&secret) {
            self.error("secret", e.to_string(), "value_error");
            return None;
        }
        Some(secret)
    }

    fn http_method(&mut self) -> Option<DeliveryMethod> {
        let raw = self.string("http_method")?;
        let method = DeliveryMethod::parse(&raw);
        if method.is_none() {
            self.error(
                "http_method",
                "Input should be 'POST', 'PUT', 'PATCH', 'GET' or 'DELETE'",
                "enum",
            );
        }
        method
    }

    fn bounded_int(&mut self, field: &str, range: std::ops::RangeInclusive<i64>) -> Option<i32> {
        self.integer(field, range)
            .and_then(|n| i32::try_from(n).ok())
    }

    /// Delays in milliseconds, each a duration such as `30s` or `1m`.
    fn retry_schedule(&mut self) -> Option<Vec<i64>> {
        let Value::Array(items) = self.present("retry_schedule")? else {
            self.error(
                "retry_schedule",
                "Input should be a valid list",
                "list_type",
            );
            return None;
        };
        if items.len() > MAX_RETRIES {
            self.error(
                "retry_schedule",
                format!("List should have at most {MAX_RETRIES} items"),
                "too_long",
            );
            return None;
        }
        let mut delays = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let parsed = item
                .as_str()
                .ok_or_else(|| "Input should be a duration string such as \"30s\"".to_owned())
                .and_then(hookrelay_shared::config::parse_duration)
                .and_then(|d| {
                    if d > MAX_RETRY_DELAY {
                        Err(format!("{d:?} is longer than 7 days"))
                    } else {
                        i64::try_from(d.as_millis()).map_err(|_| "too large".to_owned())
                    }
                });
            match parsed {
                Ok(ms) => delays.push(ms),
                Err(e) => self.errors.push(
                    FieldError::new(
                        &["body", "retry_schedule"],
                        format!("Invalid duration: {e}"),
                        "duration_parsing",
                    )
                    .at(i),
                ),
            }
        }
        (delays.len() == items.len()).then_some(delays)
    }

    fn name(&mut self) -> Option<String> {
        self.fields.name("name")
    }

    fn description(&mut self) -> Option<String> {
        let description = self.string("description")?;
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            self.error(
                "description",
                format!("String should have at most {MAX_DESCRIPTION_CHARS} characters"),
                "string_too_long",
            );
            return None;
        }
        Some(description)
    }

    fn headers(&mut self) -> Option<Value> {
        let Value::Object(map) = self.present("headers")? else {
            self.error("headers", "Input should be a valid dictionary", "dict_type");
            return None;
        };
        match headers::validate(map) {
            Ok(headers) => Some(headers),
            Err(errors) => {
                self.errors.extend(errors);
                None
            }
        }
    }
}

/// Validates a `POST /subscriptions` body.
///
/// The OpenAPI document shows what this reads as [`super::body::NewSubscriptionBody`];
/// keep the two in step.
pub fn parse_new(
    body: &Map<String, Value>,
    rules: Rules<'_>,
) -> Result<NewSubscriptionInput, Vec<FieldError>> {
    let mut fields = SubscriptionFields {
        fields: Fields::new(body),
        rules,
    };
    let destination = fields.destination(None);
    let other = destination.as_ref().and_then(Option::as_ref);
    match other {
        Some(other) => fields.target_url_not_used(other.kind().as_str()),
        None if names_another_type(body) => {
            let named = body["destination"]["type"].as_str().unwrap_or("non-HTTP");
            fields.target_url_not_used(named);
        }
        // HTTP needs a target URL; a bad destination of another type is its own error.
        None if !body.contains_key("target_url") && !names_another_type(body) => {
            fields.error("target_url", "Field required", "missing");
        }
        None => fields.null("target_url", "string_type", "a valid string"),
    }
    fields.null("is_active", "bool_type", "a valid boolean");
    fields.null("headers", "dict_type", "a valid dictionary");
    fields.null(
        "http_method",
        "enum",
        "'POST', 'PUT', 'PATCH', 'GET' or 'DELETE'",
    );
    let input = NewSubscriptionInput {
        target_url: if other.is_some() {
            None
        } else {
            fields.target_url()
        },
        destination: destination.flatten(),
        secret: fields.secret().unwrap_or_else(generate_secret),
        events: fields.event_filter("events", MAX_EVENT_FILTERS),
        description: fields.description(),
        headers: fields
            .headers()
            .unwrap_or_else(|| Value::Object(Map::new())),
        is_active: fields.boolean("is_active").unwrap_or(true),
        tenant_id: fields.uuid("tenant_id"),
        name: fields.name(),
        http_method: fields.http_method().unwrap_or(DeliveryMethod::Post),
        timeout_ms: fields.bounded_int("timeout_ms", TIMEOUT_MS),
        retry_schedule: fields.retry_schedule(),
        rate_limit: fields.bounded_int("rate_limit", RATE_LIMIT),
    };
    fields.fields.finish(input)
}

/// Whether the body's `destination` names a type other than `http` (valid or not).
fn names_another_type(body: &Map<String, Value>) -> bool {
    body.get("destination")
        .filter(|d| !d.is_null())
        .is_some_and(|d| d.get("type").and_then(Value::as_str) != Some("http"))
}

/// Validates a `PATCH /subscriptions/{id}` body against the subscription as it is
/// (`stored`): only keys present change; `events`, `description`, `name`, `timeout_ms`,
/// `retry_schedule` and `rate_limit` may be null (cleared), the other fields may not.
/// `is_active: true` also resets the failure count and clears `disabled_reason`.
///
/// `destination` is replaced as a whole (a `***` keeps a stored secret). Switching to a
/// destination other than HTTP clears `target_url`; switching to HTTP needs one; a
/// `target_url` alone is for HTTP subscriptions only.
///
/// The OpenAPI document shows what this reads as [`super::body::SubscriptionChangesBody`];
/// keep the two in step.
pub fn parse_changes(
    body: &Map<String, Value>,
    stored: &Subscription,
    rules: Rules<'_>,
) -> Result<SubscriptionChanges, Vec<FieldError>> {
    let mut fields = SubscriptionFields {
        fields: Fields::new(body),
        rules,
    };
    let destination = fields.destination(stored.destination.as_ref());
    // The destination the subscription will have, when the body says or it stays.
    let becomes = match (&destination, body.get("destination")) {
        (Some(new), _) => Some(new.as_ref().unwrap_or(&destinations::HTTP)),
        (None, None) => Some(stored.destination()),
        (None, Some(_)) => None,
    };
    let mut target_url = None;
    match becomes {
        Some(Destination::Http) => {
            let was_http = stored.destination.is_none();
            if !was_http && !body.contains_key("target_url") {
                fields.error(
                    "target_url",
                    "Field required: an HTTP destination needs a target_url",
                    "missing",
                );
            }
            fields.null("target_url", "string_type", "a valid string");
            target_url = fields.target_url().map(Some);
        }
        Some(other) => {
            fields.target_url_not_used(other.kind().as_str());
            if destination.is_some() {
                target_url = Some(None);
            }
        }
        None => {}
    }
    fields.null("secret", "string_type", "a valid string");
    fields.null("is_active", "bool_type", "a valid boolean");
    fields.null("headers", "dict_type", "a valid dictionary");
    fields.null(
        "http_method",
        "enum",
        "'POST', 'PUT', 'PATCH', 'GET' or 'DELETE'",
    );
    let clearable = |name: &str| body.contains_key(name);
    let is_active = fields.boolean("is_active");
    let mut changes = SubscriptionChanges {
        target_url,
        destination,
        secret: fields.secret(),
        events: body
            .contains_key("events")
            .then(|| fields.event_filter("events", MAX_EVENT_FILTERS)),
        description: body
            .contains_key("description")
            .then(|| fields.description()),
        headers: fields.headers(),
        is_active,
        updated_at: None,
        name: clearable("name").then(|| fields.name()),
        http_method: fields.http_method().map(|m| m.as_str().to_owned()),
        timeout_ms: clearable("timeout_ms").then(|| fields.bounded_int("timeout_ms", TIMEOUT_MS)),
        retry_schedule: clearable("retry_schedule").then(|| fields.retry_schedule()),
        rate_limit: clearable("rate_limit").then(|| fields.bounded_int("rate_limit", RATE_LIMIT)),
        consecutive_failures: None,
        disabled_reason: None,
        disabled_at: None,
    };
    super::health::restart(&mut changes);
    fields.fields.finish(changes)
}

/// A validated `POST /subscriptions/{id}/secret/rotate` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The new secret (generated when the body has none).
    pub secret: String,
    /// How long the old secret still signs, next to the new one.
    pub grace_period: std::time::Duration,
}

/// The default and the longest grace period of a rotation.
pub const DEFAULT_GRACE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
pub const MAX_GRACE: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Validates a rotation body: an optional `secret` (as on create) and an optional
/// `grace_period` duration of at most 30 days (default 24h; `0s` ends the old secret now).
///
/// The OpenAPI document shows what this reads as [`super::body::RotationBody`];
/// keep the two in step.
pub fn parse_rotation(body: &Map<String, Value>) -> Result<Rotation, Vec<FieldError>> {
    let mut fields = SubscriptionFields {
        fields: Fields::new(body),
        rules: Rules {
            allow_private: false,
            file_root: None,
        },
    };
    fields.null("grace_period", "string_type", "a valid string");
    let secret = fields.secret().unwrap_or_else(generate_secret);
    let grace_period = match fields.string("grace_period") {
        None => DEFAULT_GRACE,
        Some(raw) => match hookrelay_shared::config::parse_duration(&raw) {
            Ok(grace) if grace <= MAX_GRACE => grace,
            Ok(_) => {
                fields.error(
                    "grace_period",
                    "Input should be at most 30 days (720h)",
                    "too_long",
                );
                DEFAULT_GRACE
            }
            Err(e) => {
                fields.error(
                    "grace_period",
                    format!("Invalid duration: {e}"),
                    "duration_parsing",
                );
                DEFAULT_GRACE
            }
        },
    };
    fields.fields.finish(Rotation {
        secret,
        grace_period,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::fields::object;

    fn rules(allow_private: bool) -> Rules<'static> {
        Rules {
            allow_private,
            file_root: None,
        }
    }

    fn locs(errors: &[FieldError]) -> Vec<String> {
        errors
            .iter()
            .map(|e| serde_json::to_string(&e.loc).expect("json"))
            .collect()
    }

    #[test]
    fn a_minimal_body_gets_defaults() {
        let input = parse_new(
            &object(json!({"target_url": "https://example.com", "extra": 1})),
            rules(false),
        )
        .expect("valid");
        assert_eq!(input.target_url.as_deref(), Some("https://example.com/"));
        assert_eq!(input.destination, None);
        assert!(input.secret.starts_with("whsec_"));
        assert_eq!(
            (input.events, input.description, input.is_active),
            (None, None, true)
        );
        assert_eq!(input.headers, json!({}));
    }

    #[test]
    fn every_bad_field_is_reported() {
        let body = object(json!({
            "target_url": "ftp://x", "secret": "", "events": ["ok", 3, "a*b"],
            "description": 5, "headers": {"Host": "x", "X-Ok": "1", "Webhook-Id": "y", "X-Num": 2},
            "is_active": "yes"
        }));
        let errors = parse_new(&body, rules(false)).expect_err("invalid");
        assert_eq!(
            locs(&errors),
            [
                r#"["body","target_url"]"#,
                r#"["body","secret"]"#,
                r#"["body","events",1]"#,
                r#"["body","events",2]"#,
                r#"["body","description"]"#,
                r#"["body","headers","Host"]"#,
                r#"["body","headers","Webhook-Id"]"#,
                r#"["body","headers","X-Num"]"#,
                r#"["body","is_active"]"#,
            ]
        );
        assert!(errors[0].msg.contains("valid URL"));
    }

    #[test]
    fn missing_and_private_targets() {
        let errors = parse_new(&object(json!({})), rules(false)).expect_err("missing");
        assert_eq!(
            (errors[0].kind.as_str(), errors[0].msg.as_str()),
            ("missing", "Field required")
        );
        let errors = parse_new(
            &object(json!({"target_url": "http://127.0.0.1:9/"})),
            rules(false),
        )
        .expect_err("private");
        assert!(errors[0].msg.contains("valid URL") && errors[0].msg.contains("127.0.0.1"));
        assert!(
            parse_new(
                &object(json!({"target_url": "http://127.0.0.1:9/"})),
                rules(true)
            )
            .is_ok()
        );
    }

    #[test]
    fn nul_is_refused_in_every_stored_string() {
        let body = object(json!({
            "target_url": "https://example.com/\u{0}", "secret": "\u{0}", "description": "\u{0}",
            "events": ["\u{0}"], "headers": {"x-\u{0}": "v", "x-v": "\u{0}"},
        }));
        let errors = parse_new(&body, rules(false)).expect_err("invalid");
        assert_eq!(
            locs(&errors),
            [
                r#"["body","target_url"]"#,
                r#"["body","secret"]"#,
                r#"["body","events",0]"#,
                r#"["body","description"]"#,
                r#"["body","headers","x-\u0000"]"#,
                r#"["body","headers","x-v"]"#,
            ]
        );
        assert!(errors.iter().all(|e| e.kind == "string_nul"), "{errors:?}");
    }

    #[test]
    fn patches_change_only_what_is_present() {
        let http = stored(None);
        let changes = parse_changes(
            &object(json!({"events": null, "is_active": false})),
            &http,
            rules(false),
        )
        .expect("valid");
        assert_eq!(changes.events, Some(None));
        assert_eq!(changes.is_active, Some(false));
        assert_eq!(
            (changes.target_url, changes.secret, changes.description),
            (None, None, None)
        );
        let errors = parse_changes(
            &object(json!({"target_url": null, "secret": null})),
            &http,
            rules(false),
        )
        .expect_err("nulls");
        assert_eq!(
            locs(&errors),
            [r#"["body","target_url"]"#, r#"["body","secret"]"#]
        );
    }

    /// A stored subscription with `destination` (`None`: HTTP).
    fn stored(destination: Option<Destination>) -> Subscription {
        let now = hookrelay_shared::time::now();
        Subscription {
            id: uuid::Uuid::new_v4(),
            target_url: destination
                .is_none()
                .then(|| "https://example.com/".to_owned()),
            destination,
            secret: generate_secret(),
            events: None,
            description: None,
            headers: json!({}),
            is_active: true,
            created_at: now,
            updated_at: now,
            tenant_id: None,
            name: None,
            http_method: "POST".into(),
            timeout_ms: None,
            retry_schedule: None,
            rate_limit: None,
            consecutive_failures: 0,
            last_success_at: None,
            last_failure_at: None,
            disabled_reason: None,
            disabled_at: None,
            previous_secret: None,
            previous_secret_expires_at: None,
        }
    }

    #[test]
    fn a_destination_other_than_http_has_no_target_url() {
        let nats = json!({"type": "nats", "url": "nats://n:4222", "subject": "s"});
        let input = parse_new(&object(json!({"destination": nats})), rules(true)).expect("valid");
        assert_eq!(input.target_url, None);
        assert!(matches!(input.destination, Some(Destination::Nats(_))));
        let errors = parse_new(
            &object(json!({"destination": nats, "target_url": "https://example.com"})),
            rules(true),
        )
        .expect_err("both");
        assert_eq!(locs(&errors), [r#"["body","target_url"]"#]);
        // `{"type": "http"}` is the default, spelled out.
        let input = parse_new(
            &object(json!({"destination": {"type": "http"}, "target_url": "https://e.com"})),
            rules(true),
        )
        .expect("valid");
        assert_eq!(input.destination, None);
        let errors = parse_new(
            &object(json!({"destination": {"type": "log"}, "target_url": null})),
            rules(true),
        );
        assert!(
            errors.is_ok(),
            "a null target_url is what reads show: {errors:?}"
        );
    }

    #[test]
    fn patches_switch_destinations_both_ways() {
        let http = stored(None);
        let changes = parse_changes(
            &object(json!({"destination": {"type": "log"}})),
            &http,
            rules(true),
        )
        .expect("to log");
        assert_eq!(changes.destination, Some(Some(Destination::Log)));
        assert_eq!(
            changes.target_url,
            Some(None),
            "switching clears target_url"
        );
        let log = stored(Some(Destination::Log));
        let errors = parse_changes(
            &object(json!({"destination": {"type": "http"}})),
            &log,
            rules(true),
        )
        .expect_err("no URL");
        assert_eq!(locs(&errors), [r#"["body","target_url"]"#]);
        let changes = parse_changes(
            &object(json!({"destination": {"type": "http"}, "target_url": "https://e.com"})),
            &log,
            rules(true),
        )
        .expect("back to HTTP");
        assert_eq!(changes.destination, Some(None));
        assert_eq!(changes.target_url, Some(Some("https://e.com/".into())));
        let errors = parse_changes(
            &object(json!({"target_url": "https://e.com"})),
            &log,
            rules(true),
        )
        .expect_err("a URL alone");
        assert_eq!(locs(&errors), [r#"["body","target_url"]"#]);
        let changes =
            parse_changes(&object(json!({"name": "n"})), &log, rules(true)).expect("other fields");
        assert_eq!((changes.destination, changes.target_url), (None, None));
    }
}
