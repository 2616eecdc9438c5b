//! MQTT 5 (`rumqttc`): one client per URL, its event loop driven by a task of its own.
//!
//! Each delivery is one PUBLISH on the topic with the subscription's qos, the ingested
//! bytes as payload, the content type as the content-type property and every other
//! header as a user property. With qos 1 success is the broker's PUBACK (its reason code
//! success, or "no matching subscribers"); with qos 0, the publish written to the socket.
//!
//! rumqttc tells which packet id a publish got only as an event of the loop, in the order
//! the publishes were queued: publishes are queued one at a time (`order`), each with a
//! waiter, and the loop's task hands each waiter the packet id's PUBACK. A connection
//! whose loop fails is closed, its waiters fail, and the next attempt connects afresh.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::Outgoing;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, Packet, PubAckReason, PublishProperties};
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use tokio::sync::oneshot;

use hookrelay_domain::destinations::Mqtt as Settings;

use super::message::{Ack, Failure, Message};
use super::pool::{Connector, Pool, percent_decode, url_host};

/// The largest packet the client sends or takes (MQTT's own limit is 256 MiB).
const MAX_PACKET: u32 = 64 << 20;
const KEEP_ALIVE: Duration = Duration::from_secs(30);

pub struct Mqtt;

type Waiter = oneshot::Sender<Result<Ack, String>>;

#[derive(Default)]
struct Waiters {
    /// Publishes queued and not yet given a packet id, oldest first.
    queued: VecDeque<(QoS, Waiter)>,
    /// Publishes sent with qos 1, by packet id.
    unacked: HashMap<u16, Waiter>,
}

pub struct Open {
    client: AsyncClient,
    waiters: Arc<Mutex<Waiters>>,
    /// Holds publishes in the order their waiters were queued.
    order: tokio::sync::Mutex<()>,
    alive: Arc<AtomicBool>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Open {
    fn drop(&mut self) {
        let _ = self.client.try_disconnect();
        self.driver.abort();
    }
}

fn lock(waiters: &Mutex<Waiters>) -> std::sync::MutexGuard<'_, Waiters> {
    waiters
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Connector for Mqtt {
    type Address = str;
    type Connection = Open;

    fn key(url: &str) -> String {
        url.to_owned()
    }

    fn hosts(url: &str) -> Vec<(String, u16)> {
        url_host(url, 1883)
    }

    async fn connect(&self, url: &str) -> Result<Open, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("MQTT URL: {e}"))?;
        let host = parsed
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']']);
        let client_id = format!("hookrelay-{}", uuid::Uuid::new_v4().simple());
        let mut options = MqttOptions::new(client_id, host, parsed.port().unwrap_or(1883));
        options
            .set_keep_alive(KEEP_ALIVE)
            .set_clean_start(true)
            .set_max_packet_size(Some(MAX_PACKET));
        if !parsed.username().is_empty() {
            options.set_credentials(
                percent_decode(parsed.username()),
                percent_decode(parsed.password().unwrap_or_default()),
            );
        }
        let (client, mut events) = AsyncClient::new(options, 1024);
        // The loop connects on its first poll; the CONNACK says whether we are in.
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    if ack.code == ConnectReturnCode::Success {
                        break;
                    }
                    return Err(format!(
                        "MQTT broker refused the connection: {:?}",
                        ack.code
                    ));
                }
                Ok(_) => {}
                Err(e) => return Err(format!("MQTT connection failed: {e}")),
            }
        }
        let waiters = Arc::new(Mutex::new(Waiters::default()));
        let alive = Arc::new(AtomicBool::new(true));
        let driver = tokio::spawn(drive(events, Arc::clone(&waiters), Arc::clone(&alive)));
        Ok(Open {
            client,
            waiters,
            order: tokio::sync::Mutex::new(()),
            alive,
            driver,
        })
    }

    fn is_open(open: &Open) -> bool {
        open.alive.load(Ordering::Acquire)
    }
}

/// Drives the event loop, answering waiters, until the connection fails.
async fn drive(mut events: EventLoop, waiters: Arc<Mutex<Waiters>>, alive: Arc<AtomicBool>) {
    let error = loop {
        match events.poll().await {
            Ok(Event::Outgoing(Outgoing::Publish(packet_id))) => {
                let mut w = lock(&waiters);
                if let Some((qos, waiter)) = w.queued.pop_front() {
                    if qos == QoS::AtMostOnce {
                        let _ = waiter.send(Ok("sent (qos 0)".into()));
                    } else {
                        w.unacked.insert(packet_id, waiter);
                    }
                }
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                if let Some(waiter) = lock(&waiters).unacked.remove(&ack.pkid) {
                    let answer = match ack.reason {
                        PubAckReason::Success => Ok("PUBACK".to_owned()),
                        PubAckReason::NoMatchingSubscribers => {
                            Ok("PUBACK (no matching subscribers)".to_owned())
                        }
                        refused => {
                            let why = ack
                                .properties
                                .and_then(|p| p.reason_string)
                                .map(|r| format!(": {r}"))
                                .unwrap_or_default();
                            Err(format!("MQTT broker refused the message: {refused:?}{why}"))
                        }
                    };
                    let _ = waiter.send(answer);
                }
            }
            Ok(_) => {}
            Err(e) => break format!("MQTT connection lost: {e}"),
        }
    };
    alive.store(false, Ordering::Release);
    let mut w = lock(&waiters);
    for (_, waiter) in w.queued.drain(..) {
        let _ = waiter.send(Err(error.clone()));
    }
    for (_, waiter) in w.unacked.drain() {
        let _ = waiter.send(Err(error.clone()));
    }
}

pub async fn publish(
    pool: &Pool<Mqtt>,
    settings: &Settings,
    message: &Message,
    timeout: Duration,
) -> Result<Ack, Failure> {
    let qos = if settings.qos == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };
    let mut properties = PublishProperties::default();
    for (name, value) in &message.headers {
        match name.as_str() {
            "content-type" => properties.content_type = Some(value.clone()),
            _ => properties
                .user_properties
                .push((name.clone(), value.clone())),
        }
    }
    pool.with_connection(&settings.url, timeout, |open| async move {
        let (waiter, answer) = oneshot::channel();
        {
            let _order = open.order.lock().await;
            lock(&open.waiters).queued.push_back((qos, waiter));
            if let Err(e) = open
                .client
                .publish_with_properties(
                    settings.topic.clone(),
                    qos,
                    false,
                    message.body.clone(),
                    properties,
                )
                .await
            {
                lock(&open.waiters).queued.pop_back();
                return Err(Failure::retry(format!("MQTT publish failed: {e}")));
            }
        }
        match answer.await {
            Ok(Ok(ack)) => Ok(ack),
            Ok(Err(error)) => Err(Failure::retry(error)),
            Err(_) => Err(Failure::retry("MQTT connection closed before the PUBACK")),
        }
    })
    .await
}
