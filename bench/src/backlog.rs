//! The backlog scenario: worker memory with a long backlog and a slow receiver (CONTRACT
//! §14: a worker never holds more stream entries than twice `WORKER_CONCURRENCY`,
//! however long the backlog).
//!
//! `--webhooks` webhooks are ingested through the api before any worker runs, so the whole
//! backlog is in the stream when the worker starts and nothing but the worker's own bound
//! limits how much it takes. The sink holds every request for `--hold-ms`, so the worker
//! delivers at most `WORKER_CONCURRENCY / hold` webhooks a second and the backlog cannot
//! drain. For `--seconds` the benchmark prints, every `--every` seconds, the worker's RSS
//! and the entries each consumer holds (XPENDING), then how both moved once the worker
//! first held its cap: with the bound kept, both stay flat.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use hookrelay_shared::keys::{CONSUMER_GROUP, Keys};
use hyper::StatusCode;
use redis::streams::StreamPendingReply;

use crate::cli::BacklogOptions;
use crate::deliver::{Subscriptions, target};
use crate::load::{self, Pace};
use crate::processes::{self, Database, Deployment};
use crate::sink::Sink;

pub async fn run(options: BacklogOptions) -> anyhow::Result<()> {
    Database::around(async |database| measure(&options, database).await).await
}

async fn measure(options: &BacklogOptions, database: &Database) -> anyhow::Result<()> {
    let redis_server = processes::redis().await?;
    let mut deployment = Deployment::new(&redis_server, database);
    deployment.allow_private_targets = true;
    let keys = Keys::new(&deployment.prefix);
    let mut redis = redis::Client::open(format!("redis://{}", redis_server.addr))?
        .get_multiplexed_async_connection()
        .await
        .context("Failed to connect to the benchmark's redis-server")?;
    let api = deployment.api().await?;
    let sink = Sink::holding(options.hold).await?;
    let event_type = format!("bench.{}.backlog", uuid::Uuid::new_v4().simple());
    let subscriptions = Subscriptions::create(&api, &sink, 1, &event_type).await?;
    let cap = 2 * options.worker_concurrency;
    println!(
        "backlog benchmark: {} webhooks queued before the worker starts; the sink holds each request {} ms; \
         WORKER_CONCURRENCY {} (entry cap {cap}); {} cores",
        options.webhooks,
        options.hold.as_millis(),
        options.worker_concurrency,
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    let report = load::run(
        &target(&api, &event_type),
        options.connections,
        Pace::Count(options.webhooks),
        StatusCode::ACCEPTED,
    )
    .await?;
    println!("ingest: {}", report.summary());
    println!(
        "stream length before the worker starts: {}",
        stream_length(&mut redis, &keys).await?
    );

    let worker = deployment.worker_of(options.worker_concurrency).await?;
    let started = Instant::now();
    println!("worker started: {}", worker.memory()?);
    println!("     t   RSS MiB  peak MiB  pending per consumer  stream length  delivered");
    let mut at_cap: Option<Sample> = None;
    let mut last = None;
    let mut most_pending = 0;
    while started.elapsed() < options.duration {
        tokio::time::sleep(options.every).await;
        let (rss, peak) = worker.memory_kib()?;
        let consumers = pending_per_consumer(&mut redis, &keys).await?;
        let pending: usize = consumers.iter().map(|(_, n)| n).sum();
        most_pending = most_pending.max(pending);
        let sample = Sample {
            at: started.elapsed(),
            rss,
            pending,
        };
        let held = consumers
            .iter()
            .map(|(name, n)| format!("{n} ({name})"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "{:>4.0} s  {:>8.1}  {:>8.1}  {:<20}  {:>13}  {:>9}",
            sample.at.as_secs_f64(),
            mib(rss),
            mib(peak),
            if held.is_empty() { "0".into() } else { held },
            stream_length(&mut redis, &keys).await?,
            sink.delivered(),
        );
        if at_cap.is_none() && pending >= cap {
            at_cap = Some(sample);
        }
        last = Some(sample);
    }
    match (at_cap, last) {
        (Some(first), Some(last)) => println!(
            "from the first sample at the cap ({:.0} s) to the last ({:.0} s): RSS {:.1} → {:.1} MiB ({:+.1} MiB), \
             pending {} → {} (most {most_pending}, cap {cap})",
            first.at.as_secs_f64(),
            last.at.as_secs_f64(),
            mib(first.rss),
            mib(last.rss),
            mib(last.rss) - mib(first.rss),
            first.pending,
            last.pending,
        ),
        _ => println!("the worker never held {cap} entries (most {most_pending})"),
    }
    subscriptions.delete(&api).await
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Duration,
    /// KiB.
    rss: u64,
    pending: usize,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

async fn stream_length(
    redis: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
) -> anyhow::Result<u64> {
    let mut total = 0;
    for partition in keys.active() {
        total += redis::cmd("XLEN")
            .arg(keys.partition(partition).stream())
            .query_async::<u64>(redis)
            .await
            .context("XLEN failed")?;
    }
    Ok(total)
}

/// Each consumer of the groups and the entries it holds over every partition (XPENDING
/// summaries); none before the worker created the groups.
async fn pending_per_consumer(
    redis: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
) -> anyhow::Result<Vec<(String, usize)>> {
    let mut held: std::collections::BTreeMap<String, usize> = Default::default();
    for partition in keys.active() {
        let reply: redis::RedisResult<StreamPendingReply> = redis::cmd("XPENDING")
            .arg(keys.partition(partition).stream())
            .arg(CONSUMER_GROUP)
            .query_async(redis)
            .await;
        match reply {
            Ok(StreamPendingReply::Data(data)) => {
                for consumer in data.consumers {
                    *held.entry(consumer.name).or_default() += consumer.pending;
                }
            }
            Err(e) if e.code() != Some("NOGROUP") => return Err(e).context("XPENDING failed"),
            // Empty, or no group yet.
            _ => {}
        }
    }
    Ok(held.into_iter().collect())
}
