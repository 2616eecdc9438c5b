//! Reading a `destination` object (CONTRACT §15): every bad field is reported at once,
//! with a `loc` inside `destination` (`["body", "destination", "url"]`). Unknown fields
//! are ignored, as everywhere.
//!
//! Secrets are write-only: a `***` sent back in place of a URL's password or of
//! `secret_access_key` keeps the stored value, when the stored destination has one.

use std::path::{Component, Path};

use serde_json::Value;
use url::Url;

use super::{
    Destination, FileDirectory, Kafka, Kind, MASK, Mqtt, Nats, Rabbitmq, RedisStream, RqQueue,
    S3Bucket,
};
use crate::FieldError;
use crate::fields::Fields;
use hookrelay_shared::targets::{TargetError, parse_service_url};

/// Where a destination's errors are.
const LOC: &[&str] = &["body", "destination"];

/// The rules a destination is read under: the deployment's, not the caller's.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// `ALLOW_PRIVATE_TARGETS`: whether broker, S3 and MQTT hosts may be private.
    pub allow_private: bool,
    /// `FILE_DESTINATION_ROOT`: `None` refuses `file` destinations.
    pub file_root: Option<&'a Path>,
}

/// Reads a `destination` value. `stored` is the subscription's current destination on a
/// PATCH (whose secrets a `***` keeps).
pub fn parse(
    value: &Value,
    stored: Option<&Destination>,
    rules: Rules<'_>,
) -> Result<Destination, Vec<FieldError>> {
    let Value::Object(map) = value else {
        return Err(vec![FieldError::new(
            &["body", "destination"],
            "Input should be a valid dictionary",
            "dict_type",
        )]);
    };
    let mut fields = RuledFields {
        fields: Fields::nested(map, LOC),
        rules,
    };
    fields.required("type");
    let Some(raw_kind) = fields.string("type") else {
        return Err(fields.fields.errors);
    };
    let Some(kind) = Kind::parse(&raw_kind) else {
        let names: Vec<String> = Kind::ALL.iter().map(|k| format!("'{k}'")).collect();
        fields.error("type", format!("Input should be {}", words(&names)), "enum");
        return Err(fields.fields.errors);
    };
    // A secret kept from the stored destination only when it has the same type.
    let stored = stored.filter(|s| s.kind() == kind);
    let destination = fields.read(kind, stored);
    let errors = fields.fields.errors;
    match destination {
        Some(destination) if errors.is_empty() => Ok(destination),
        _ => Err(errors),
    }
}

/// `a`, `a or b`, `a, b or c`.
fn words(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// A body's fields read under the deployment's [`Rules`]: a subscription's
/// (`subscriptions::input`) and its destination's (here) methods are on it.
pub(crate) struct RuledFields<'a, 'r> {
    pub fields: Fields<'a>,
    pub rules: Rules<'r>,
}

impl<'a> std::ops::Deref for RuledFields<'a, '_> {
    type Target = Fields<'a>;
    fn deref(&self) -> &Fields<'a> {
        &self.fields
    }
}

impl std::ops::DerefMut for RuledFields<'_, '_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.fields
    }
}

/// The longest name (exchange, subject, topic, stream, queue, prefix) accepted.
const MAX_NAME_BYTES: usize = 255;

impl RuledFields<'_, '_> {
    /// The destination of `kind`; `None` when a field is bad (its error recorded).
    fn read(&mut self, kind: Kind, stored: Option<&Destination>) -> Option<Destination> {
        let stored_url = stored.and_then(|s| match s {
            Destination::Rabbitmq(d) => Some(d.url.as_str()),
            Destination::Nats(d) => Some(d.url.as_str()),
            Destination::Redis(d) => Some(d.url.as_str()),
            Destination::Rq(d) => Some(d.url.as_str()),
            Destination::Mqtt(d) => Some(d.url.as_str()),
            _ => None,
        });
        Some(match kind {
            Kind::Http => Destination::Http,
            Kind::Log => Destination::Log,
            Kind::Rabbitmq => {
                let url = self.url(&["amqp", "amqps"], stored_url);
                let exchange = self.optional_name("exchange", |_| None);
                let routing_key = self.optional_name("routing_key", |_| None);
                Destination::Rabbitmq(Rabbitmq {
                    url: url?,
                    exchange: exchange?,
                    routing_key: routing_key?,
                })
            }
            Kind::Nats => {
                let url = self.url(&["nats", "tls"], stored_url);
                if url
                    .as_deref()
                    .and_then(|u| Url::parse(u).ok())
                    .is_some_and(|u| !u.username().is_empty() && u.password().is_none())
                {
                    self.error(
                        "url",
                        "A NATS token goes where a password would, nats://:TOKEN@host, so that reads can mask it",
                        "value_error",
                    );
                    return None;
                }
                let subject = self.required_name("subject", nats_subject_problem);
                Destination::Nats(Nats {
                    url: url?,
                    subject: subject?,
                })
            }
            Kind::Kafka => {
                let brokers = self.brokers();
                let topic = self.required_name("topic", kafka_topic_problem);
                Destination::Kafka(Kafka {
                    brokers: brokers?,
                    topic: topic?,
                })
            }
            Kind::Redis => {
                let url = self.url(&["redis"], stored_url);
                let stream = self.required_name("stream", |_| None);
                Destination::Redis(RedisStream {
                    url: url?,
                    stream: stream?,
                })
            }
            Kind::Rq => {
                let url = self.url(&["redis"], stored_url);
                let queue = self.required_name("queue", no_whitespace);
                let function = self.required_name("function", python_path_problem);
                Destination::Rq(RqQueue {
                    url: url?,
                    queue: queue?,
                    function: function?,
                })
            }
            Kind::S3 => self.s3(stored)?,
            Kind::Mqtt => {
                let url = self.url(&["mqtt"], stored_url);
                let topic = self.required_name("topic", mqtt_topic_problem);
                self.null("qos", "int_type", "0 or 1");
                let qos = if self.present("qos").is_some() {
                    self.integer("qos", 0..=1)
                        .and_then(|q| u8::try_from(q).ok())
                } else {
                    Some(1)
                };
                Destination::Mqtt(Mqtt {
                    url: url?,
                    topic: topic?,
                    qos: qos?,
                })
            }
            Kind::File => Destination::File(FileDirectory {
                path: self.file_path()?,
            }),
        })
    }

    /// A required string field; `problem` says what is wrong with a present one.
    fn required_name(
        &mut self,
        field: &str,
        problem: impl Fn(&str) -> Option<String>,
    ) -> Option<String> {
        self.required(field);
        self.null(field, "string_type", "a valid string");
        let value = self.string(field)?;
        if value.is_empty() {
            self.error(
                field,
                "String should have at least 1 character",
                "string_too_short",
            );
            return None;
        }
        self.checked_name(field, value, problem)
    }

    /// An optional string field, `""` when absent.
    fn optional_name(
        &mut self,
        field: &str,
        problem: impl Fn(&str) -> Option<String>,
    ) -> Option<String> {
        self.null(field, "string_type", "a valid string");
        if self.present(field).is_none() {
            return Some(String::new());
        }
        let value = self.string(field)?;
        self.checked_name(field, value, problem)
    }

    fn checked_name(
        &mut self,
        field: &str,
        value: String,
        problem: impl Fn(&str) -> Option<String>,
    ) -> Option<String> {
        if value.len() > MAX_NAME_BYTES {
            self.error(
                field,
                format!("String should have at most {MAX_NAME_BYTES} bytes"),
                "string_too_long",
            );
            return None;
        }
        if let Some(problem) = problem(&value) {
            self.error(field, problem, "value_error");
            return None;
        }
        Some(value)
    }

    /// `url`: one of `schemes`, with a host that the private-target rule allows; a `***`
    /// password keeps the stored URL's.
    fn url(&mut self, schemes: &[&str], stored: Option<&str>) -> Option<String> {
        self.required("url");
        self.null("url", "string_type", "a valid string");
        let raw = self.string("url")?;
        let mut url = match parse_service_url(&raw, schemes, self.rules.allow_private) {
            Ok(url) => url,
            Err(e) => {
                let kind = match e {
                    TargetError::Invalid(_) => "url_parsing",
                    TargetError::Private(_) => "url_private_host",
                };
                self.error("url", e.to_string(), kind);
                return None;
            }
        };
        if url.password() == Some(MASK) {
            // Kept only for the same user at the same place: a stored password never goes
            // to a host it was not given for.
            let kept = stored
                .and_then(|s| Url::parse(s).ok())
                .filter(|s| same_place(s, &url))
                .and_then(|s| s.password().map(str::to_owned));
            let Some(password) = kept else {
                self.error(
                    "url",
                    "The password *** keeps the stored one only for the same scheme, user, host and port: send the password",
                    "value_error",
                );
                return None;
            };
            // Setting a password can only fail on URLs without a host, refused above.
            let _ = url.set_password(Some(&password));
        }
        Some(url.into())
    }

    /// `brokers`: a non-empty list of `host:port`.
    fn brokers(&mut self) -> Option<Vec<String>> {
        self.required("brokers");
        let Some(value) = self.present("brokers") else {
            self.null("brokers", "list_type", "a valid list");
            return None;
        };
        let Value::Array(items) = value else {
            self.error("brokers", "Input should be a valid list", "list_type");
            return None;
        };
        if items.is_empty() {
            self.error("brokers", "List should have at least 1 item", "too_short");
            return None;
        }
        let mut brokers = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let checked = match item.as_str() {
                None => Err("Input should be a valid string".to_owned()),
                Some(broker) => broker_problem(broker, self.rules.allow_private)
                    .map_or_else(|| Ok(broker.to_owned()), Err),
            };
            match checked {
                Ok(broker) => brokers.push(broker),
                Err(msg) => {
                    let error =
                        FieldError::new(&["body", "destination", "brokers"], msg, "value_error");
                    self.errors.push(error.at(i));
                }
            }
        }
        (brokers.len() == items.len()).then_some(brokers)
    }

    fn s3(&mut self, stored: Option<&Destination>) -> Option<Destination> {
        let bucket = self.required_name("bucket", s3_bucket_problem);
        let prefix = self.optional_name("prefix", s3_prefix_problem);
        self.null("region", "string_type", "a valid string");
        let region = if self.present("region").is_some() {
            self.required_name("region", region_problem)
        } else {
            Some(super::default_region())
        };
        let endpoint = match self.string("endpoint") {
            None => Some(None),
            Some(raw) => {
                match parse_service_url(&raw, &["http", "https"], self.rules.allow_private) {
                    Ok(url) => Some(Some(url.as_str().trim_end_matches('/').to_owned())),
                    Err(e) => {
                        self.error("endpoint", e.to_string(), "url_parsing");
                        None
                    }
                }
            }
        };
        let access_key_id = self.required_name("access_key_id", |_| None);
        let mut secret_access_key = self.required_name("secret_access_key", |_| None);
        if secret_access_key.as_deref() == Some(MASK) {
            // Kept only for the same key at the same endpoint.
            secret_access_key = match stored {
                Some(Destination::S3(s))
                    if Some(&s.access_key_id) == access_key_id.as_ref()
                        && endpoint.as_ref() == Some(&s.endpoint) =>
                {
                    Some(s.secret_access_key.clone())
                }
                _ => {
                    self.error(
                        "secret_access_key",
                        "*** keeps the stored secret only for the same access_key_id and endpoint: send the secret",
                        "value_error",
                    );
                    None
                }
            };
        }
        Some(Destination::S3(S3Bucket {
            bucket: bucket?,
            prefix: prefix?,
            region: region?,
            endpoint: endpoint?,
            access_key_id: access_key_id?,
            secret_access_key: secret_access_key?,
        }))
    }

    /// `path`: relative, inside `FILE_DESTINATION_ROOT`, not through a symlink out of it.
    fn file_path(&mut self) -> Option<String> {
        let Some(root) = self.rules.file_root else {
            self.error(
                "type",
                "file destinations need FILE_DESTINATION_ROOT, which is not set",
                "value_error",
            );
            return None;
        };
        let path = self.required_name("path", |p| relative_path_problem(Path::new(p)))?;
        if let Some(problem) = escapes_root(root, Path::new(&path)) {
            self.error("path", problem, "value_error");
            return None;
        }
        Some(path)
    }
}

/// Whether two URLs name the same user at the same place (scheme, user, host, port).
fn same_place(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.username() == b.username()
        && a.host_str() == b.host_str()
        && a.port() == b.port()
}

/// Why a key prefix would make unusable object keys (`/x`, `a//b`, `./`, `../`), if it
/// would.
fn s3_prefix_problem(prefix: &str) -> Option<String> {
    let bad = prefix.starts_with('/')
        || prefix.chars().any(char::is_control)
        || prefix
            .split('/')
            .rev()
            .skip(1)
            .any(|part| part.is_empty() || part == "." || part == "..");
    bad.then(|| {
        "A prefix has no leading '/', no empty, '.' or '..' parts and no control characters (in/, events/2026/)"
            .into()
    })
}

/// Why `path` is not a plain relative path (absolute, or with `..`), if it is not.
pub fn relative_path_problem(path: &Path) -> Option<String> {
    for component in path.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Some("the path may not contain '..'".into()),
            Component::RootDir | Component::Prefix(_) => {
                return Some("the path must be relative to FILE_DESTINATION_ROOT".into());
            }
        }
    }
    None
}

/// Why `root/path`, resolved as far as it exists, is outside `root` (a symlink out), if
/// it is. A part that does not exist yet cannot lead out.
pub fn escapes_root(root: &Path, path: &Path) -> Option<String> {
    let root = root.canonicalize().ok()?;
    let mut existing = root.join(path);
    while !existing.exists() {
        if !existing.pop() {
            return None;
        }
    }
    let resolved = existing.canonicalize().ok()?;
    (!resolved.starts_with(&root))
        .then(|| "the path leads out of FILE_DESTINATION_ROOT (through a symlink)".into())
}

fn no_whitespace(name: &str) -> Option<String> {
    name.chars()
        .any(char::is_whitespace)
        .then(|| "String should not contain whitespace".into())
}

fn nats_subject_problem(subject: &str) -> Option<String> {
    no_whitespace(subject).or_else(|| {
        subject
            .split('.')
            .any(|token| token.is_empty() || token == "*" || token == ">")
            .then(|| "A subject to publish to has no wildcards (* or >) and no empty tokens".into())
    })
}

fn kafka_topic_problem(topic: &str) -> Option<String> {
    let valid = topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    (!valid).then(|| {
        "A Kafka topic has at most 249 of the characters a-z, A-Z, 0-9, '.', '_' and '-'".into()
    })
}

fn mqtt_topic_problem(topic: &str) -> Option<String> {
    topic
        .contains(['+', '#'])
        .then(|| "A topic to publish to has no wildcards (+ or #)".into())
}

fn python_path_problem(function: &str) -> Option<String> {
    let identifier = |part: &str| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let parts: Vec<&str> = function.split('.').collect();
    (parts.len() < 2 || !parts.iter().all(|p| identifier(p)))
        .then(|| "Input should be a dotted Python path such as 'tasks.handle'".into())
}

fn s3_bucket_problem(bucket: &str) -> Option<String> {
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    (!valid).then(|| {
        "A bucket name has 3 to 63 of a-z, 0-9, '.' and '-', and starts and ends with a letter or digit"
            .into()
    })
}

fn region_problem(region: &str) -> Option<String> {
    (!region
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
    .then(|| "A region has only a-z, 0-9 and '-' (us-east-1)".into())
}

/// Why a Kafka bootstrap broker is not a usable `host:port`, if it is not.
fn broker_problem(broker: &str, allow_private: bool) -> Option<String> {
    match parse_service_url(&format!("kafka://{broker}"), &["kafka"], allow_private) {
        Err(TargetError::Invalid(reason)) => Some(format!("Input should be host:port, {reason}")),
        Err(private @ TargetError::Private(_)) => Some(private.to_string()),
        Ok(url) if url.port().is_none() || url.path() != "" || url.username() != "" => {
            Some("Input should be host:port".into())
        }
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OPEN: Rules<'static> = Rules {
        allow_private: true,
        file_root: None,
    };

    fn locs(errors: &[FieldError]) -> Vec<String> {
        errors
            .iter()
            .map(|e| serde_json::to_string(&e.loc).expect("json"))
            .collect()
    }

    #[test]
    fn every_type_parses_with_its_defaults() {
        let rabbit = parse(
            &json!({"type": "rabbitmq", "url": "amqp://g:g@mq:5672/%2f"}),
            None,
            OPEN,
        )
        .expect("valid");
        assert_eq!(
            rabbit,
            Destination::Rabbitmq(Rabbitmq {
                url: "amqp://g:g@mq:5672/%2f".into(),
                exchange: String::new(),
                routing_key: String::new()
            })
        );
        let s3 = parse(
            &json!({"type": "s3", "bucket": "b-1", "access_key_id": "a", "secret_access_key": "s"}),
            None,
            OPEN,
        )
        .expect("valid");
        let Destination::S3(s3) = s3 else {
            panic!("s3")
        };
        assert_eq!(
            (s3.region.as_str(), s3.endpoint, s3.prefix.as_str()),
            ("us-east-1", None, "")
        );
        for body in [
            json!({"type": "nats", "url": "nats://n:4222", "subject": "a.b"}),
            json!({"type": "kafka", "brokers": ["k:9092"], "topic": "t"}),
            json!({"type": "redis", "url": "redis://r:6379/0", "stream": "s"}),
            json!({"type": "rq", "url": "redis://r", "queue": "q", "function": "m.f"}),
            json!({"type": "mqtt", "url": "mqtt://m:1883", "topic": "a/b", "qos": 0}),
            json!({"type": "log"}),
            json!({"type": "http"}),
        ] {
            parse(&body, None, OPEN).unwrap_or_else(|e| panic!("{body}: {e:?}"));
        }
    }

    #[test]
    fn bad_fields_are_reported_inside_destination() {
        let errors = parse(
            &json!({"type": "nats", "url": "http://n", "subject": "a.*"}),
            None,
            OPEN,
        )
        .expect_err("invalid");
        assert_eq!(
            locs(&errors),
            [
                r#"["body","destination","url"]"#,
                r#"["body","destination","subject"]"#
            ]
        );
        let errors = parse(
            &json!({"type": "kafka", "brokers": ["k", 3], "topic": "a b"}),
            None,
            OPEN,
        )
        .expect_err("invalid");
        assert_eq!(
            locs(&errors),
            [
                r#"["body","destination","brokers",0]"#,
                r#"["body","destination","brokers",1]"#,
                r#"["body","destination","topic"]"#
            ]
        );
        let errors = parse(&json!({"type": "pigeon"}), None, OPEN).expect_err("unknown");
        assert_eq!(locs(&errors), [r#"["body","destination","type"]"#]);
        assert!(errors[0].msg.contains("'rabbitmq'"), "{}", errors[0].msg);
        let errors = parse(
            &json!({"type": "mqtt", "url": "mqtt://m", "topic": "a/#", "qos": 2}),
            None,
            OPEN,
        )
        .expect_err("invalid");
        assert_eq!(
            locs(&errors),
            [
                r#"["body","destination","topic"]"#,
                r#"["body","destination","qos"]"#
            ]
        );
        let errors = parse(&json!("rabbitmq"), None, OPEN).expect_err("not an object");
        assert_eq!(locs(&errors), [r#"["body","destination"]"#]);
    }

    #[test]
    fn private_broker_hosts_follow_the_target_rule() {
        let closed = Rules {
            allow_private: false,
            file_root: None,
        };
        let body = json!({"type": "redis", "url": "redis://127.0.0.1:6379", "stream": "s"});
        let errors = parse(&body, None, closed).expect_err("private");
        assert_eq!(errors[0].kind, "url_private_host");
        let body = json!({"type": "kafka", "brokers": ["10.0.0.1:9092"], "topic": "t"});
        assert!(parse(&body, None, closed).is_err());
        assert!(parse(&body, None, OPEN).is_ok());
    }

    #[test]
    fn a_masked_secret_keeps_the_stored_one() {
        let stored = parse(
            &json!({"type": "rabbitmq", "url": "amqp://u:secret@mq/%2f"}),
            None,
            OPEN,
        )
        .expect("valid");
        let masked = serde_json::to_value(stored.masked()).expect("json");
        let again = parse(&masked, Some(&stored), OPEN).expect("kept");
        assert_eq!(again, stored);
        let errors = parse(&masked, None, OPEN).expect_err("nothing to keep");
        assert_eq!(locs(&errors), [r#"["body","destination","url"]"#]);
        let s3 =
            json!({"type": "s3", "bucket": "bkt", "access_key_id": "a", "secret_access_key": "sk"});
        let stored = parse(&s3, None, OPEN).expect("valid");
        let masked = serde_json::to_value(stored.masked()).expect("json");
        assert_eq!(parse(&masked, Some(&stored), OPEN).expect("kept"), stored);

        // Never for another host, user or key: the secret would go where it was not given.
        let rabbit = parse(
            &json!({"type": "rabbitmq", "url": "amqp://u:secret@mq/%2f"}),
            None,
            OPEN,
        )
        .expect("valid");
        for moved in [
            "amqp://u:***@elsewhere/%2f",
            "amqp://v:***@mq/%2f",
            "amqp://u:***@mq:5673/%2f",
        ] {
            let body = json!({"type": "rabbitmq", "url": moved});
            assert!(parse(&body, Some(&rabbit), OPEN).is_err(), "{moved}");
        }
        let mut other_key = masked.clone();
        other_key["access_key_id"] = json!("another");
        assert!(parse(&other_key, Some(&stored), OPEN).is_err());
        let mut other_endpoint = masked;
        other_endpoint["endpoint"] = json!("https://s3.example.com");
        assert!(parse(&other_endpoint, Some(&stored), OPEN).is_err());
    }

    #[test]
    fn s3_prefixes_make_usable_keys() {
        for good in ["", "in/", "events/2026/", "plain-"] {
            let body = json!({"type": "s3", "bucket": "bkt", "prefix": good, "access_key_id": "a", "secret_access_key": "s"});
            assert!(parse(&body, None, OPEN).is_ok(), "{good:?}");
        }
        for bad in ["/in/", "a//b/", "../x/", "a/./"] {
            let body = json!({"type": "s3", "bucket": "bkt", "prefix": bad, "access_key_id": "a", "secret_access_key": "s"});
            let errors = parse(&body, None, OPEN).expect_err(bad);
            assert_eq!(
                locs(&errors),
                [r#"["body","destination","prefix"]"#],
                "{bad}"
            );
        }
    }

    #[test]
    fn file_paths_stay_under_the_root() {
        let root = std::env::temp_dir().join(format!("hookrelay-dest-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(root.join("in")).expect("mkdir");
        let rules = Rules {
            allow_private: false,
            file_root: Some(&root),
        };
        assert!(parse(&json!({"type": "file", "path": "in"}), None, rules).is_ok());
        assert!(parse(&json!({"type": "file", "path": "not/yet"}), None, rules).is_ok());
        for bad in ["../x", "/etc", "in/../../x", ""] {
            let errors = parse(&json!({"type": "file", "path": bad}), None, rules).expect_err(bad);
            assert_eq!(locs(&errors), [r#"["body","destination","path"]"#], "{bad}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/tmp", root.join("out")).expect("symlink");
            let errors = parse(&json!({"type": "file", "path": "out/x"}), None, rules)
                .expect_err("symlink out");
            assert!(errors[0].msg.contains("symlink"), "{errors:?}");
        }
        let errors =
            parse(&json!({"type": "file", "path": "in"}), None, OPEN).expect_err("no root");
        assert_eq!(locs(&errors), [r#"["body","destination","type"]"#]);
        std::fs::remove_dir_all(&root).expect("clean up");
    }
}
