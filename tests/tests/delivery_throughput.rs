//! Delivery figures, not a timed test (ignored by default). Run by hand, in release:
//!
//! ```text
//! cargo test --release -p hookrelay-tests --test delivery_throughput -- --ignored --nocapture
//! ```
//!
//! - throughput: N webhooks queued first, then one in-process worker drains them to a
//!   local sink answering 204; deliveries/s for fan-out 1 and fan-out 10;
//! - latency: webhooks queued at a fixed rate while the worker runs; p50/p99 from
//!   queueing to arrival at the sink;
//! - the RSS of this process (worker + sink + driver together: an upper bound).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hookrelay_tests::worker::{enqueue, insert_subscription};
use hookrelay_tests::{Receiver, TestEnv};
use hookrelay_worker::Worker;
use tokio_util::sync::CancellationToken;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

async fn bench_env(fan_out: usize) -> (TestEnv, Receiver) {
    let mut env = TestEnv::new().await;
    env.set("DELIVERY_TIMEOUT", Some("10s"))
        .set("RECLAIM_IDLE", Some("30s"))
        .set("WORKER_CONCURRENCY", Some("256"));
    let receiver = Receiver::ok().await;
    for _ in 0..fan_out {
        insert_subscription(&env, &receiver.url, None, "secret").await;
    }
    (env, receiver)
}

async fn throughput(fan_out: usize, webhooks: usize) {
    let (env, mut receiver) = bench_env(fan_out).await;
    let worker = Worker::build(env.config()).await.expect("worker");
    for n in 0..webhooks {
        enqueue(
            &env,
            None,
            Some("bench"),
            format!("{{\"n\":{n}}}").as_bytes(),
        )
        .await;
    }
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(worker.run_until_stopped(shutdown.clone()));
    let expected = webhooks * fan_out;
    let mut arrived = 0;
    while arrived < expected {
        receiver.next(Duration::from_secs(60)).await;
        arrived += 1;
    }
    let elapsed = started.elapsed();
    println!(
        "fan-out {fan_out:>2}: {expected} deliveries in {:.2}s = {:.0} deliveries/s (RSS {:.0} MiB)",
        elapsed.as_secs_f64(),
        expected as f64 / elapsed.as_secs_f64(),
        rss_mib()
    );
    shutdown.cancel();
    task.await.expect("task").expect("worker");
}

async fn latency(rate: u32, seconds: u32) {
    let (env, mut receiver) = bench_env(1).await;
    let worker = Worker::build(env.config()).await.expect("worker");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(worker.run_until_stopped(shutdown.clone()));
    let total = (rate * seconds) as usize;
    let mut sent = HashMap::with_capacity(total);
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    let env = env;
    for n in 0..total {
        tick.tick().await;
        let id = enqueue(
            &env,
            None,
            Some("bench"),
            format!("{{\"n\":{n}}}").as_bytes(),
        )
        .await;
        sent.insert(id.to_string(), chrono::Utc::now());
    }
    let mut latencies = Vec::with_capacity(total);
    while latencies.len() < total {
        let got = receiver.next(Duration::from_secs(60)).await;
        let id = got.header("webhook-id").unwrap_or_default();
        if let Some(at) = sent.get(id) {
            latencies.push((got.at - *at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{rate} webhooks/s for {seconds}s: queue→arrival p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, lost {}",
        pick(0.5),
        pick(0.99),
        pick(1.0),
        total - latencies.len()
    );
    shutdown.cancel();
    task.await.expect("task").expect("worker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run by hand in release with --ignored --nocapture"]
async fn delivery_throughput_and_latency() {
    throughput(1, 20_000).await;
    throughput(10, 2_000).await;
    latency(1_000, 5).await;
}
