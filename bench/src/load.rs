//! HTTP load drivers over plain hyper HTTP/1.1 keep-alive connections (no pooling layer
//! in the way), recording latency in microseconds in an HDR histogram.
//!
//! - Closed loop: each connection sends its next request as soon as the previous answer
//!   arrived, until the deadline: the peak rate.
//! - Open loop: requests are due at a fixed overall rate, spread evenly over the
//!   connections; a request sent late because its connection was still waiting for an
//!   answer counts its latency from when it was *due*, so a stall shows up in the
//!   percentiles instead of silently lowering the rate (no coordinated omission).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One request shape, sent over and over.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub path: String,
    pub body: Bytes,
    /// Sent as `X-Event-Type`.
    pub event_type: Option<String>,
    /// Sent as `Authorization` (`Bearer <key>`, see [`Target::with_key`]).
    pub authorization: Option<String>,
    /// Wrap each body as `{"sent_us":<Unix µs at sending>,"data":<body>}`, so that a
    /// receiver of the delivered webhook can tell how long it took to arrive.
    pub stamp: bool,
    /// Further headers, sent as they are (a source's signature, say).
    pub headers: Vec<(String, String)>,
}

impl Target {
    pub fn new(addr: SocketAddr, path: impl Into<String>, body: Bytes) -> Self {
        Self {
            addr,
            path: path.into(),
            body,
            event_type: None,
            authorization: None,
            stamp: false,
            headers: Vec::new(),
        }
    }

    /// The same requests, with one more header.
    pub fn with_header(mut self, name: &str, value: String) -> Self {
        self.headers.push((name.to_owned(), value));
        self
    }

    /// The same requests, sent with `Authorization: Bearer <key>`.
    pub fn with_key(mut self, key: &str) -> Self {
        self.authorization = Some(format!("Bearer {key}"));
        self
    }

    fn request(&self, host: &str) -> Result<Request<Full<Bytes>>, hyper::http::Error> {
        let body = if self.stamp {
            let mut stamped = format!(r#"{{"sent_us":{},"data":"#, unix_micros()).into_bytes();
            stamped.extend_from_slice(&self.body);
            stamped.push(b'}');
            Bytes::from(stamped)
        } else {
            self.body.clone()
        };
        let mut request = Request::post(self.path.as_str())
            .header(hyper::header::HOST, host)
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(event_type) = &self.event_type {
            request = request.header("x-event-type", event_type);
        }
        if let Some(authorization) = &self.authorization {
            request = request.header(hyper::header::AUTHORIZATION, authorization);
        }
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        request.body(Full::new(body))
    }
}

/// Microseconds since the Unix epoch: a clock that this process and the sink share.
pub fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// How requests are paced.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// As fast as answers come back, for this long.
    ClosedLoop(Duration),
    /// This many requests in all, as fast as answers come back.
    Count(u64),
    /// This many requests per second overall, for this long.
    OpenLoop { rate: f64, duration: Duration },
}

/// What a run measured.
pub struct Report {
    pub elapsed: Duration,
    /// Latency of every answered request, in microseconds.
    pub latency: Histogram<u64>,
    /// Answers with the expected status.
    pub ok: u64,
    /// Answers with any other status, and transport errors.
    pub failed: u64,
}

impl Report {
    pub fn empty() -> Self {
        Self {
            elapsed: Duration::ZERO,
            latency: histogram(),
            ok: 0,
            failed: 0,
        }
    }

    /// Adds another run's figures to these, as if the two runs had been one: the rate
    /// becomes the mean weighted by time, the percentiles those of every request.
    pub fn add(&mut self, other: &Report) -> anyhow::Result<()> {
        self.latency
            .add(&other.latency)
            .context("Failed to merge latency histograms")?;
        self.elapsed += other.elapsed;
        self.ok += other.ok;
        self.failed += other.failed;
        Ok(())
    }

    pub fn requests_per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// One line: rate, p50, p99, max and failures.
    pub fn summary(&self) -> String {
        format!(
            "{:>9.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>7.2} ms   ({} ok, {} failed)",
            self.requests_per_second(),
            self.percentile_ms(0.50),
            self.percentile_ms(0.99),
            self.latency.max() as f64 / 1000.0,
            self.ok,
            self.failed
        )
    }
}

pub fn histogram() -> Histogram<u64> {
    // 1 µs .. 60 s at 3 significant digits; the bounds are valid, so this cannot fail.
    Histogram::new_with_bounds(1, 60_000_000, 3)
        .unwrap_or_else(|_| unreachable!("valid histogram bounds"))
}

/// Runs `connections` connections against `target` with the given pacing, expecting
/// `expect` for every answer.
pub async fn run(
    target: &Target,
    connections: usize,
    pace: Pace,
    expect: StatusCode,
) -> anyhow::Result<Report> {
    let connections = connections.max(1);
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        senders.push(connect(target.addr).await?);
    }
    let started = Instant::now();
    let tasks: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(index, sender)| {
            let plan = Plan::new(pace, index, connections, started);
            tokio::spawn(drive(sender, target.clone(), plan, expect))
        })
        .collect();
    let mut report = Report::empty();
    for task in tasks {
        report.add(&task.await.context("a load task panicked")?)?;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// One request on a connection of its own (set-up and checks, not load), sent with
/// `Authorization: Bearer <key>` when a key is given.
pub async fn call(
    addr: SocketAddr,
    key: Option<&str>,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let mut sender = connect(addr).await?;
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/json");
    if let Some(key) = key {
        request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let response = sender.send_request(request.body(Full::new(body))?).await?;
    let status = response.status();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

pub async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("Failed to connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake failed")?;
    tokio::spawn(connection);
    Ok(sender)
}

/// When one connection sends what.
struct Plan {
    pace: Pace,
    /// First due time (open loop) or start.
    first: Instant,
    /// Time between this connection's requests (open loop).
    interval: Duration,
    /// Requests this connection sends (count pacing).
    count: u64,
}

impl Plan {
    fn new(pace: Pace, index: usize, connections: usize, started: Instant) -> Self {
        let n = connections as u64;
        match pace {
            Pace::OpenLoop { rate, .. } => {
                let gap = Duration::from_secs_f64(1.0 / rate);
                Plan {
                    pace,
                    first: started + gap * index as u32,
                    interval: gap * connections as u32,
                    count: u64::MAX,
                }
            }
            Pace::Count(total) => Plan {
                pace,
                first: started,
                interval: Duration::ZERO,
                count: total / n + u64::from((index as u64) < total % n),
            },
            Pace::ClosedLoop(_) => Plan {
                pace,
                first: started,
                interval: Duration::ZERO,
                count: u64::MAX,
            },
        }
    }

    /// When request number `k` of this connection is due, or `None` when it is done.
    fn due(&self, k: u64) -> Option<Instant> {
        match self.pace {
            Pace::ClosedLoop(duration) => (self.first.elapsed() < duration).then(Instant::now),
            Pace::Count(_) => (k < self.count).then(Instant::now),
            Pace::OpenLoop { duration, .. } => {
                let due = self.first + self.interval * u32::try_from(k).ok()?;
                (due.duration_since(self.first) < duration).then_some(due)
            }
        }
    }
}

async fn drive(
    mut sender: SendRequest<Full<Bytes>>,
    target: Target,
    plan: Plan,
    expect: StatusCode,
) -> Report {
    let mut report = Report::empty();
    let host = target.addr.to_string();
    let mut k = 0;
    while let Some(due) = plan.due(k) {
        k += 1;
        // Latency counts from the due time when this connection is behind (the wait was
        // the server's doing), else from the actual send: tokio's timer wakes up to a
        // millisecond late, and that slack is the client's, not the server's.
        let start = if Instant::now() >= due {
            due
        } else {
            tokio::time::sleep_until(due.into()).await;
            Instant::now()
        };
        let Ok(request) = target.request(&host) else {
            report.failed += 1;
            continue;
        };
        let answered = async {
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            let status = response.status();
            response.into_body().collect().await?;
            Ok::<_, hyper::Error>(status)
        }
        .await;
        match answered {
            Ok(status) if status == expect => {
                report.ok += 1;
                let micros = u64::try_from(start.elapsed().as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1);
                report.latency.saturating_record(micros);
            }
            Ok(_) => report.failed += 1,
            // The connection is gone; stop this one rather than spin on errors.
            Err(_) => {
                report.failed += 1;
                break;
            }
        }
    }
    report
}
