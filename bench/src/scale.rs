//! `deliver --cluster`: what the partitioned queue (CONTRACT §16) costs and buys. One
//! throughput run (fan-out 1) per queue layout, each with a fresh api and worker:
//! one Redis and a three-master Redis Cluster (three replicas), each with
//! `QUEUE_PARTITIONS` 1 and 16. For each: deliveries/s; Redis CPU per delivery in all
//! (every redis-server process, replicas included, since they do work too) and per
//! master; and the share of stream, sorted-set and script commands each master served.
//!
//! On a two-core machine throughput cannot grow with masters (they share the cores with
//! the api, the worker and Postgres); the CPU per delivery per master is what predicts
//! scale on machines of their own.

use std::time::Duration;

use hookrelay_tests::cluster::RedisCluster;
use hyper::StatusCode;

use crate::cli::DeliverOptions;
use crate::deliver::{Subscriptions, summary, target, wait_drained, wait_for};
use crate::load::{self, Pace};
use crate::processes::{self, Database, Deployment, micros_per, process_cpu_time};
use crate::sink::Sink;

/// The layouts measured, in order.
const LAYOUTS: [(Topology, u16); 4] = [
    (Topology::One, 1),
    (Topology::One, 16),
    (Topology::Cluster, 1),
    (Topology::Cluster, 16),
];

#[derive(Clone, Copy)]
enum Topology {
    One,
    Cluster,
}

/// CPU time of a redis-server process.
fn cpu(pid: u32) -> anyhow::Result<Duration> {
    process_cpu_time(&format!("/proc/{pid}/stat"))
}

pub async fn run(options: DeliverOptions) -> anyhow::Result<()> {
    Database::around(async |database| measure(&options, database).await).await
}

async fn measure(options: &DeliverOptions, database: &Database) -> anyhow::Result<()> {
    let single = processes::redis().await?;
    let cluster = RedisCluster::start(3).await;
    let masters = cluster.masters().await;
    let sink = Sink::start().await?;
    println!(
        "queue layouts: {} deliveries per run (fan-out 1), {} ingest connections, WORKER_CONCURRENCY {}, {} cores",
        options.deliveries,
        options.connections,
        options.worker_concurrency,
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    let run = uuid::Uuid::new_v4().simple().to_string();
    for (topology, partitions) in LAYOUTS {
        let mut deployment = Deployment::new(&single, database);
        if let Topology::Cluster = topology {
            deployment = deployment.on_cluster(cluster.url());
        }
        deployment.allow_private_targets = true;
        deployment
            .shared_env
            .push(("QUEUE_PARTITIONS", partitions.to_string()));
        let api = deployment.api().await?;
        let _worker = deployment.worker_of(options.worker_concurrency).await?;
        let event_type = format!("bench.{run}.{partitions}.{}", topology.slug());
        let subscriptions = Subscriptions::create(&api, &sink, 1, &event_type).await?;

        // Every redis-server of the layout, and the masters among them.
        let pids: Vec<u32> = match topology {
            Topology::One => vec![single.pid()?],
            Topology::Cluster => cluster
                .ports()
                .iter()
                .filter_map(|port| cluster.pid(*port))
                .collect(),
        };
        let cpu_before: Vec<Duration> =
            pids.iter().map(|pid| cpu(*pid)).collect::<Result<_, _>>()?;
        let master_cpu_before = master_cpu(&cluster, &masters)?;
        let mut commands_before = Vec::new();
        for port in &masters {
            commands_before.push(RedisCluster::queue_commands(*port).await);
        }

        let report = load::run(
            &target(&api, &event_type),
            options.connections,
            Pace::Count(options.deliveries.max(1)),
            StatusCode::ACCEPTED,
        )
        .await?;
        let arrivals = wait_for(&sink, report.ok).await;
        wait_drained(&api).await?;
        let delivered = arrivals.delivered;

        let redis_cpu: Duration = pids
            .iter()
            .zip(&cpu_before)
            .map(|(pid, before)| Ok(cpu(*pid)?.saturating_sub(*before)))
            .sum::<anyhow::Result<Duration>>()?;
        println!(
            "{} with {partitions:>2} partition{}: {}",
            topology.label(),
            if partitions == 1 { " " } else { "s" },
            summary(&report, 1, &arrivals)
        );
        println!(
            "    Redis CPU per delivery {:.1} µs (every redis-server of the layout)",
            micros_per(redis_cpu, delivered)
        );
        if let Topology::Cluster = topology {
            let after = master_cpu(&cluster, &masters)?;
            let mut commands = Vec::new();
            for (port, before) in masters.iter().zip(&commands_before) {
                commands.push(
                    RedisCluster::queue_commands(*port)
                        .await
                        .saturating_sub(*before),
                );
            }
            let total: u64 = commands.iter().sum();
            let per_master: Vec<String> = masters
                .iter()
                .zip(after.iter().zip(&master_cpu_before))
                .zip(&commands)
                .map(|((port, (after, before)), served)| {
                    format!(
                        ":{port} {:.1} µs/delivery, {:.0} % of queue commands",
                        micros_per(after.saturating_sub(*before), delivered),
                        *served as f64 * 100.0 / total.max(1) as f64
                    )
                })
                .collect();
            println!("    masters: {}", per_master.join("; "));
        }
        subscriptions.delete(&api).await?;
    }
    Ok(())
}

/// The CPU time of each master so far.
fn master_cpu(cluster: &RedisCluster, masters: &[u16]) -> anyhow::Result<Vec<Duration>> {
    masters
        .iter()
        .map(|port| {
            let pid = cluster
                .pid(*port)
                .ok_or_else(|| anyhow::anyhow!("master :{port} is not running"))?;
            cpu(pid)
        })
        .collect()
}

impl Topology {
    const fn slug(self) -> &'static str {
        match self {
            Self::One => "one",
            Self::Cluster => "cluster",
        }
    }

    const fn label(self) -> &'static str {
        match self {
            Self::One => "one Redis       ",
            Self::Cluster => "3-master cluster",
        }
    }
}
