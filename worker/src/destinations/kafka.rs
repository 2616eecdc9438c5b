//! Kafka (`rdkafka`, librdkafka): one idempotent producer (`acks=all`) per list of
//! bootstrap brokers.
//!
//! Each delivery is one record on the topic: the body as its value, every header as a
//! record header, and the webhook id as its key (the ordering key of CONTRACT §17 once
//! there is one). Success is the ack from all in-sync replicas; librdkafka reconnects by
//! itself, so a producer is kept across a timed-out attempt, and a topic that does not
//! exist is a failed attempt (hookrelay creates none).

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use hookrelay_domain::destinations::Kafka as Settings;

use super::message::{Ack, Failure, Message};
use super::pool::{Connector, Pool};

/// How long librdkafka keeps trying one record: longer than any attempt's timeout
/// (which ends the attempt first, CONTRACT §3's 60 s at most).
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(75);

pub struct Kafka;

/// A producer; dropping it waits for librdkafka's threads, so that happens off the
/// async runtime.
pub struct Open {
    producer: Option<FutureProducer>,
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(producer) = self.producer.take() {
            std::thread::spawn(move || drop(producer));
        }
    }
}

impl Connector for Kafka {
    type Address = [String];
    type Connection = Open;
    const REPLACE_AFTER_TIMEOUT: bool = false;

    fn key(brokers: &[String]) -> String {
        brokers.join(",")
    }

    fn hosts(brokers: &[String]) -> Vec<(String, u16)> {
        brokers
            .iter()
            .filter_map(|b| {
                let (host, port) = b.rsplit_once(':')?;
                Some((host.trim_matches(['[', ']']).to_owned(), port.parse().ok()?))
            })
            .collect()
    }

    async fn connect(&self, brokers: &[String]) -> Result<Open, String> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", brokers.join(","))
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // A missing topic is a failed attempt, never one made by the first record.
            .set("allow.auto.create.topics", "false")
            .set(
                "message.timeout.ms",
                MESSAGE_TIMEOUT.as_millis().to_string(),
            )
            .create()
            .map_err(|e| format!("Kafka producer failed: {e}"))?;
        Ok(Open {
            producer: Some(producer),
        })
    }

    fn is_open(_: &Open) -> bool {
        true
    }
}

pub async fn publish(
    pool: &Pool<Kafka>,
    settings: &Settings,
    message: &Message,
    timeout: Duration,
) -> Result<Ack, Failure> {
    pool.with_connection(&settings.brokers, timeout, |open| async move {
        let Some(producer) = open.producer.as_ref() else {
            return Err(Failure::retry("Kafka producer closed"));
        };
        let headers = message
            .headers
            .iter()
            .fold(OwnedHeaders::new(), |headers, (name, value)| {
                headers.insert(Header {
                    key: name,
                    value: Some(value.as_bytes()),
                })
            });
        let key = message.webhook_id.to_string();
        let record = FutureRecord::to(&settings.topic)
            .key(&key)
            .payload(message.body.as_ref())
            .headers(headers);
        match producer.send(record, Timeout::After(timeout)).await {
            Ok(delivery) => Ok(format!(
                "partition {} offset {}",
                delivery.partition, delivery.offset
            )),
            Err((e, _)) => Err(Failure::retry(format!("Kafka produce failed: {e}"))),
        }
    })
    .await
}
