//! The delivery scenario: ingest to arrival, end to end through the real processes — a
//! private `redis-server`, the release api and worker, and the in-process sink.
//!
//! - **Throughput**, for each fan-out (1 and 10 by default): `--deliveries` / fan-out
//!   webhooks ingested as fast as the api takes them while the worker delivers;
//!   deliveries per second between the first arrival and the last, the time from ingest
//!   to arrival, what was lost or duplicated, and the CPU time per delivery of the
//!   worker, the api and Redis.
//! - **Latency** at a fixed rate (`--rate`, default 1,000 webhooks/s, fan-out 1, open
//!   loop): p50/p99 from sending the ingest request to the delivery's arrival.
//! - The worker's RSS after each run.
//!
//! The benchmark has a database of its own, dropped at the end; within it each run has its
//! own event type and subscriptions (deleted afterwards), so no run delivers to another's.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use hyper::{Method, StatusCode};

use crate::cli::DeliverOptions;
use crate::load::{self, Pace, Report, Target};
use crate::processes::{self, Database, Deployment, Service, cpu_per, cpu_times};
use crate::sink::{Arrivals, Sink};

/// A run ends when everything arrived, or when nothing more arrived for this long.
const STALL: Duration = Duration::from_secs(30);

/// The contract applies a subscription change to fan-outs starting more than one second
/// after it; the benchmark waits that long (and a little) before ingesting.
const CHANGE_PROPAGATION: Duration = Duration::from_millis(1_500);

const BODY: &[u8] = br#"{"type":"order.created","data":{"id":12345,"items":[1,2,3],"note":"a delivery benchmark payload"}}"#;

pub async fn run(options: DeliverOptions) -> anyhow::Result<()> {
    Database::around(async |database| measure(&options, database).await).await
}

async fn measure(options: &DeliverOptions, database: &Database) -> anyhow::Result<()> {
    let redis = processes::redis().await?;
    let mut deployment = Deployment::new(&redis, database);
    deployment.allow_private_targets = true;
    let api = deployment.api().await?;
    let worker = deployment.worker_of(options.worker_concurrency).await?;
    let sink = Sink::start().await?;
    println!(
        "delivery benchmark: {} deliveries per throughput run, {} ingest connections, WORKER_CONCURRENCY {}, {} cores",
        options.deliveries,
        options.connections,
        options.worker_concurrency,
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    println!("worker started                {}", worker.memory()?);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let servers = [("worker", &worker), ("api", &api), ("redis", &redis)];

    for &fan_out in &options.fan_outs {
        let event_type = format!("bench.{run}.fanout{fan_out}");
        let subscriptions = Subscriptions::create(&api, &sink, fan_out, &event_type).await?;
        let ingest = target(&api, &event_type);
        let before = cpu_times(&servers)?;
        let report = load::run(
            &ingest,
            options.connections,
            Pace::Count((options.deliveries / fan_out as u64).max(1)),
            StatusCode::ACCEPTED,
        )
        .await?;
        let arrivals = wait_for(&sink, report.ok * fan_out as u64).await;
        wait_drained(&api).await?;
        println!(
            "fan-out {fan_out:>2}: {}",
            summary(&report, fan_out, &arrivals)
        );
        println!(
            "                              {}",
            cpu_per(&servers, &before, arrivals.delivered, "delivery")?
        );
        println!("                              worker {}", worker.memory()?);
        subscriptions.delete(&api).await?;
    }

    let event_type = format!("bench.{run}.latency");
    let subscriptions = Subscriptions::create(&api, &sink, 1, &event_type).await?;
    let report = load::run(
        &target(&api, &event_type),
        options.connections,
        Pace::OpenLoop {
            rate: options.rate,
            duration: options.duration,
        },
        StatusCode::ACCEPTED,
    )
    .await?;
    let arrivals = wait_for(&sink, report.ok).await;
    wait_drained(&api).await?;
    println!(
        "{:.0} webhooks/s for {} s: {}",
        options.rate,
        options.duration.as_secs(),
        summary(&report, 1, &arrivals)
    );
    println!("                              worker {}", worker.memory()?);
    subscriptions.delete(&api).await
}

pub fn target(api: &Service, event_type: &str) -> Target {
    let mut target = Target::new(api.addr, "/ingest", Bytes::from_static(BODY));
    target.event_type = Some(event_type.to_owned());
    target.stamp = true;
    target
}

/// Waits until `expected` deliveries arrived or arrivals stalled, then takes them.
pub async fn wait_for(sink: &Sink, expected: u64) -> Arrivals {
    let mut last = (sink.delivered(), Instant::now());
    while sink.delivered() < expected && last.1.elapsed() < STALL {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = sink.delivered();
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
    sink.take()
}

/// Waits until the worker has finished every entry (attempt logs committed, entries
/// acknowledged), as the api's `/metrics` reports the queue: arrivals at the sink come
/// before the worker's commits, and the next run should not inherit that work.
pub async fn wait_drained(api: &Service) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let (_, page) = load::call(api.addr, None, Method::GET, "/metrics", None).await?;
        let page = String::from_utf8_lossy(&page);
        // Summed over the partitions (each has its own series).
        let depth = |queue: &str| {
            let label = format!("queue=\"{queue}\"");
            page.lines()
                .filter(|line| line.starts_with("hookrelay_queue_depth{") && line.contains(&label))
                .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
                .fold(None, |sum, n| Some(sum.unwrap_or(0.0) + n))
        };
        if depth("ready") == Some(0.0) && depth("in_flight") == Some(0.0) {
            return Ok(());
        }
        if started.elapsed() > STALL {
            bail!("the worker did not drain its queue within {STALL:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn summary(report: &Report, fan_out: usize, arrivals: &Arrivals) -> String {
    let expected = report.ok * fan_out as u64;
    format!(
        "{} webhooks accepted ({} refused) → {} of {expected} deliveries in {:.2} s = {:.0} deliveries/s; \
         ingest→arrival p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; lost {}, duplicates {}",
        report.ok,
        report.failed,
        arrivals.delivered,
        arrivals.span().as_secs_f64(),
        arrivals.per_second(),
        arrivals.latency.value_at_quantile(0.50) as f64 / 1000.0,
        arrivals.latency.value_at_quantile(0.99) as f64 / 1000.0,
        arrivals.latency.max() as f64 / 1000.0,
        expected.saturating_sub(arrivals.delivered),
        arrivals.duplicates,
    )
}

/// The subscriptions of one run, each with its own path on the sink.
pub struct Subscriptions(Vec<String>);

impl Subscriptions {
    pub async fn create(
        api: &Service,
        sink: &Sink,
        count: usize,
        event_type: &str,
    ) -> anyhow::Result<Self> {
        let bodies = (0..count).map(|n| {
            serde_json::json!({
                "target_url": format!("http://{}/s/{n}", sink.addr),
                "events": [event_type],
            })
        });
        Self::from_bodies(api, bodies).await
    }

    /// One subscription per body (`POST /subscriptions` as it is), then the wait for
    /// them to apply.
    pub async fn from_bodies(
        api: &Service,
        bodies: impl IntoIterator<Item = serde_json::Value>,
    ) -> anyhow::Result<Self> {
        let mut ids = Vec::new();
        for body in bodies {
            let (status, answer) =
                load::call(api.addr, None, Method::POST, "/subscriptions", Some(body)).await?;
            if status != StatusCode::CREATED {
                bail!(
                    "creating a subscription: {status} {}",
                    String::from_utf8_lossy(&answer)
                );
            }
            let created: serde_json::Value = serde_json::from_slice(&answer)?;
            ids.push(
                created["id"]
                    .as_str()
                    .context("a created subscription without an id")?
                    .to_owned(),
            );
        }
        tokio::time::sleep(CHANGE_PROPAGATION).await;
        Ok(Self(ids))
    }

    pub fn ids(&self) -> &[String] {
        &self.0
    }

    pub async fn delete(self, api: &Service) -> anyhow::Result<()> {
        for id in self.0 {
            let path = format!("/subscriptions/{id}");
            let (status, _) = load::call(api.addr, None, Method::DELETE, &path, None).await?;
            if status != StatusCode::NO_CONTENT {
                bail!("deleting subscription {id}: {status}");
            }
        }
        Ok(())
    }
}
