//! The `inbound` scenario: `POST /in/<token>` to a source that verifies like GitHub
//! (HMAC-SHA256 of the whole body in `X-Hub-Signature-256`, computed and compared on every
//! request) against plain `POST /ingest` of the same body, in the same run: alternating
//! rounds at full speed, then at half the slower peak in open loop. No worker runs.

use anyhow::{Context as _, bail};
use hmac::{Hmac, KeyInit, Mac};
use hyper::{Method, StatusCode};

use crate::cli::InboundOptions;
use crate::ingest::{alternating, body, print_comparison};
use crate::load::{self, Pace, Target};
use crate::processes::{self, Database, Deployment};

const SECRET: &str = "bench-github-secret";

pub async fn run(options: InboundOptions) -> anyhow::Result<()> {
    Database::around(async |database| measure(&options, database).await).await
}

async fn measure(options: &InboundOptions, database: &Database) -> anyhow::Result<()> {
    let body = body(options.body_bytes);
    let redis = processes::redis().await?;
    let api = Deployment::new(&redis, database).api().await?;
    let (status, created) = load::call(
        api.addr,
        None,
        Method::POST,
        "/sources",
        Some(serde_json::json!({
            "name": "bench github",
            "verification": {"type": "github", "secret": SECRET},
            "event_type": {"header": "X-GitHub-Event"},
            "forward_headers": ["X-GitHub-Event"],
        })),
    )
    .await?;
    if status != StatusCode::CREATED {
        bail!(
            "POST /sources: {status} {}",
            String::from_utf8_lossy(&created)
        );
    }
    let source: serde_json::Value = serde_json::from_slice(&created)?;
    let path = source["ingest_path"]
        .as_str()
        .context("a source without an ingest_path")?
        .to_owned();
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes())?;
    mac.update(&body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    println!(
        "inbound benchmark: {} connections, {} s per run, {}-byte body, {} rounds, {} cores",
        options.connections,
        options.duration.as_secs(),
        body.len(),
        options.rounds,
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    println!("api started                   {}", api.memory()?);
    let ingest = Target::new(api.addr, "/ingest", body.clone());
    let inbound = Target::new(api.addr, path, body)
        .with_header("X-Hub-Signature-256", signature)
        .with_header("X-GitHub-Event", "push".into());
    let pair = [("POST /ingest   ", ingest), ("POST /in/<token>", inbound)];
    let servers = [("api", &api), ("redis", &redis)];
    let [plain, verified] = &alternating(
        &pair,
        options.rounds,
        options.connections,
        Pace::ClosedLoop(options.duration),
        "peak",
        &servers,
    )
    .await?;
    print_comparison(
        "POST /in/<token> vs POST /ingest, peak",
        plain,
        verified,
        true,
    );
    let rate = (plain
        .report
        .requests_per_second()
        .min(verified.report.requests_per_second())
        / 2.0)
        .max(1.0);
    let pace = Pace::OpenLoop {
        rate,
        duration: options.duration,
    };
    let [plain, verified] = &alternating(
        &pair,
        options.rounds,
        options.connections,
        pace,
        &format!("at {rate:.0}/s"),
        &servers,
    )
    .await?;
    print_comparison(
        &format!("POST /in/<token> vs POST /ingest, open loop at {rate:.0} req/s"),
        plain,
        verified,
        false,
    );
    println!("api after the runs            {}", api.memory()?);
    Ok(())
}
