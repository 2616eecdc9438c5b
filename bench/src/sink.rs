//! The sink: where the delivery benchmarks' webhooks arrive. A hyper HTTP/1.1 server in
//! this process that answers every `POST` with 204 (at once, or after holding it for a
//! fixed time, as a slow receiver would) and counts what arrived:
//!
//! - each delivery once, by `webhook-id` and path (one path per subscription), so lost
//!   and duplicate deliveries can be told apart;
//! - the time from sending to arrival, read from the body's `"sent_us"` stamp (see
//!   `load::Target::stamp`; the load driver and the sink share this process's clock);
//! - the first and last arrival, for the delivery rate.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::load::{histogram, unix_micros};

/// What arrived since the last `take`.
pub struct Arrivals {
    /// Distinct deliveries (webhook id, path).
    pub delivered: u64,
    /// Deliveries that arrived again.
    pub duplicates: u64,
    /// Time from the ingest request being sent to the delivery arriving, in µs.
    pub latency: Histogram<u64>,
    first: Option<Instant>,
    last: Option<Instant>,
    seen: HashSet<(String, String)>,
}

impl Arrivals {
    fn new() -> Self {
        Self {
            delivered: 0,
            duplicates: 0,
            latency: histogram(),
            first: None,
            last: None,
            seen: HashSet::new(),
        }
    }

    /// Distinct deliveries per second between the first arrival and the last.
    pub fn per_second(&self) -> f64 {
        match (self.first, self.last) {
            (Some(first), Some(last)) if last > first => {
                self.delivered as f64 / (last - first).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    /// The time between the first arrival and the last.
    pub fn span(&self) -> Duration {
        match (self.first, self.last) {
            (Some(first), Some(last)) => last - first,
            _ => Duration::ZERO,
        }
    }

    fn record(&mut self, webhook_id: String, path: String, sent_us: Option<u64>) {
        let now = Instant::now();
        self.first.get_or_insert(now);
        self.last = Some(now);
        if !self.seen.insert((webhook_id, path)) {
            self.duplicates += 1;
            return;
        }
        self.delivered += 1;
        if let Some(sent) = sent_us {
            self.latency
                .saturating_record(unix_micros().saturating_sub(sent).max(1));
        }
    }
}

#[derive(Clone)]
pub struct Sink {
    pub addr: SocketAddr,
    arrivals: Arc<Mutex<Arrivals>>,
    /// How long each request is held before its answer.
    hold: Duration,
}

impl Sink {
    /// Binds a free local port and serves on this runtime until the process ends.
    pub async fn start() -> anyhow::Result<Self> {
        Self::holding(Duration::ZERO).await
    }

    /// Like [`Sink::start`], but holds every request for `hold` before answering it (a
    /// slow receiver). Arrivals count when a request arrives, not when it is answered.
    pub async fn holding(hold: Duration) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("Failed to bind the sink")?;
        let sink = Self {
            addr: listener.local_addr()?,
            arrivals: Arc::new(Mutex::new(Arrivals::new())),
            hold,
        };
        tokio::spawn(sink.clone().accept_forever(listener));
        Ok(sink)
    }

    /// Distinct deliveries so far.
    pub fn delivered(&self) -> u64 {
        self.lock().delivered
    }

    /// What arrived so far, starting afresh.
    pub fn take(&self) -> Arrivals {
        std::mem::replace(&mut *self.lock(), Arrivals::new())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Arrivals> {
        // A panic while recording leaves counts that are still meaningful.
        self.arrivals.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn accept_forever(self, listener: TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let sink = self.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| sink.clone().answer(request));
                // The worker closing a connection ends it; nothing to report.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    async fn answer(
        self,
        request: Request<Incoming>,
    ) -> Result<Response<Empty<Bytes>>, hyper::Error> {
        let path = request.uri().path().to_owned();
        let webhook_id = request
            .headers()
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = request.into_body().collect().await?.to_bytes();
        self.lock().record(webhook_id, path, sent_us(&body));
        if !self.hold.is_zero() {
            tokio::time::sleep(self.hold).await;
        }
        let mut response = Response::new(Empty::new());
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok(response)
    }
}

/// The `"sent_us"` stamp at the start of a stamped body.
fn sent_us(body: &[u8]) -> Option<u64> {
    let rest = body.strip_prefix(br#"{"sent_us":"#)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_stamp_and_ignores_unstamped_bodies() {
        assert_eq!(
            sent_us(br#"{"sent_us":1764550000123456,"data":{}}"#),
            Some(1764550000123456)
        );
        assert_eq!(sent_us(br#"{"data":{}}"#), None);
        assert_eq!(sent_us(br#"{"sent_us":"x"}"#), None);
    }

    #[test]
    fn counts_each_delivery_once_and_duplicates_apart() {
        let mut arrivals = Arrivals::new();
        arrivals.record("w1".into(), "/s/0".into(), None);
        arrivals.record("w1".into(), "/s/1".into(), None);
        arrivals.record("w1".into(), "/s/0".into(), None);
        assert_eq!((arrivals.delivered, arrivals.duplicates), (2, 1));
    }
}
