//! The console's destination part of a subscription form (CONTRACT §15): a type select
//! and one fieldset per type, each with its own fields (`rabbitmq.url`, `s3.bucket`, …;
//! HTTP's is `target_url`). The console's script shows only the chosen type's fieldset;
//! without it all show, and only the chosen type's fields are read.
//!
//! What the fields become is the JSON route's body (`destination` and `target_url`), so
//! the domain's rules and messages are the same in both. An edit form shows secrets as
//! `***`, which the api keeps when sent back.

use hookrelay_domain::destinations::Kind as DestinationKind;
use hookrelay_domain::subscriptions::Subscription;
use serde_json::{Map, Value};

use super::form::{Fields, Kind};

/// The select's field name.
pub const TYPE_FIELD: &str = "destination_type";

/// One field of a type's fieldset.
struct FieldSpec {
    /// The destination's field (`url`); the form's is `<type>.<field>`.
    field: &'static str,
    label: &'static str,
    kind: Kind,
    placeholder: &'static str,
}

const fn text(field: &'static str, label: &'static str, placeholder: &'static str) -> FieldSpec {
    FieldSpec {
        field,
        label,
        kind: Kind::Text,
        placeholder,
    }
}

/// How people call a type, and its fields.
fn spec(kind: DestinationKind) -> (&'static str, &'static [FieldSpec]) {
    use DestinationKind as K;
    match kind {
        K::Http => ("HTTP", &[]),
        K::Rabbitmq => ("RabbitMQ", RABBITMQ_FIELDS),
        K::Nats => ("NATS JetStream", NATS_FIELDS),
        K::Kafka => ("Kafka", KAFKA_FIELDS),
        K::Redis => ("Redis stream", REDIS_FIELDS),
        K::Rq => ("RQ job", RQ_FIELDS),
        K::S3 => ("S3", S3_FIELDS),
        K::Mqtt => ("MQTT 5", MQTT_FIELDS),
        K::File => ("File", FILE_FIELDS),
        K::Log => ("Log (worker's stdout)", &[]),
    }
}

const RABBITMQ_FIELDS: &[FieldSpec] = &[
    text("url", "AMQP URL", "amqp://user:pass@rabbitmq:5672/%2f"),
    text("exchange", "Exchange", "empty: the default exchange"),
    text(
        "routing_key",
        "Routing key",
        "a queue's name, with the default exchange",
    ),
];

const NATS_FIELDS: &[FieldSpec] = &[
    text("url", "NATS URL", "nats://nats:4222"),
    text(
        "subject",
        "Subject",
        "webhooks.orders (a stream must capture it)",
    ),
];

const KAFKA_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        field: "brokers",
        label: "Brokers",
        kind: Kind::List,
        placeholder: "kafka-1:9092, kafka-2:9092",
    },
    text("topic", "Topic", "webhooks.orders"),
];

const REDIS_FIELDS: &[FieldSpec] = &[
    text("url", "Redis URL", "redis://redis:6379/0"),
    text("stream", "Stream", "an existing stream's key"),
];

const RQ_FIELDS: &[FieldSpec] = &[
    text("url", "Redis URL", "redis://redis:6379/0"),
    text("queue", "Queue", "default"),
    text("function", "Function", "tasks.handle_webhook"),
];

const S3_FIELDS: &[FieldSpec] = &[
    text("bucket", "Bucket", "my-webhooks"),
    text("prefix", "Key prefix", "incoming/ (empty: none)"),
    text("region", "Region", "empty: us-east-1"),
    text("endpoint", "Endpoint", "empty: AWS; or https://minio:9000"),
    text("access_key_id", "Access key id", ""),
    text("secret_access_key", "Secret access key", ""),
];

const MQTT_FIELDS: &[FieldSpec] = &[
    text("url", "MQTT URL", "mqtt://user:pass@mosquitto:1883"),
    text("topic", "Topic", "webhooks/orders"),
    FieldSpec {
        field: "qos",
        label: "QoS",
        kind: Kind::Integer,
        placeholder: "empty: 1 (PUBACK); or 0",
    },
];

const FILE_FIELDS: &[FieldSpec] = &[text(
    "path",
    "Directory",
    "a directory under FILE_DESTINATION_ROOT",
)];

/// One type's fieldset, as a page shows it.
pub struct TypeForm {
    pub kind: &'static str,
    pub label: &'static str,
    pub selected: bool,
    pub fields: Vec<FieldView>,
}

pub struct FieldView {
    /// The form field's name.
    pub name: String,
    pub id: String,
    pub label: &'static str,
    pub value: String,
    pub placeholder: &'static str,
}

/// The fieldsets of a form, filled from `current` (an edit form) or empty (a new one);
/// `id_prefix` keeps element ids apart between forms of one page.
pub fn views(current: Option<&Subscription>, id_prefix: &str) -> Vec<TypeForm> {
    let current_kind = current.map_or(DestinationKind::Http, |s| s.destination().kind());
    // What reads show: secrets as `***`.
    let shown = current.map(|s| serde_json::to_value(s.destination().masked()).unwrap_or_default());
    DestinationKind::ALL
        .into_iter()
        .map(|kind| {
            let (label, fields) = spec(kind);
            let mine = shown.as_ref().filter(|_| kind == current_kind);
            TypeForm {
                kind: kind.as_str(),
                label,
                selected: kind == current_kind,
                fields: fields
                    .iter()
                    .map(|f| FieldView {
                        name: format!("{kind}.{}", f.field),
                        id: format!("{id_prefix}{kind}-{}", f.field),
                        label: f.label,
                        value: mine
                            .and_then(|d| d.get(f.field))
                            .map(shown_value)
                            .unwrap_or_default(),
                        placeholder: f.placeholder,
                    })
                    .collect(),
            }
        })
        .collect()
}

/// A stored value as the field shows it (a list as `a, b`).
fn shown_value(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(shown_value).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// The body's `destination` and `target_url` from the submitted form. An edit form
/// (`editing`) names HTTP when it is chosen, so a subscription switching back says so (and
/// one that stays HTTP is unchanged); a new one leaves it to the default.
pub fn body(fields: &Fields, editing: bool) -> Map<String, Value> {
    let kind = fields
        .get(TYPE_FIELD)
        .and_then(DestinationKind::parse)
        .unwrap_or(DestinationKind::Http);
    let mut body = Map::new();
    if kind == DestinationKind::Http {
        if editing {
            body.insert("destination".into(), serde_json::json!({"type": "http"}));
        }
        if let Some(url) = fields.get("target_url") {
            body.insert("target_url".into(), Value::from(url));
        }
        return body;
    }
    let (_, specs) = spec(kind);
    let names: Vec<(String, Kind)> = specs
        .iter()
        .map(|f| (format!("{kind}.{}", f.field), f.kind))
        .collect();
    let spec: Vec<(&str, Kind)> = names.iter().map(|(n, k)| (n.as_str(), *k)).collect();
    let mut destination = Map::new();
    destination.insert("type".into(), Value::from(kind.as_str()));
    for (name, value) in fields.to_json(&spec) {
        let field = name.split_once('.').map_or(name.as_str(), |(_, f)| f);
        destination.insert(field.to_owned(), value);
    }
    body.insert("destination".into(), Value::Object(destination));
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Fields {
        Fields(
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn only_the_chosen_types_fields_are_read() {
        let body = body(
            &form(&[
                ("destination_type", "kafka"),
                ("target_url", "https://ignored.example"),
                ("kafka.brokers", "k1:9092, k2:9092"),
                ("kafka.topic", "t"),
                ("nats.subject", "ignored"),
            ]),
            false,
        );
        assert_eq!(
            Value::Object(body),
            serde_json::json!({"destination": {"type": "kafka", "brokers": ["k1:9092", "k2:9092"], "topic": "t"}})
        );
    }

    #[test]
    fn http_sends_the_target_url_and_names_itself_only_on_edits() {
        let fields = form(&[
            ("destination_type", "http"),
            ("target_url", "https://e.com"),
        ]);
        assert_eq!(
            Value::Object(body(&fields, false)),
            serde_json::json!({"target_url": "https://e.com"})
        );
    }

    #[test]
    fn every_type_has_a_fieldset() {
        let forms = views(None, "new-");
        assert_eq!(forms.len(), DestinationKind::ALL.len());
        assert!(forms[0].selected && forms[0].kind == "http");
        let s3 = forms.iter().find(|f| f.kind == "s3").expect("s3");
        assert_eq!(s3.fields[0].name, "s3.bucket");
        assert_eq!(s3.fields[0].id, "new-s3-bucket");
    }
}
