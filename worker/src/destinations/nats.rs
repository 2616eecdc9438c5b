//! NATS JetStream (`async-nats`): one client per URL.
//!
//! Each delivery is one message on the subject, with every header as a NATS header and
//! `Nats-Msg-Id` = the webhook id (JetStream drops a repeat within the stream's
//! duplicate window). Success is the stream's PubAck; a subject no stream captures is a
//! failed attempt (`no stream found for given subject`). The client reconnects by
//! itself; a publish while it cannot is bounded by the attempt's timeout.

use async_nats::connection::State;
use async_nats::jetstream;
use hookrelay_domain::destinations::Nats as Settings;

use super::pool::{Connector, Pool, url_host};
use super::{Ack, Failure, Message};

pub struct JetStream;

pub struct Open {
    client: async_nats::Client,
    context: jetstream::Context,
}

impl Connector for JetStream {
    type Address = str;
    type Connection = Open;

    fn key(url: &str) -> String {
        url.to_owned()
    }

    fn hosts(url: &str) -> Vec<(String, u16)> {
        url_host(url, 4222)
    }

    async fn connect(&self, url: &str) -> Result<Open, String> {
        let client = async_nats::ConnectOptions::new()
            .connect(url)
            .await
            .map_err(|e| format!("NATS connection failed: {e}"))?;
        let context = jetstream::new(client.clone());
        Ok(Open { client, context })
    }

    fn is_open(open: &Open) -> bool {
        open.client.connection_state() != State::Disconnected
    }
}

pub async fn publish(
    pool: &Pool<JetStream>,
    settings: &Settings,
    message: &Message,
    timeout: std::time::Duration,
) -> Result<Ack, Failure> {
    pool.with_connection(&settings.url, timeout, |open| async move {
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in &message.headers {
            headers.insert(name.as_str(), value.as_str());
        }
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            message.webhook_id.to_string().as_str(),
        );
        let describe =
            |e: &dyn std::fmt::Display| Failure::retry(format!("NATS publish failed: {e}"));
        let ack = open
            .context
            .publish_with_headers(settings.subject.clone(), headers, message.body.clone())
            .await
            .map_err(|e| describe(&e))?
            .await
            .map_err(|e| describe(&e))?;
        Ok(if ack.duplicate {
            format!(
                "stream {} already had it (seq {})",
                ack.stream, ack.sequence
            )
        } else {
            format!("stream {} seq {}", ack.stream, ack.sequence)
        })
    })
    .await
}
