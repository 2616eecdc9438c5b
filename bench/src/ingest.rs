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
use crate::processes::{self, Database, Deployment, Service, cpu_per, cpu_times};

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
    Target::new(service.addr, path, body.clone())
}

/// A warm-up, then the measured closed-loop run; with the CPU time each of `servers`
/// spent per answered request during the measured run.
async fn closed_loop(
    target: &Target,
    connections: usize,
    duration: Duration,
    servers: &[(&str, &Service)],
) -> anyhow::Result<(Report, String)> {
    load::run(
        target,
        connections,
        Pace::ClosedLoop(WARM_UP),
        StatusCode::ACCEPTED,
    )
    .await?;
    let before = cpu_times(servers)?;
    let report = load::run(
        target,
        connections,
        Pace::ClosedLoop(duration),
        StatusCode::ACCEPTED,
    )
    .await?;
    let cpu = cpu_per(servers, &before, report.ok, "request")?;
    Ok((report, cpu))
}

pub async fn run(options: IngestOptions) -> anyhow::Result<()> {
    Database::around(async |database| measure(&options, database).await).await
}

async fn measure(options: &IngestOptions, database: &Database) -> anyhow::Result<()> {
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
        let (report, cpu) = closed_loop(
            &target(&server, "/ingest", &body),
            options.connections,
            options.duration,
            &[("server", &server)],
        )
        .await?;
        println!("ceiling, bare HTTP 202        {}", report.summary());
        println!("                              {cpu}");
        Some(report)
    } else {
        None
    };

    let redis = processes::redis().await?;
    let api = Deployment::new(&redis, database).api().await?;
    println!("api started                   {}", api.memory()?);
    let ingest = target(&api, "/ingest", &body);
    let (peak, cpu) = closed_loop(
        &ingest,
        options.connections,
        options.duration,
        &[("api", &api), ("redis", &redis)],
    )
    .await?;
    println!("api POST /ingest, peak        {}", peak.summary());
    println!("                              {cpu}");
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
    println!("api after the runs            {}", api.memory()?);
    Ok(())
}

pub async fn soak(options: SoakOptions) -> anyhow::Result<()> {
    Database::around(async |database| measure_soak(&options, database).await).await
}

async fn measure_soak(options: &SoakOptions, database: &Database) -> anyhow::Result<()> {
    let body = body(options.body_bytes);
    let redis = processes::redis().await?;
    let api = Deployment::new(&redis, database).api().await?;
    println!(
        "soak: {} ingests over {} connections, {}-byte body",
        options.ingests,
        options.connections,
        body.len()
    );
    println!("{:>9} ingests   {}", 0, api.memory()?);
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
            api.memory()?,
            report.requests_per_second(),
            report.percentile_ms(0.99)
        );
    }
    if failed > 0 {
        anyhow::bail!("{failed} ingests were not accepted");
    }
    Ok(())
}
