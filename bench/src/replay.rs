//! The bulk replay scenario: how fast a replay queues deliveries, and what it does to live
//! traffic meanwhile.
//!
//! `--deliveries` failed deliveries (100,000 by default) are written straight into the
//! benchmark's database for one subscription on the sink. Then, through the real api and
//! worker: live webhooks at `--rate` for `--seconds` on their own subscription, once
//! alone (the baseline) and once with `POST /replays` for the failed ones started at the
//! same moment. Printed: the replay's deliveries queued per second (from its creation to
//! `done`, as `GET /replays/{id}` reports it), all of them arrived, and the live p50/p99
//! ingest→arrival in both runs.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

use hyper::{Method, StatusCode};

use crate::cli::ReplayOptions;
use crate::deliver::{Subscriptions, target, wait_for};
use crate::load::{self, Pace};
use crate::processes::{self, Database, Deployment, Service};
use crate::sink::Sink;

pub async fn run(options: ReplayOptions) -> anyhow::Result<()> {
    Database::around(async |database| measure(&options, database).await).await
}

async fn measure(options: &ReplayOptions, database: &Database) -> anyhow::Result<()> {
    let redis = processes::redis().await?;
    let mut deployment = Deployment::new(&redis, database);
    deployment.allow_private_targets = true;
    let api = deployment.api().await?;
    let worker = deployment.worker_of(options.worker_concurrency).await?;
    let sink = Sink::start().await?;
    println!(
        "replay benchmark: {} failed deliveries, live traffic {} webhooks/s for {} s, WORKER_CONCURRENCY {}, {} cores",
        options.deliveries,
        options.rate,
        options.duration.as_secs(),
        options.worker_concurrency,
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    let run = uuid::Uuid::new_v4().simple().to_string();
    let replayed = Subscriptions::create(&api, &sink, 1, &format!("bench.{run}.replayed")).await?;
    let since = store_failed(
        database,
        replayed.ids()[0].as_str(),
        &sink,
        options.deliveries,
    )
    .await?;

    let live_type = format!("bench.{run}.live");
    let live = Subscriptions::create(&api, &sink, 1, &live_type).await?;
    let pace = Pace::OpenLoop {
        rate: options.rate,
        duration: options.duration,
    };
    let report = load::run(&target(&api, &live_type), 8, pace, StatusCode::ACCEPTED).await?;
    let alone = wait_for(&sink, report.ok).await;
    println!(
        "live alone:        {} webhooks, ingest→arrival p50 {:.1} ms, p99 {:.1} ms",
        report.ok,
        alone.latency.value_at_quantile(0.50) as f64 / 1000.0,
        alone.latency.value_at_quantile(0.99) as f64 / 1000.0,
    );

    let started = Instant::now();
    let body = serde_json::json!({"subscription_id": replayed.ids()[0], "since": since});
    let (status, answer) = load::call(api.addr, None, Method::POST, "/replays", Some(body)).await?;
    if status != StatusCode::ACCEPTED {
        bail!(
            "POST /replays: {status} {}",
            String::from_utf8_lossy(&answer)
        );
    }
    let replay: serde_json::Value = serde_json::from_slice(&answer)?;
    let path = format!("/replays/{}", replay["id"].as_str().context("a replay id")?);
    let live_load = tokio::spawn({
        let target = target(&api, &live_type);
        async move { load::run(&target, 8, pace, StatusCode::ACCEPTED).await }
    });
    let (queued, done_after) = wait_done(&api, &path, started).await?;
    let report = live_load.await??;
    let during = wait_for(&sink, report.ok + queued).await;
    println!(
        "replay:            {queued} deliveries queued in {:.2} s = {:.0} queued/s; {} of {} arrived",
        done_after.as_secs_f64(),
        queued as f64 / done_after.as_secs_f64(),
        during.delivered - report.ok.min(during.delivered),
        options.deliveries,
    );
    println!(
        "live during it:    {} webhooks, ingest→arrival p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        report.ok,
        during.latency.value_at_quantile(0.50) as f64 / 1000.0,
        during.latency.value_at_quantile(0.99) as f64 / 1000.0,
        during.latency.max() as f64 / 1000.0,
    );
    println!("                   worker {}", worker.memory()?);
    live.delete(&api).await?;
    replayed.delete(&api).await
}

/// Writes `count` webhooks, received over the last minute, whose one delivery (to
/// `subscription` on the sink) failed; returns the replay's `since`.
async fn store_failed(
    database: &Database,
    subscription: &str,
    sink: &Sink,
    count: u64,
) -> anyhow::Result<String> {
    let mut conn = AsyncPgConnection::establish(&database.url)
        .await
        .context("Failed to connect to the benchmark database")?;
    conn.batch_execute(&format!(
        "WITH w AS (INSERT INTO webhooks (id, event_type, subscription_id, payload, received_at) \
           SELECT gen_random_uuid(), 'bench.replayed', NULL, \
                  convert_to('{{\"n\":' || i || '}}', 'UTF8'), \
                  now() - interval '1 minute' + i * interval '100 microseconds' \
           FROM generate_series(1, {count}) AS i RETURNING id, received_at) \
         INSERT INTO deliveries (webhook_id, subscription_id, target_url, status, attempts, error, updated_at, received_at) \
         SELECT id, '{subscription}', 'http://{}/s/0', 'failed', 6, 'HTTP 500', now(), received_at FROM w; \
         ANALYZE webhooks; ANALYZE deliveries;",
        sink.addr
    ))
    .await
    .context("Failed to store the failed deliveries")?;
    let since = hookrelay_shared::time::now() - chrono::Duration::minutes(5);
    Ok(hookrelay_shared::time::format(&since))
}

/// Polls the replay until it is `done`; returns what it queued and when it was done.
async fn wait_done(api: &Service, path: &str, started: Instant) -> anyhow::Result<(u64, Duration)> {
    loop {
        let (status, answer) = load::call(api.addr, None, Method::GET, path, None).await?;
        if status != StatusCode::OK {
            bail!("GET {path}: {status}");
        }
        let replay: serde_json::Value = serde_json::from_slice(&answer)?;
        match replay["status"].as_str() {
            Some("done") => {
                let queued = replay["queued"].as_u64().context("queued")?;
                return Ok((queued, started.elapsed()));
            }
            Some("running") => {}
            other => bail!("the replay ended {other:?}"),
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("the replay did not finish within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
