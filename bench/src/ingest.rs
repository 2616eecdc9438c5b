//! The ingest scenarios. No worker runs: the figures are the api's alone (Redis keeps
//! every entry, which is why the benchmark brings its own private `redis-server`).
//!
//! - `ingest`: the ceiling server at full speed; the api at full speed (its peak); the api
//!   at a fixed rate — half its peak unless `--rate` says otherwise — in open loop; the
//!   api's RSS before and after.
//! - `soak`: a fixed number of ingests as fast as possible, with the api's RSS every
//!   tenth of the way.

use std::time::Duration;

use bytes::Bytes;
use hyper::StatusCode;

use crate::cli::{IngestOptions, SoakOptions};
use crate::load::{self, Pace, Report, Target};
use crate::processes::{self, Service};

/// Run before each measurement and thrown away: connections, caches and the allocator
/// settle first.
const WARM_UP: Duration = Duration::from_secs(1);

/// A JSON object of exactly `size` bytes (at least the skeleton's).
fn body(size: usize) -> Bytes {
    let skeleton = r#"{"type":"order.created","data":{"id":12345,"pad":""}}"#;
    let pad = "x".repeat(size.saturating_sub(skeleton.len()));
    Bytes::from(format!(
        r#"{{"type":"order.created","data":{{"id":12345,"pad":"{pad}"}}}}"#
    ))
}

fn target(service: &Service, path: &'static str, body: &Bytes) -> Target {
    Target {
        addr: service.addr,
        path,
        body: body.clone(),
    }
}

async fn closed_loop(
    target: &Target,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Report> {
    load::run(
        target,
        connections,
        Pace::ClosedLoop(WARM_UP),
        StatusCode::ACCEPTED,
    )
    .await?;
    load::run(
        target,
        connections,
        Pace::ClosedLoop(duration),
        StatusCode::ACCEPTED,
    )
    .await
}

fn memory(api: &Service) -> anyhow::Result<String> {
    let (rss, peak) = api.memory_kib()?;
    Ok(format!(
        "RSS {:.1} MiB (peak {:.1} MiB)",
        rss as f64 / 1024.0,
        peak as f64 / 1024.0
    ))
}

pub async fn run(options: IngestOptions) -> anyhow::Result<()> {
    let body = body(options.body_bytes);
    println!(
        "ingest benchmark: {} connections, {} s per run, {}-byte body, {} cores",
        options.connections,
        options.duration.as_secs(),
        body.len(),
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    let ceiling = if options.ceiling {
        let server = processes::ceiling().await?;
        let report = closed_loop(
            &target(&server, "/ingest", &body),
            options.connections,
            options.duration,
        )
        .await?;
        println!("ceiling, bare HTTP 202        {}", report.summary());
        Some(report)
    } else {
        None
    };

    let redis = processes::redis().await?;
    let api = processes::api(&redis).await?;
    println!("api started                   {}", memory(&api)?);
    let ingest = target(&api, "/ingest", &body);
    let peak = closed_loop(&ingest, options.connections, options.duration).await?;
    println!("api POST /ingest, peak        {}", peak.summary());
    if let Some(ceiling) = &ceiling {
        println!(
            "                              {:.0}% of the ceiling",
            100.0 * peak.requests_per_second() / ceiling.requests_per_second()
        );
    }

    let rate = options
        .rate
        .unwrap_or(peak.requests_per_second() / 2.0)
        .max(1.0);
    let paced = load::run(
        &ingest,
        options.connections,
        Pace::OpenLoop {
            rate,
            duration: options.duration,
        },
        StatusCode::ACCEPTED,
    )
    .await?;
    println!("api at {rate:>7.0} req/s, open loop {}", paced.summary());
    println!("api after the runs            {}", memory(&api)?);
    Ok(())
}

pub async fn soak(options: SoakOptions) -> anyhow::Result<()> {
    let body = body(options.body_bytes);
    let redis = processes::redis().await?;
    let api = processes::api(&redis).await?;
    println!(
        "soak: {} ingests over {} connections, {}-byte body",
        options.ingests,
        options.connections,
        body.len()
    );
    println!("{:>9} ingests   {}", 0, memory(&api)?);
    let ingest = target(&api, "/ingest", &body);
    let step = (options.ingests / 10).max(1);
    let mut sent = 0;
    let mut failed = 0;
    while sent < options.ingests {
        let count = step.min(options.ingests - sent);
        let report = load::run(
            &ingest,
            options.connections,
            Pace::Count(count),
            StatusCode::ACCEPTED,
        )
        .await?;
        sent += count;
        failed += report.failed;
        println!(
            "{sent:>9} ingests   {}   last step {:.0} req/s, p99 {:.2} ms",
            memory(&api)?,
            report.requests_per_second(),
            report.percentile_ms(0.99)
        );
    }
    if failed > 0 {
        anyhow::bail!("{failed} ingests were not accepted");
    }
    Ok(())
}
