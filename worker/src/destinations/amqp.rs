//! RabbitMQ (AMQP 0-9-1, `lapin`): one connection and one confirm-mode channel per URL.
//!
//! Each delivery is one persistent message published as `mandatory` to the exchange with
//! the routing key; `message_id` is the webhook id, `content_type` and `timestamp` are
//! properties, every other header goes in the headers table. Success is the broker's
//! publisher confirm; a message it returns (no queue bound) or nacks is a failed attempt,
//! as is a missing exchange (the broker closes the channel; the next attempt opens a new
//! one).

use std::sync::Arc;

use hookrelay_domain::destinations::Rabbitmq as Settings;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};

use super::message::{Ack, Failure, Message};
use super::pool::{Connector, Pool, url_host};

/// Persistent (`delivery_mode` 2): a durable queue keeps it across a broker restart.
const PERSISTENT: u8 = 2;

pub struct Rabbitmq;

pub struct Open {
    connection: Connection,
    channel: Channel,
}

impl Connector for Rabbitmq {
    type Address = str;
    type Connection = Open;

    fn key(url: &str) -> String {
        url.to_owned()
    }

    fn hosts(url: &str) -> Vec<(String, u16)> {
        let port = if url.starts_with("amqps:") {
            5671
        } else {
            5672
        };
        url_host(url, port)
    }

    async fn connect(&self, url: &str) -> Result<Open, String> {
        let describe = |e: lapin::Error| format!("RabbitMQ connection failed: {e}");
        let connection = Connection::connect(url, ConnectionProperties::default())
            .await
            .map_err(describe)?;
        let channel = connection.create_channel().await.map_err(describe)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(describe)?;
        Ok(Open {
            connection,
            channel,
        })
    }

    fn is_open(open: &Open) -> bool {
        open.connection.status().connected() && open.channel.status().connected()
    }

    fn close(open: Arc<Open>) {
        tokio::spawn(async move {
            let _ = open.connection.close(200, "idle".into()).await;
        });
    }
}

pub async fn publish(
    pool: &Pool<Rabbitmq>,
    settings: &Settings,
    message: &Message,
    timeout: std::time::Duration,
) -> Result<Ack, Failure> {
    pool.with_connection(&settings.url, timeout, |open| async move {
        let mut headers = FieldTable::default();
        let mut properties = BasicProperties::default()
            .with_message_id(message.webhook_id.to_string().into())
            .with_timestamp(u64::try_from(message.timestamp).unwrap_or(0))
            .with_delivery_mode(PERSISTENT);
        for (name, value) in &message.headers {
            match name.as_str() {
                "content-type" => {
                    properties = properties.with_content_type(value.as_str().into());
                }
                _ => {
                    headers.insert(
                        ShortString::from(name.as_str()),
                        AMQPValue::LongString(LongString::from(value.as_bytes().to_vec())),
                    );
                }
            }
        }
        let confirm = open
            .channel
            .basic_publish(
                settings.exchange.as_str().into(),
                settings.routing_key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                },
                &message.body,
                properties.with_headers(headers),
            )
            .await
            .map_err(|e| Failure::retry(format!("RabbitMQ publish failed: {e}")))?;
        match confirm
            .await
            .map_err(|e| Failure::retry(format!("RabbitMQ publish failed: {e}")))?
        {
            Confirmation::Ack(None) => Ok("confirmed by RabbitMQ".into()),
            Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => {
                Err(Failure::retry(format!(
                    "RabbitMQ returned the message as unroutable: {} {} (exchange {:?}, routing key {:?})",
                    returned.reply_code, returned.reply_text, settings.exchange, settings.routing_key
                )))
            }
            Confirmation::Nack(None) => Err(Failure::retry("RabbitMQ nacked the message")),
            Confirmation::NotRequested => Err(Failure::retry(
                "RabbitMQ did not confirm the message (confirms are off on the channel)",
            )),
        }
    })
    .await
}
