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

use super::message::{Ack, Failure, Message};
use super::pool::{Connector, Pool, percent_decode, url_host};

/// Longer than any attempt's timeout (CONTRACT §3: at most 60 s), which ends it first.
const ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(75);

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

    /// Credentials go in the options, not the URL (the client does not read them from
    /// there): `user:pass@`, or `:token@` for a token.
    async fn connect(&self, url: &str) -> Result<Open, String> {
        let mut server = url::Url::parse(url).map_err(|e| format!("NATS URL: {e}"))?;
        let user = percent_decode(server.username());
        let password = server.password().map(percent_decode);
        let options = match (user.is_empty(), password) {
            (true, None) => async_nats::ConnectOptions::new(),
            (true, Some(token)) => async_nats::ConnectOptions::with_token(token),
            (false, Some(password)) => {
                async_nats::ConnectOptions::with_user_and_password(user, password)
            }
            // The api refuses a user without a password; a stored one is tried as a token.
            (false, None) => async_nats::ConnectOptions::with_token(user),
        };
        let _ = server.set_username("");
        let _ = server.set_password(None);
        let client = options
            .connect(server.as_str())
            .await
            .map_err(|e| format!("NATS connection failed: {e}"))?;
        let mut context = jetstream::new(client.clone());
        // The attempt's own timeout ends the wait for the PubAck.
        context.set_timeout(ACK_WAIT);
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
