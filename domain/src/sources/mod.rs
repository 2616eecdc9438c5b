//! Sources: public inbound URLs (`POST /in/<token>`), one per provider that sends us
//! webhooks (GitHub, Stripe, an internal system…). Each request is verified the way its
//! provider signs ([`verify`]), checked against the source's address list and rate limit,
//! then ingested like `POST /ingest` with its raw body, content type and forwarded headers.
//!
//! - this module: what a source is, and reading one from a body (create and PATCH);
//! - [`store`]: storing, changing, rotating and deleting sources, and their rejections;
//!   [`ops`]: the write actions every front end calls (store, tell the source cache, log);
//! - [`verification`]: a source's `verification` settings, checked and masked;
//!   [`verify`]: the verifiers, pure functions over (headers, raw body, now);
//! - [`rejections`]: refused requests, written to Postgres off the request path;
//! - [`body`]: the bodies of create and PATCH as the OpenAPI document shows them.
//!
//! One inbound request, check by check, and the per-source rate limit are the api's
//! (`api/src/inbound/`).
//!
//! The inbound path never queries Postgres: sources are held in an in-process cache
//! (`hookrelay_shared::cache`) keyed by token, so a change reaches every api process within
//! the cache's refresh interval, and the process that made it at once.

pub mod body;
pub mod ops;
pub mod rejections;
pub mod store;
pub mod verification;
pub mod verify;

use crate::webhooks::event_types::is_visible_ascii_token;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use hookrelay_shared::cache::Cached;
use hookrelay_shared::schema::sources;
use hookrelay_shared::{networks, time};

use crate::subscriptions::headers;
use ip_network::IpNetwork;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::FieldError;
use crate::fields::Fields;
use verification::Verification;
use verify::Headers;

/// The path every source's URL starts with; the token follows.
pub const INGEST_PATH_PREFIX: &str = "/in/";

/// The 404 of an unknown (or inactive) source, on `/in/<token>` and `/sources/{id}`.
pub const NOT_FOUND: &str = "Source not found";

/// The most entries `ip_allowlist` and `forward_headers` may have.
const MAX_ALLOWLIST: usize = 100;
const MAX_FORWARD_HEADERS: usize = 50;
/// The bounds of `rate_limit`.
const RATE_REQUESTS: std::ops::RangeInclusive<i64> = 1..=1_000_000;
const RATE_PER_SECONDS: std::ops::RangeInclusive<i64> = 1..=86_400;

/// Where a source's webhooks get their event type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventTypeRule {
    /// The value of this request header (`X-GitHub-Event`).
    Header(String),
    /// An RFC 6901 pointer into a JSON body (`/type`).
    JsonPointer(String),
    /// The same event type for every webhook.
    Value(String),
}

impl EventTypeRule {
    /// The event type of one request. `None` — the webhook then has no event type, as an
    /// ingest without `X-Event-Type` — when the header is missing or repeated, the body
    /// is not JSON, the pointer finds nothing or something other than a string, or what
    /// it finds is not 1..=255 visible ASCII characters.
    pub fn event_type(&self, headers: &impl Headers, body: &[u8]) -> Option<String> {
        let found = match self {
            Self::Value(value) => Some(value.clone()),
            Self::Header(name) => headers.single(name).text().map(|v| v.trim().to_owned()),
            Self::JsonPointer(pointer) => serde_json::from_slice::<Value>(body)
                .ok()?
                .pointer(pointer)?
                .as_str()
                .map(str::to_owned),
        };
        found.filter(|t| is_visible_ascii_token(t))
    }
}

/// At most `requests` accepted per `per_seconds`, all api processes together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RateLimit {
    pub requests: u32,
    pub per_seconds: u32,
}

/// A source as stored, secrets and all: what the cache holds and inbound requests are
/// checked against. The api shows it as a [`SourceView`].
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub name: String,
    pub token: String,
    pub verification: Verification,
    pub ip_allowlist: Option<Vec<IpNetwork>>,
    pub rate_limit: Option<RateLimit>,
    pub event_type: Option<EventTypeRule>,
    pub subscription_id: Option<Uuid>,
    /// Lowercase header names.
    pub forward_headers: Vec<String>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A source as the api shows it: its secrets masked, its URL's path spelled out.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SourceView {
    pub id: Uuid,
    #[schema(required = true)]
    pub tenant_id: Option<Uuid>,
    pub name: String,
    /// `/in/<token>`: where the provider sends its webhooks (no API key).
    pub ingest_path: String,
    /// The verification, with every secret shown as `********`.
    #[schema(value_type = Object)]
    pub verification: Verification,
    #[schema(required = true)]
    pub ip_allowlist: Option<Vec<String>>,
    #[schema(required = true)]
    pub rate_limit: Option<RateLimit>,
    #[schema(required = true)]
    pub event_type: Option<EventTypeRule>,
    #[schema(required = true)]
    pub subscription_id: Option<Uuid>,
    pub forward_headers: Vec<String>,
    pub is_active: bool,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
}

impl Source {
    pub fn ingest_path(&self) -> String {
        format!("{INGEST_PATH_PREFIX}{}", self.token)
    }

    pub fn view(&self) -> SourceView {
        SourceView {
            id: self.id,
            tenant_id: self.tenant_id,
            name: self.name.clone(),
            ingest_path: self.ingest_path(),
            verification: self.verification.masked(),
            ip_allowlist: self
                .ip_allowlist
                .as_ref()
                .map(|list| list.iter().map(ToString::to_string).collect()),
            rate_limit: self.rate_limit,
            event_type: self.event_type.clone(),
            subscription_id: self.subscription_id,
            forward_headers: self.forward_headers.clone(),
            is_active: self.is_active,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A `sources` row as Postgres holds it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sources, check_for_backend(diesel::pg::Pg))]
pub struct SourceRow {
    id: Uuid,
    tenant_id: Option<Uuid>,
    name: String,
    token: String,
    verification: Value,
    ip_allowlist: Option<Vec<String>>,
    rate_limit_requests: Option<i32>,
    rate_limit_per_seconds: Option<i32>,
    event_type: Option<Value>,
    subscription_id: Option<Uuid>,
    forward_headers: Vec<String>,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<SourceRow> for Source {
    type Error = String;

    /// Fails only for a row the api did not write (its verification's type unknown, say):
    /// such a source is left out of the cache, so its URL answers 404 — never "no
    /// verification".
    fn try_from(row: SourceRow) -> Result<Self, String> {
        let verification =
            serde_json::from_value(row.verification).map_err(|e| format!("verification: {e}"))?;
        let ip_allowlist = row
            .ip_allowlist
            .map(|list| list.iter().map(|r| networks::parse(r)).collect())
            .transpose()
            .map_err(|e| format!("ip_allowlist: {e}"))?;
        let event_type = row
            .event_type
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| format!("event_type: {e}"))?;
        let rate_limit = match (row.rate_limit_requests, row.rate_limit_per_seconds) {
            (Some(requests), Some(per_seconds)) => Some(RateLimit {
                requests: u32::try_from(requests).map_err(|e| e.to_string())?,
                per_seconds: u32::try_from(per_seconds).map_err(|e| e.to_string())?,
            }),
            _ => None,
        };
        Ok(Self {
            id: row.id,
            tenant_id: row.tenant_id,
            name: row.name,
            token: row.token,
            verification,
            ip_allowlist,
            rate_limit,
            event_type,
            subscription_id: row.subscription_id,
            forward_headers: row.forward_headers,
            is_active: row.is_active,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Rows that do not read as a source are logged and left out.
fn readable(rows: Vec<SourceRow>) -> Vec<Source> {
    rows.into_iter()
        .filter_map(|row| {
            let id = row.id;
            Source::try_from(row)
                .inspect_err(|e| tracing::error!(source_id = %id, error = %e, "stored source is unreadable; its URL answers 404"))
                .ok()
        })
        .collect()
}

/// The cache of the api: sources by token, the key inbound requests come with.
impl Cached for Source {
    type Key = String;
    const NAME: &'static str = hookrelay_shared::keys::SOURCES_CACHE;

    fn key(&self) -> String {
        self.token.clone()
    }

    async fn load_all(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Self>> {
        let rows = sources::table
            .select(SourceRow::as_select())
            .load(conn)
            .await?;
        Ok(readable(rows))
    }

    async fn load_some(
        conn: &mut AsyncPgConnection,
        tokens: Vec<String>,
    ) -> QueryResult<Vec<Self>> {
        let rows = sources::table
            .filter(sources::token.eq_any(tokens))
            .select(SourceRow::as_select())
            .load(conn)
            .await?;
        Ok(readable(rows))
    }
}

/// A source as read from a body (a new one, or a stored one with a PATCH over it).
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub tenant_id: Option<Uuid>,
    pub name: String,
    pub verification: Verification,
    pub ip_allowlist: Option<Vec<IpNetwork>>,
    pub rate_limit: Option<RateLimit>,
    pub event_type: Option<EventTypeRule>,
    pub subscription_id: Option<Uuid>,
    pub forward_headers: Vec<String>,
    pub is_active: bool,
}

/// The columns an [`Input`] sets, on create and on PATCH alike.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = sources, treat_none_as_null = true)]
pub struct Columns {
    name: String,
    verification: Value,
    ip_allowlist: Option<Vec<String>>,
    rate_limit_requests: Option<i32>,
    rate_limit_per_seconds: Option<i32>,
    event_type: Option<Value>,
    subscription_id: Option<Uuid>,
    forward_headers: Vec<String>,
    is_active: bool,
}

impl Input {
    pub fn columns(&self) -> Columns {
        let number = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        Columns {
            name: self.name.clone(),
            verification: serde_json::to_value(&self.verification).unwrap_or(Value::Null),
            ip_allowlist: self
                .ip_allowlist
                .as_ref()
                .map(|list| list.iter().map(ToString::to_string).collect()),
            rate_limit_requests: self.rate_limit.map(|r| number(r.requests)),
            rate_limit_per_seconds: self.rate_limit.map(|r| number(r.per_seconds)),
            event_type: self
                .event_type
                .as_ref()
                .and_then(|rule| serde_json::to_value(rule).ok()),
            subscription_id: self.subscription_id,
            forward_headers: self.forward_headers.clone(),
            is_active: self.is_active,
        }
    }
}

/// Reads a whole source from `body`, every bad field at once.
///
/// The OpenAPI document shows what this reads as [`body::NewSourceBody`];
/// keep the two in step.
pub fn parse(body: &Map<String, Value>) -> Result<Input, Vec<FieldError>> {
    let mut f = Fields::new(body);
    f.required("name");
    let name = f.name("name");
    let tenant_id = f.uuid("tenant_id");
    let subscription_id = f.uuid("subscription_id");
    let is_active = f.boolean("is_active").unwrap_or(true);
    f.required("verification");
    let verification = f.present("verification").and_then(|raw| {
        match serde_json::from_value::<Verification>(raw.clone()) {
            Ok(verification) => {
                let problems = verification.check();
                if problems.is_empty() {
                    Some(verification)
                } else {
                    f.errors.extend(problems);
                    None
                }
            }
            Err(e) => {
                f.error("verification", format!("Value error, {e}"), "value_error");
                None
            }
        }
    });
    let ip_allowlist = allowlist(&mut f);
    let rate_limit = rate_limit(&mut f);
    let event_type = event_type(&mut f);
    let forward_headers = forward_headers(&mut f);
    f.finish(())?;
    let (Some(name), Some(verification)) = (name, verification) else {
        // Each of these reports an error above when it is missing.
        return Err(vec![FieldError::new(
            &["body"],
            "Invalid source",
            "value_error",
        )]);
    };
    Ok(Input {
        tenant_id,
        name,
        verification,
        ip_allowlist,
        rate_limit,
        event_type,
        subscription_id,
        forward_headers,
        is_active,
    })
}

/// A list of strings at `field` (`None`: absent or null), each one checked by `each`.
fn string_list<T>(
    f: &mut Fields<'_>,
    field: &str,
    max: usize,
    mut each: impl FnMut(&str) -> Result<T, String>,
) -> Option<Vec<T>> {
    let raw = f.present(field)?;
    let Value::Array(items) = raw else {
        f.error(field, "Input should be a valid list", "list_type");
        return None;
    };
    if items.len() > max {
        f.error(
            field,
            format!("List should have at most {max} items"),
            "too_long",
        );
        return None;
    }
    let mut values = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let error = match item.as_str().map(&mut each) {
            Some(Ok(value)) => {
                values.push(value);
                continue;
            }
            Some(Err(msg)) => FieldError::new(&["body", field], msg, "value_error"),
            None => FieldError::new(
                &["body", field],
                "Input should be a valid string",
                "string_type",
            ),
        };
        errors.push(error.at(index));
    }
    let ok = errors.is_empty();
    f.errors.extend(errors);
    ok.then_some(values)
}

fn allowlist(f: &mut Fields<'_>) -> Option<Vec<IpNetwork>> {
    string_list(f, "ip_allowlist", MAX_ALLOWLIST, |text| {
        networks::parse(text).map_err(|e| format!("Value error, {e}"))
    })
}

/// A header name a source may name (to read the event type from, or to forward).
fn header_name(text: &str) -> Result<String, String> {
    http::HeaderName::from_bytes(text.as_bytes())
        .map(|name| name.as_str().to_owned())
        .map_err(|_| format!("Value error, {text:?} is not a valid header name"))
}

fn forward_headers(f: &mut Fields<'_>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    string_list(f, "forward_headers", MAX_FORWARD_HEADERS, |text| {
        let name = header_name(text)?;
        if headers::is_reserved(&name) {
            return Err(format!(
                "Value error, {name} is set by hookrelay on every delivery and cannot be forwarded"
            ));
        }
        if !seen.insert(name.clone()) {
            return Err(format!("Value error, {name} is listed twice"));
        }
        Ok(name)
    })
    .unwrap_or_default()
}

fn rate_limit(f: &mut Fields<'_>) -> Option<RateLimit> {
    let raw = f.present("rate_limit")?;
    let Value::Object(limit) = raw else {
        f.error(
            "rate_limit",
            "Input should be a valid dictionary",
            "dict_type",
        );
        return None;
    };
    let mut inner = Fields::new(limit);
    inner.required("requests");
    inner.required("per_seconds");
    let requests = inner.integer("requests", RATE_REQUESTS);
    let per_seconds = inner.integer("per_seconds", RATE_PER_SECONDS);
    // Report the inner fields under `rate_limit`.
    for mut error in inner.errors {
        error.loc.insert(1, "rate_limit".into());
        f.errors.push(error);
    }
    Some(RateLimit {
        requests: u32::try_from(requests?).ok()?,
        per_seconds: u32::try_from(per_seconds?).ok()?,
    })
}

fn event_type(f: &mut Fields<'_>) -> Option<EventTypeRule> {
    let raw = f.present("event_type")?;
    let rule = match serde_json::from_value::<EventTypeRule>(raw.clone()) {
        Ok(rule) => rule,
        Err(_) => {
            f.error(
                "event_type",
                "Value error, expected {\"header\": name}, {\"json_pointer\": \"/path\"} or {\"value\": type}",
                "value_error",
            );
            return None;
        }
    };
    let problem = match &rule {
        EventTypeRule::Header(name) => header_name(name).err(),
        EventTypeRule::JsonPointer(pointer) => (!pointer.is_empty() && !pointer.starts_with('/'))
            .then(|| "Value error, a JSON pointer is empty or starts with / (RFC 6901)".to_owned()),
        EventTypeRule::Value(value) => (!is_visible_ascii_token(value))
            .then(|| "Value error, an event type is 1 to 255 visible ASCII characters".to_owned()),
    };
    match problem {
        Some(msg) => {
            f.error("event_type", msg, "value_error");
            None
        }
        None => Some(rule),
    }
}

/// A stored source as the body it could have been created with (PATCH merges into it),
/// secrets included: a PATCH that leaves `verification` out keeps them.
fn as_body(source: &Source) -> Map<String, Value> {
    let mut body = Map::new();
    let columns = Input {
        tenant_id: source.tenant_id,
        name: source.name.clone(),
        verification: source.verification.clone(),
        ip_allowlist: source.ip_allowlist.clone(),
        rate_limit: source.rate_limit,
        event_type: source.event_type.clone(),
        subscription_id: source.subscription_id,
        forward_headers: source.forward_headers.clone(),
        is_active: source.is_active,
    }
    .columns();
    body.insert("name".into(), columns.name.into());
    body.insert("verification".into(), columns.verification);
    body.insert(
        "ip_allowlist".into(),
        columns.ip_allowlist.map_or(Value::Null, Value::from),
    );
    if let Some(limit) = source.rate_limit {
        body.insert(
            "rate_limit".into(),
            serde_json::json!({"requests": limit.requests, "per_seconds": limit.per_seconds}),
        );
    }
    body.insert(
        "event_type".into(),
        columns.event_type.unwrap_or(Value::Null),
    );
    body.insert(
        "subscription_id".into(),
        source.subscription_id.map(|s| s.to_string()).into(),
    );
    body.insert("forward_headers".into(), columns.forward_headers.into());
    body.insert("is_active".into(), source.is_active.into());
    body
}

/// A new token: 24 random bytes, base64url (32 characters, no `:`, safe in a path).
pub fn new_token() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::object;
    use http::{HeaderMap, HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    #[test]
    fn event_types_come_from_a_header_a_pointer_or_a_value_and_are_otherwise_absent() {
        let h = headers(&[("x-github-event", "push")]);
        let header = EventTypeRule::Header("x-github-event".into());
        assert_eq!(header.event_type(&h, b""), Some("push".into()));
        let twice = headers(&[("x-github-event", "push"), ("x-github-event", "ping")]);
        assert_eq!(header.event_type(&twice, b""), None, "repeated: ambiguous");
        assert_eq!(header.event_type(&HeaderMap::new(), b""), None);
        let pointer = EventTypeRule::JsonPointer("/data/type".into());
        let body = br#"{"data": {"type": "invoice.paid", "n": 3}}"#;
        assert_eq!(pointer.event_type(&h, body), Some("invoice.paid".into()));
        assert_eq!(pointer.event_type(&h, b"a=1&b=2"), None, "not JSON");
        assert_eq!(pointer.event_type(&h, b""), None, "empty");
        let number = EventTypeRule::JsonPointer("/data/n".into());
        assert_eq!(number.event_type(&h, body), None, "not a string");
        let spaced = EventTypeRule::JsonPointer("/t".into());
        assert_eq!(spaced.event_type(&h, br#"{"t": "a b"}"#), None);
        let escaped = EventTypeRule::JsonPointer("/a~1b".into());
        assert_eq!(escaped.event_type(&h, br#"{"a/b": "x"}"#), Some("x".into()));
        let fixed = EventTypeRule::Value("stripe.event".into());
        assert_eq!(fixed.event_type(&h, b""), Some("stripe.event".into()));
    }

    #[test]
    fn a_source_body_reads_with_every_error_at_once() {
        let input = parse(&object(serde_json::json!({
            "name": "GitHub",
            "verification": {"type": "github", "secret": "s3cret"},
            "ip_allowlist": ["192.30.252.0/22", "2a0a:a440::/29"],
            "rate_limit": {"requests": 100, "per_seconds": 60},
            "event_type": {"header": "X-GitHub-Event"},
            "forward_headers": ["X-GitHub-Event", "X-GitHub-Delivery"],
        })))
        .expect("valid");
        assert_eq!(
            input.forward_headers,
            ["x-github-event", "x-github-delivery"]
        );
        assert_eq!(
            input.rate_limit,
            Some(RateLimit {
                requests: 100,
                per_seconds: 60
            })
        );
        assert!(input.is_active);

        let errors = parse(&object(serde_json::json!({
            "verification": {"type": "carrier_pigeon"},
            "ip_allowlist": ["10.0.0.1/8", 7],
            "rate_limit": {"requests": 0},
            "event_type": {"json_pointer": "type"},
            "forward_headers": ["webhook-signature", "x-a", "X-A", "bad header"],
        })))
        .expect_err("invalid");
        let locs: Vec<Value> = errors.iter().map(|e| Value::from(e.loc.clone())).collect();
        for loc in [
            serde_json::json!(["body", "name"]),
            serde_json::json!(["body", "verification"]),
            serde_json::json!(["body", "ip_allowlist", 0]),
            serde_json::json!(["body", "ip_allowlist", 1]),
            serde_json::json!(["body", "rate_limit", "requests"]),
            serde_json::json!(["body", "rate_limit", "per_seconds"]),
            serde_json::json!(["body", "event_type"]),
            serde_json::json!(["body", "forward_headers", 0]),
            serde_json::json!(["body", "forward_headers", 2]),
            serde_json::json!(["body", "forward_headers", 3]),
        ] {
            assert!(locs.contains(&loc), "{loc} missing from {locs:?}");
        }
        let unknown = errors
            .iter()
            .find(|e| e.loc == [Value::from("body"), Value::from("verification")])
            .expect("the verification error");
        assert!(unknown.msg.contains("carrier_pigeon"), "{}", unknown.msg);
    }

    #[test]
    fn a_stored_source_reads_back_as_the_same_input() {
        let body = object(serde_json::json!({
            "name": "Stripe",
            "verification": {"type": "stripe", "secret": "whsec_abc", "tolerance": 120},
            "ip_allowlist": ["3.18.12.63"],
            "rate_limit": {"requests": 5, "per_seconds": 1},
            "event_type": {"json_pointer": "/type"},
            "forward_headers": ["stripe-signature"],
            "is_active": false,
        }));
        let input = parse(&body).expect("valid");
        let now = time::now();
        let source = Source {
            id: Uuid::now_v7(),
            tenant_id: None,
            name: input.name.clone(),
            token: new_token(),
            verification: input.verification.clone(),
            ip_allowlist: input.ip_allowlist.clone(),
            rate_limit: input.rate_limit,
            event_type: input.event_type.clone(),
            subscription_id: None,
            forward_headers: input.forward_headers.clone(),
            is_active: input.is_active,
            created_at: now,
            updated_at: now,
        };
        assert_eq!(parse(&as_body(&source)).expect("round trip"), input);
        let view = serde_json::to_value(source.view()).expect("serializes");
        assert_eq!(view["verification"]["secret"], verification::MASK);
        assert_eq!(view["ip_allowlist"], serde_json::json!(["3.18.12.63/32"]));
        assert!(
            view["ingest_path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/in/"))
        );
    }

    #[test]
    fn tokens_are_long_random_and_path_safe() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }
}
