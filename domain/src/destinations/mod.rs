//! Where a subscription's deliveries go (CONTRACT §15): an HTTP endpoint (its
//! `target_url`, as in §3) or a broker, an object store, a file or the log.
//!
//! - [`Destination`]: the settings of each type, stored as the subscription's
//!   `destination` column (`NULL` for HTTP, whose URL stays in `target_url`), credentials
//!   included; [`Destination::masked`] is what every read shows.
//! - [`Kind`]: the type names, in one place (the `type` field, the console's form,
//!   metric labels).
//! - [`input`]: reading a `destination` object, every bad field with its `loc`.
//! - [`Destination::locator`]: the `target_url` of its attempts and deliveries, secrets
//!   redacted.
//!
//! Sending is the worker's (`worker/src/destinations/`): one module per type behind one
//! trait and one registry.

pub mod input;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Jsonb;
use serde::{Deserialize, Serialize};

/// What a read shows in place of a stored secret; sent back, it keeps the stored one.
pub const MASK: &str = "***";

hookrelay_shared::text_enum! {
    /// The destination types, as the `type` field names them.
    #[derive(Hash, utoipa::ToSchema)]
    pub enum Kind {
        Http = "http",
        Rabbitmq = "rabbitmq",
        Nats = "nats",
        Kafka = "kafka",
        Redis = "redis",
        Rq = "rq",
        S3 = "s3",
        Mqtt = "mqtt",
        File = "file",
        Log = "log",
    }
    impl Serialize, Display;
}

/// A subscription's destination. The serde form is the API's (`{"type": "nats", …}`),
/// and the stored one.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, AsExpression, FromSqlRow, utoipa::ToSchema,
)]
#[diesel(sql_type = Jsonb)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Destination {
    /// The subscription's `target_url` (the default).
    Http,
    /// An AMQP 0-9-1 exchange, published to with publisher confirms, as mandatory.
    Rabbitmq(Rabbitmq),
    /// A NATS JetStream subject; a stream must capture it.
    Nats(Nats),
    /// A Kafka topic (idempotent producer, `acks=all`).
    Kafka(Kafka),
    /// A Redis stream (`XADD`; the stream must exist).
    Redis(RedisStream),
    /// A Python RQ queue: a job that runs `function(payload, headers)`.
    Rq(RqQueue),
    /// An S3 bucket: one object per delivery, `<prefix><webhook_id>`.
    S3(S3Bucket),
    /// An MQTT 5 topic.
    Mqtt(Mqtt),
    /// A directory under `FILE_DESTINATION_ROOT`: one file per delivery.
    File(FileDirectory),
    /// One JSON line per delivery on the worker's stdout.
    Log,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rabbitmq {
    /// `amqp://user:pass@host:5672/vhost` (or `amqps://`).
    pub url: String,
    /// `""`: the default exchange, which routes by queue name.
    #[serde(default)]
    #[schema(required = false, default = "")]
    pub exchange: String,
    #[serde(default)]
    #[schema(required = false, default = "")]
    pub routing_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Nats {
    /// `nats://host:4222` (or `tls://`), with `user:pass@` when the server wants it.
    pub url: String,
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Kafka {
    /// Bootstrap brokers, `host:port` each.
    #[schema(min_items = 1)]
    pub brokers: Vec<String>,
    pub topic: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RedisStream {
    /// `redis://host:6379/0` (or `rediss://`).
    pub url: String,
    pub stream: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RqQueue {
    /// `redis://host:6379/0` (or `rediss://`).
    pub url: String,
    pub queue: String,
    /// The dotted path of the Python function the job runs (`module.function`).
    pub function: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct S3Bucket {
    pub bucket: String,
    /// Put before the webhook id in each object's key.
    #[serde(default)]
    #[schema(required = false, default = "")]
    pub prefix: String,
    #[serde(default = "default_region")]
    #[schema(required = false, default = "us-east-1")]
    pub region: String,
    /// An S3-compatible endpoint (`http(s)://host:port`), addressed path-style; `null`:
    /// AWS.
    #[serde(default)]
    #[schema(required = false)]
    pub endpoint: Option<String>,
    pub access_key_id: String,
    /// Write-only: reads show `***`.
    pub secret_access_key: String,
}

fn default_region() -> String {
    "us-east-1".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Mqtt {
    /// `mqtt://user:pass@host:1883` (or `mqtts://`).
    pub url: String,
    pub topic: String,
    /// 1: the broker's PUBACK is the acknowledgement; 0: sent is delivered.
    #[serde(default = "default_qos")]
    #[schema(required = false, default = 1, minimum = 0, maximum = 1)]
    pub qos: u8,
}

const fn default_qos() -> u8 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileDirectory {
    /// A directory relative to `FILE_DESTINATION_ROOT`, which must exist.
    pub path: String,
}

/// The default destination, for rows whose `destination` column is `NULL`.
pub static HTTP: Destination = Destination::Http;

impl Destination {
    pub const fn kind(&self) -> Kind {
        match self {
            Self::Http => Kind::Http,
            Self::Rabbitmq(_) => Kind::Rabbitmq,
            Self::Nats(_) => Kind::Nats,
            Self::Kafka(_) => Kind::Kafka,
            Self::Redis(_) => Kind::Redis,
            Self::Rq(_) => Kind::Rq,
            Self::S3(_) => Kind::S3,
            Self::Mqtt(_) => Kind::Mqtt,
            Self::File(_) => Kind::File,
            Self::Log => Kind::Log,
        }
    }

    /// As every read shows it: passwords in URLs and `secret_access_key` as `***`.
    pub fn masked(&self) -> Self {
        let mask = |url: &str| hookrelay_shared::config::mask_url_password(url);
        match self {
            Self::Rabbitmq(d) => Self::Rabbitmq(Rabbitmq {
                url: mask(&d.url),
                ..d.clone()
            }),
            Self::Nats(d) => Self::Nats(Nats {
                url: mask(&d.url),
                ..d.clone()
            }),
            Self::Redis(d) => Self::Redis(RedisStream {
                url: mask(&d.url),
                ..d.clone()
            }),
            Self::Rq(d) => Self::Rq(RqQueue {
                url: mask(&d.url),
                ..d.clone()
            }),
            Self::Mqtt(d) => Self::Mqtt(Mqtt {
                url: mask(&d.url),
                ..d.clone()
            }),
            Self::S3(d) => Self::S3(S3Bucket {
                secret_access_key: MASK.into(),
                ..d.clone()
            }),
            Self::Http | Self::Kafka(_) | Self::File(_) | Self::Log => self.clone(),
        }
    }

    /// The `target_url` of this destination's attempts and deliveries, secrets redacted
    /// (`amqp://guest:***@host:5672/%2f/exchange/routing_key`, `s3://bucket/prefix`,
    /// `file:path`, `log:`). `None` for HTTP, whose locator is its `target_url`.
    pub fn locator(&self) -> Option<String> {
        let under = |url: &str, name: &str| {
            let url = hookrelay_shared::config::mask_url_password(url);
            format!("{}/{name}", url.trim_end_matches('/'))
        };
        Some(match self {
            Self::Http => return None,
            Self::Rabbitmq(d) => under(&d.url, &format!("{}/{}", d.exchange, d.routing_key)),
            Self::Nats(d) => under(&d.url, &d.subject),
            Self::Kafka(d) => format!("kafka://{}/{}", d.brokers.join(","), d.topic),
            Self::Redis(d) => under(&d.url, &d.stream),
            Self::Rq(d) => under(&d.url, &format!("rq:queue:{}", d.queue)),
            Self::S3(d) => format!("s3://{}/{}", d.bucket, d.prefix),
            Self::Mqtt(d) => under(&d.url, &d.topic),
            Self::File(d) => format!("file:{}", d.path),
            Self::Log => "log:".into(),
        })
    }
}

/// A subscription's `destination` as reads show it: masked, and `{"type": "http"}` for
/// a `NULL` column.
pub fn serialize_masked<S: serde::Serializer>(
    destination: &Option<Destination>,
    s: S,
) -> Result<S::Ok, S::Error> {
    destination
        .as_ref()
        .map_or_else(|| HTTP.clone(), Destination::masked)
        .serialize(s)
}

impl FromSql<Jsonb, Pg> for Destination {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let value = <serde_json::Value as FromSql<Jsonb, Pg>>::from_sql(bytes)?;
        Ok(serde_json::from_value(value)?)
    }
}

impl ToSql<Jsonb, Pg> for Destination {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        use std::io::Write as _;
        // jsonb's binary format: a version byte, then the JSON text.
        out.write_all(&[1])?;
        serde_json::to_writer(out, self)?;
        Ok(IsNull::No)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_from_their_names() {
        hookrelay_shared::assert_texts_round_trip!(Kind);
    }

    #[test]
    fn every_kind_is_a_destination_type() {
        for kind in Kind::ALL {
            let destination: Result<Destination, _> =
                serde_json::from_value(serde_json::json!({"type": kind.as_str()}));
            // Types with required fields fail on those, never on the type.
            if let Err(e) = destination {
                assert!(!e.to_string().contains("unknown variant"), "{kind}: {e}");
            }
        }
    }

    #[test]
    fn reads_mask_secrets_and_locators_redact_them() {
        let amqp = Destination::Rabbitmq(Rabbitmq {
            url: "amqp://guest:guest@mq:5672/%2f".into(),
            exchange: "ex".into(),
            routing_key: "rk".into(),
        });
        assert_eq!(
            amqp.locator().as_deref(),
            Some("amqp://guest:***@mq:5672/%2f/ex/rk")
        );
        let Destination::Rabbitmq(masked) = amqp.masked() else {
            panic!("same type")
        };
        assert_eq!(masked.url, "amqp://guest:***@mq:5672/%2f");
        let s3 = Destination::S3(S3Bucket {
            bucket: "b".into(),
            prefix: "in/".into(),
            region: default_region(),
            endpoint: None,
            access_key_id: "AK".into(),
            secret_access_key: "SK".into(),
        });
        assert_eq!(s3.locator().as_deref(), Some("s3://b/in/"));
        assert!(
            !serde_json::to_string(&s3.masked())
                .expect("json")
                .contains("SK")
        );
        assert_eq!(Destination::Log.locator().as_deref(), Some("log:"));
        assert_eq!(Destination::Http.locator(), None);
    }

    #[test]
    fn optional_fields_take_their_defaults() {
        let mqtt: Destination = serde_json::from_value(
            serde_json::json!({"type": "mqtt", "url": "mqtt://h", "topic": "t"}),
        )
        .expect("valid");
        assert_eq!(
            mqtt,
            Destination::Mqtt(Mqtt {
                url: "mqtt://h".into(),
                topic: "t".into(),
                qos: 1
            })
        );
    }
}
