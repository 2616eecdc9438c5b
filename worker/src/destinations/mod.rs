//! Sending one attempt to the subscription's destination (CONTRACT §15): the HTTP request
//! of §5, or one message, object or line to a broker, an object store, a file or the log.
//!
//! - [`Registry::send`] is the one dispatch point the attempt pipeline calls: it turns the
//!   attempt into what the destination takes and gives back an [`AttemptReport`] that the
//!   pipeline already knows how to judge, log, retry and count.
//! - [`pool`]: the [`pool::Connector`] trait each connection-based type implements, and
//!   the [`pool::Pool`] that shares one connection per destination among attempts,
//!   replaces it after a broker restart, closes it when idle and bounds every publish by
//!   the subscription's timeout.
//! - One module per type: [`amqp`] (RabbitMQ), [`nats`] (JetStream), [`kafka`],
//!   [`redis`] (`XADD`), [`rq`] (Python RQ jobs, over `redis`'s connections), [`s3`],
//!   [`mqtt`], [`file`] and [`log`]. HTTP stays in `crate::delivery`.
//!
//! Adding a type: a variant of `hookrelay_domain::destinations::Destination` (with its
//! input rules), a module here, and one line in [`Registry::send`] and [`Registry::new`].

pub mod amqp;
pub mod file;
pub mod kafka;
pub mod log;
pub mod message;
pub mod mqtt;
pub mod nats;
pub mod pool;
pub mod redis;
pub mod rq;
pub mod s3;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hookrelay_domain::destinations::{Destination, Kind};
use hookrelay_shared::time;

use crate::delivery::{self, AttemptReport, AttemptRequest, Exchange};
pub use message::{Ack, Failure, Message};
use pool::Pool;

/// Every destination type's sender, shared by all attempts.
pub struct Registry {
    http: reqwest::Client,
    allow_private: bool,
    file_root: Option<PathBuf>,
    amqp: Pool<amqp::Rabbitmq>,
    nats: Pool<nats::JetStream>,
    kafka: Pool<kafka::Kafka>,
    redis: Pool<redis::RedisServer>,
    s3: Pool<s3::S3>,
    mqtt: Pool<mqtt::Mqtt>,
}

impl Registry {
    pub fn new(http: reqwest::Client, allow_private: bool, file_root: Option<PathBuf>) -> Self {
        Self {
            http,
            allow_private,
            file_root,
            amqp: Pool::new(amqp::Rabbitmq, allow_private),
            nats: Pool::new(nats::JetStream, allow_private),
            kafka: Pool::new(kafka::Kafka, allow_private),
            redis: Pool::new(redis::RedisServer, allow_private),
            s3: Pool::new(s3::S3, allow_private),
            mqtt: Pool::new(mqtt::Mqtt, allow_private),
        }
    }

    /// Sends one attempt to the subscription's destination, within `timeout`. Never
    /// fails: every failure is an `Exchange::Failed`.
    pub async fn send(&self, request: &AttemptRequest<'_>, timeout: Duration) -> AttemptReport {
        let destination = request.subscription.destination();
        if let Destination::Http = destination {
            return delivery::send(&self.http, request, timeout, self.allow_private).await;
        }
        let started_at = time::now();
        let clock = Instant::now();
        let message = message(request, started_at.timestamp());
        let published = match destination {
            Destination::Http => unreachable!("sent above"),
            Destination::Rabbitmq(d) => amqp::publish(&self.amqp, d, &message, timeout).await,
            Destination::Nats(d) => nats::publish(&self.nats, d, &message, timeout).await,
            Destination::Kafka(d) => kafka::publish(&self.kafka, d, &message, timeout).await,
            Destination::Redis(d) => redis::publish(&self.redis, d, &message, timeout).await,
            Destination::Rq(d) => rq::publish(&self.redis, d, &message, timeout).await,
            Destination::S3(d) => s3::publish(&self.s3, d, &message, timeout).await,
            Destination::Mqtt(d) => mqtt::publish(&self.mqtt, d, &message, timeout).await,
            Destination::File(d) => {
                pool::bounded(timeout, file::write(self.file_root.as_deref(), d, &message)).await
            }
            Destination::Log => log::write(&message, timeout).await,
        };
        AttemptReport {
            target_url: request.subscription.locator(),
            retry_after: None,
            started_at,
            finished_at: time::now(),
            duration: clock.elapsed(),
            exchange: match published {
                Ok(ack) => Exchange::Acknowledged { ack },
                Err(failure) => Exchange::Failed {
                    error: delivery::storable_text(failure.error),
                    retryable: failure.retryable,
                },
            },
        }
    }

    /// Closes connections no attempt has used for `idle`: those of destinations no
    /// subscription sends to any more, or only rarely. Returns how many were closed.
    pub fn close_idle(&self, idle: Duration) -> usize {
        self.amqp.close_idle(idle)
            + self.nats.close_idle(idle)
            + self.kafka.close_idle(idle)
            + self.redis.close_idle(idle)
            + self.s3.close_idle(idle)
            + self.mqtt.close_idle(idle)
    }

    /// Open connections, by destination type.
    pub fn open_connections(&self) -> [(Kind, usize); 6] {
        [
            (Kind::Rabbitmq, self.amqp.len()),
            (Kind::Nats, self.nats.len()),
            (Kind::Kafka, self.kafka.len()),
            // `rq` destinations share these.
            (Kind::Redis, self.redis.len()),
            (Kind::S3, self.s3.len()),
            (Kind::Mqtt, self.mqtt.len()),
        ]
    }
}

/// How long a connection may go unused before it is closed.
pub const IDLE_AFTER: Duration = Duration::from_secs(300);

impl Registry {
    /// Closes idle connections, and sets the connection gauges, every 15 s until `stop`
    /// fires.
    pub async fn sweep_idle(self: std::sync::Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let mut every = tokio::time::interval(Duration::from_secs(15));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = every.tick() => {}
            }
            let closed = self.close_idle(IDLE_AFTER);
            if closed > 0 {
                tracing::info!(closed, "closed idle destination connections");
            }
            crate::metrics::destination_connections(&self.open_connections());
        }
    }
}

/// The message of an attempt: §5's headers, minus what only HTTP needs (`user-agent`).
/// A destination other than HTTP always carries (and signs) the body, whatever the
/// subscription's `http_method`.
fn message(request: &AttemptRequest<'_>, timestamp: i64) -> Message {
    let headers = delivery::build_headers(request, timestamp)
        .iter()
        .filter(|(name, _)| *name != reqwest::header::USER_AGENT)
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    Message {
        webhook_id: request.webhook_id,
        body: request.body.clone(),
        headers,
        timestamp,
    }
}
