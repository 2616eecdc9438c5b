//! The destinations scenario: ingest to arrival through the real processes — a private
//! `redis-server` for the queue, the release api and worker — to each destination type of
//! CONTRACT §15, counted on arrival with the broker's own client:
//!
//! | type | the destination | counted with |
//! |---|---|---|
//! | `http` | the in-process sink (as in `deliver`) | the sink's distinct deliveries |
//! | `rabbitmq` | a queue of its own on 127.0.0.1:5672, through the default exchange | a passive `queue.declare`'s message count |
//! | `nats` | a JetStream stream of its own capturing one subject, on 127.0.0.1:4222 | the stream's `state.messages` |
//! | `kafka` | a one-partition topic of librdkafka's mock cluster in this process | the partition's high watermark |
//! | `redis` | a stream of its own (`XADD NOMKSTREAM`) on 127.0.0.1:6379 | `XLEN` |
//!
//! - **Throughput at fan-out 1**, the types in turn against the same api and worker, in
//!   `--rounds` rounds whose order alternates (reversed every other round, and rotated
//!   by one every two), so no type always goes first or always follows the same one.
//!   Each run creates its broker-side resource (hookrelay creates none) and one
//!   subscription with an event type of its own, ingests `--deliveries` webhooks as fast
//!   as the api takes them, and polls the destination until all of them are there (or
//!   nothing more arrived for a while). It prints deliveries per second — from the first
//!   ingest request to the poll that saw the N-th message, so it is the rate a receiver
//!   sees, ingest included — what was lost (or arrived twice), and the CPU time per
//!   delivery of the worker, the api and the queue's Redis. Between runs the worker
//!   drains its queue, and the subscription and the resource are deleted.
//! - **Worker memory with many broker connections**: 1,000 `redis` subscriptions to one
//!   event type, their streams spread over databases 0 to 9 of 127.0.0.1:6379 — ten
//!   distinct URLs, so ten pooled connections in the worker — then ten webhooks, each
//!   fanned out to all 1,000 (10,000 deliveries): the worker's RSS before and after, and
//!   the deliveries per second.
//!
//! The broker-side figures include the brokers' own work, which runs on the same two
//! cores as everything else: the CPU lines say how busy the machine was. Kafka's mock
//! cluster runs inside this process (no Kafka server is installed here), so its figures
//! are librdkafka's producer against a mock broker, not against a real Kafka.
//!
//! The benchmark has a database of its own, dropped at the end, and unique names for
//! every queue, stream, topic and event type, so no run counts another's messages.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hyper::StatusCode;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use redis::aio::MultiplexedConnection;
use serde_json::json;

use crate::cli::{DestinationType, DestinationsOptions};
use crate::deliver::{Subscriptions, target, wait_drained};
use crate::load::{self, Pace, Report};
use crate::processes::{
    self, Database, Deployment, Service, cpu_per, cpu_times, machine_cpu_time, micros_per,
    own_cpu_time,
};
use crate::sink::Sink;

/// The machine's brokers (`scripts/services.sh` starts them).
const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const NATS_URL: &str = "nats://127.0.0.1:4222";
/// The destination Redis, without its database: not the queue's private `redis-server`.
const REDIS_SERVER: &str = "redis://127.0.0.1:6379";

/// A run ends when everything arrived, or when nothing more arrived for this long after
/// the last ingest was answered.
const STALL: Duration = Duration::from_secs(30);

/// How often the destination is counted while a run goes on: the arrival time of the
/// N-th message is known to within this.
const POLL: Duration = Duration::from_millis(20);

/// The pooled-connections part: this many `redis` subscriptions over this many
/// databases (one URL, so one pooled connection, each), sent this many webhooks.
const POOLED_SUBSCRIPTIONS: usize = 1_000;
const POOLED_DATABASES: usize = 10;
const POOLED_WEBHOOKS: u64 = 10;

pub async fn run(options: DestinationsOptions) -> anyhow::Result<()> {
    Database::around(async |database| measure(&options, database).await).await
}

async fn measure(options: &DestinationsOptions, database: &Database) -> anyhow::Result<()> {
    let redis = processes::redis().await?;
    let mut deployment = Deployment::new(&redis, database);
    // Every broker is on 127.0.0.1.
    deployment.allow_private_targets = true;
    let api = deployment.api().await?;
    let worker = deployment.worker_of(options.worker_concurrency).await?;
    let brokers = Brokers::connect(&options.types).await?;
    let names: Vec<&str> = options.types.iter().map(|t| t.name()).collect();
    println!(
        "destinations benchmark: {} deliveries (fan-out 1) per type and round, {} rounds of {}, {} ingest connections, WORKER_CONCURRENCY {}, {} cores",
        options.deliveries,
        options.rounds,
        names.join(", "),
        options.connections,
        options.worker_concurrency,
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    println!("worker started                {}", worker.memory()?);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let servers = [("worker", &worker), ("api", &api), ("redis", &redis)];

    let mut results: Vec<(DestinationType, Vec<Throughput>)> =
        options.types.iter().map(|&t| (t, Vec::new())).collect();
    for round in 0..options.rounds {
        for kind in order(&options.types, round) {
            let figures = throughput(options, &api, &servers, &brokers, kind, &run, round).await?;
            println!(
                "round {} {:<8} {}",
                round + 1,
                kind.name(),
                figures.summary()
            );
            println!("                              {}", figures.cpu);
            if let Some((_, list)) = results.iter_mut().find(|(t, _)| *t == kind) {
                list.push(figures);
            }
        }
    }
    println!("worker after the throughput runs {}", worker.memory()?);
    println!("deliveries/s at fan-out 1, round by round (worker CPU per delivery):");
    for (kind, list) in &results {
        let rounds: Vec<String> = list
            .iter()
            .map(|f| format!("{:>6.0} ({:.0} µs)", f.per_second(), f.worker_micros))
            .collect();
        println!("  {:<8} {}", kind.name(), rounds.join("   "));
    }

    pooled(options, &api, &worker, &servers, &run).await
}

/// The types in the order of `round`: as given in even rounds, reversed in odd ones,
/// and rotated by one every two rounds.
fn order(types: &[DestinationType], round: usize) -> Vec<DestinationType> {
    let mut order = types.to_vec();
    order.rotate_left((round / 2) % types.len().max(1));
    if round % 2 == 1 {
        order.reverse();
    }
    order
}

/// What one throughput run measured.
struct Throughput {
    report: Report,
    /// Messages counted at the destination once the worker had drained its queue.
    arrived: u64,
    /// From the first ingest request to the poll that saw the last message counted
    /// (the N-th, when none was lost).
    elapsed: Duration,
    /// The poll's count at that moment.
    counted: u64,
    /// The worker's CPU time per delivery, in µs.
    worker_micros: f64,
    /// "CPU per delivery: worker …, api …, redis …; …".
    cpu: String,
}

impl Throughput {
    fn per_second(&self) -> f64 {
        self.counted as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    fn summary(&self) -> String {
        let expected = self.report.ok;
        format!(
            "{} webhooks accepted ({} refused) in {:.2} s → {} of {expected} arrived, the last {:.2} s after the first ingest = {:.0} deliveries/s; lost {}, extra {}",
            self.report.ok,
            self.report.failed,
            self.report.elapsed.as_secs_f64(),
            self.arrived,
            self.elapsed.as_secs_f64(),
            self.per_second(),
            expected.saturating_sub(self.arrived),
            self.arrived.saturating_sub(expected),
        )
    }
}

/// One run at fan-out 1 to one destination of type `kind`: the resource and the
/// subscription made, `--deliveries` webhooks ingested and counted at the destination,
/// the queue drained, the subscription and the resource deleted.
async fn throughput(
    options: &DestinationsOptions,
    api: &Service,
    servers: &[(&str, &Service)],
    brokers: &Brokers,
    kind: DestinationType,
    run: &str,
    round: usize,
) -> anyhow::Result<Throughput> {
    let name = format!("hookrelay-bench-{}", uuid::Uuid::new_v4().simple());
    let (mut body, resource) = brokers.create(kind, &name).await?;
    let event_type = format!("bench.{run}.{}.round{}", kind.name(), round + 1);
    body["events"] = json!([event_type]);
    let subscriptions = Subscriptions::from_bodies(api, [body]).await?;

    let ingest = target(api, &event_type);
    let before = cpu_times(servers)?;
    let (own_before, machine_before, wall_before) =
        (own_cpu_time()?, machine_cpu_time()?, Instant::now());
    let (report, arrival) = ingest_and_count(
        &ingest,
        options.connections,
        options.deliveries,
        async || brokers.count(&resource).await,
    )
    .await?;
    wait_drained(api).await?;
    let arrived = brokers.count(&resource).await?;
    let spent = processes::cpu_since(servers, &before)?;
    let cpu = format!(
        "{}; this process (load, sink or mock Kafka, polling) {:.1} µs; machine {:.2} of {} cores busy",
        cpu_per(servers, &before, arrived, "delivery")?,
        micros_per(own_cpu_time()?.saturating_sub(own_before), arrived),
        machine_cpu_time()?
            .saturating_sub(machine_before)
            .as_secs_f64()
            / wall_before.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    subscriptions.delete(api).await?;
    brokers.remove(resource).await?;
    Ok(Throughput {
        report,
        arrived,
        elapsed: arrival.elapsed,
        counted: arrival.count,
        worker_micros: micros_per(spent[0], arrived),
        cpu,
    })
}

/// What the poller saw last.
struct Arrival {
    /// The count when it last changed (or reached the expected number).
    count: u64,
    /// From the first ingest request to the poll that saw that count.
    elapsed: Duration,
}

/// Ingests `webhooks` webhooks as fast as `connections` connections go, while `count`
/// is polled every [`POLL`] until it reaches the number accepted times `per_webhook`
/// (`webhooks` until the ingest ends), or stalls for [`STALL`] after the ingest ended.
async fn ingest_and_count(
    ingest: &load::Target,
    connections: usize,
    webhooks: u64,
    count: impl AsyncFn() -> anyhow::Result<u64>,
) -> anyhow::Result<(Report, Arrival)> {
    ingest_fanned_out(ingest, connections, webhooks, 1, count).await
}

/// [`ingest_and_count`] for webhooks that each become `per_webhook` deliveries.
async fn ingest_fanned_out(
    ingest: &load::Target,
    connections: usize,
    webhooks: u64,
    per_webhook: u64,
    count: impl AsyncFn() -> anyhow::Result<u64>,
) -> anyhow::Result<(Report, Arrival)> {
    let expected = AtomicU64::new(webhooks * per_webhook);
    let ingest_ended = AtomicBool::new(false);
    let started = Instant::now();
    let load = async {
        let report = load::run(
            ingest,
            connections,
            Pace::Count(webhooks),
            StatusCode::ACCEPTED,
        )
        .await;
        let ended = Instant::now();
        expected.store(
            report.as_ref().map_or(0, |r| r.ok * per_webhook),
            Ordering::SeqCst,
        );
        ingest_ended.store(true, Ordering::SeqCst);
        // The load driver's clock starts at its first request, after its connections
        // are open: that is where the rate is measured from.
        report.map(|r| (ended.checked_sub(r.elapsed).unwrap_or(started), r))
    };
    let poll = async {
        let mut last = (0, Instant::now());
        loop {
            let now = count().await?;
            if now != last.0 {
                last = (now, Instant::now());
            }
            if ingest_ended.load(Ordering::SeqCst)
                && (now >= expected.load(Ordering::SeqCst) || last.1.elapsed() > STALL)
            {
                return anyhow::Ok(last);
            }
            tokio::time::sleep(POLL).await;
        }
    };
    let (load, poll) = tokio::join!(load, poll);
    let (first_request, report) = load?;
    let (count, seen) = poll?;
    Ok((
        report,
        Arrival {
            count,
            elapsed: seen.saturating_duration_since(first_request),
        },
    ))
}

/// The broker-side resource of one run, named uniquely.
enum Resource {
    /// The sink: nothing to create.
    Http,
    /// A RabbitMQ queue, reached through the default exchange.
    Queue(String),
    /// A JetStream stream capturing the subject `<name>.webhooks`.
    Stream(String),
    /// A Kafka topic of the mock cluster.
    Topic(String),
    /// A Redis stream in database 0.
    RedisStream(String),
}

/// The clients of the destinations a run delivers to, connected once.
struct Brokers {
    sink: Option<Sink>,
    /// The connection is kept open with its channel.
    amqp: Option<(lapin::Connection, lapin::Channel)>,
    jetstream: Option<async_nats::jetstream::Context>,
    kafka: Option<Kafka>,
    redis: Option<MultiplexedConnection>,
}

/// librdkafka's mock cluster, and a consumer that reads its watermarks.
struct Kafka {
    cluster: rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    brokers: String,
    consumer: Arc<BaseConsumer>,
}

impl Brokers {
    /// Connects to the brokers of `types` (only those), or says which is not there.
    async fn connect(types: &[DestinationType]) -> anyhow::Result<Self> {
        let has = |t| types.contains(&t);
        let mut brokers = Self {
            sink: None,
            amqp: None,
            jetstream: None,
            kafka: None,
            redis: None,
        };
        if has(DestinationType::Http) {
            brokers.sink = Some(Sink::start().await?);
        }
        if has(DestinationType::Rabbitmq) {
            let connection =
                lapin::Connection::connect(AMQP_URL, lapin::ConnectionProperties::default())
                    .await
                    .context("RabbitMQ on 127.0.0.1:5672 (scripts/services.sh starts it)")?;
            let channel = connection.create_channel().await?;
            brokers.amqp = Some((connection, channel));
        }
        if has(DestinationType::Nats) {
            let client = async_nats::connect(NATS_URL)
                .await
                .context("NATS on 127.0.0.1:4222 (scripts/services.sh starts it)")?;
            brokers.jetstream = Some(async_nats::jetstream::new(client));
        }
        if has(DestinationType::Kafka) {
            let cluster = rdkafka::mocking::MockCluster::new(1)
                .context("Failed to start librdkafka's mock cluster")?;
            let brokers_list = cluster.bootstrap_servers();
            let consumer: BaseConsumer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", &brokers_list)
                .set("group.id", "hookrelay-bench-watermarks")
                .create()
                .context("Failed to create a Kafka consumer")?;
            brokers.kafka = Some(Kafka {
                cluster,
                brokers: brokers_list,
                consumer: Arc::new(consumer),
            });
        }
        if has(DestinationType::Redis) {
            brokers.redis = Some(redis_database(0).await?);
        }
        Ok(brokers)
    }

    /// Creates the resource `name` for `kind`: returns the subscription's body (all
    /// but its events) and the resource.
    async fn create(
        &self,
        kind: DestinationType,
        name: &str,
    ) -> anyhow::Result<(serde_json::Value, Resource)> {
        Ok(match kind {
            DestinationType::Http => {
                let sink = self.sink.as_ref().context("no sink")?;
                // Whatever an earlier run left is not this run's.
                sink.take();
                (
                    json!({"target_url": format!("http://{}/s/0", sink.addr)}),
                    Resource::Http,
                )
            }
            DestinationType::Rabbitmq => {
                let (_, channel) = self.amqp.as_ref().context("no RabbitMQ")?;
                channel
                    .queue_declare(
                        name.into(),
                        lapin::options::QueueDeclareOptions::default(),
                        lapin::types::FieldTable::default(),
                    )
                    .await
                    .with_context(|| format!("declaring the RabbitMQ queue {name}"))?;
                (
                    json!({"destination": {"type": "rabbitmq", "url": AMQP_URL, "exchange": "", "routing_key": name}}),
                    Resource::Queue(name.to_owned()),
                )
            }
            DestinationType::Nats => {
                let jetstream = self.jetstream.as_ref().context("no NATS")?;
                let subject = format!("{name}.webhooks");
                jetstream
                    .create_stream(async_nats::jetstream::stream::Config {
                        name: name.to_owned(),
                        subjects: vec![subject.clone()],
                        ..Default::default()
                    })
                    .await
                    .with_context(|| format!("creating the JetStream stream {name}"))?;
                (
                    json!({"destination": {"type": "nats", "url": NATS_URL, "subject": subject}}),
                    Resource::Stream(name.to_owned()),
                )
            }
            DestinationType::Kafka => {
                let kafka = self.kafka.as_ref().context("no Kafka")?;
                kafka
                    .cluster
                    .create_topic(name, 1, 1)
                    .with_context(|| format!("creating the Kafka topic {name}"))?;
                let brokers: Vec<&str> = kafka.brokers.split(',').collect();
                (
                    json!({"destination": {"type": "kafka", "brokers": brokers, "topic": name}}),
                    Resource::Topic(name.to_owned()),
                )
            }
            DestinationType::Redis => {
                let mut redis = self.redis.clone().context("no Redis")?;
                create_stream(&mut redis, name).await?;
                (
                    json!({"destination": {"type": "redis", "url": format!("{REDIS_SERVER}/0"), "stream": name}}),
                    Resource::RedisStream(name.to_owned()),
                )
            }
        })
    }

    /// How many messages are at `resource` now.
    async fn count(&self, resource: &Resource) -> anyhow::Result<u64> {
        Ok(match resource {
            Resource::Http => self.sink.as_ref().context("no sink")?.delivered(),
            Resource::Queue(name) => {
                let (_, channel) = self.amqp.as_ref().context("no RabbitMQ")?;
                let queue = channel
                    .queue_declare(
                        name.as_str().into(),
                        lapin::options::QueueDeclareOptions {
                            passive: true,
                            ..Default::default()
                        },
                        lapin::types::FieldTable::default(),
                    )
                    .await
                    .with_context(|| format!("counting the RabbitMQ queue {name}"))?;
                u64::from(queue.message_count())
            }
            Resource::Stream(name) => {
                let jetstream = self.jetstream.as_ref().context("no NATS")?;
                let stream = jetstream
                    .get_stream(name)
                    .await
                    .with_context(|| format!("counting the JetStream stream {name}"))?;
                stream.cached_info().state.messages
            }
            Resource::Topic(name) => {
                let consumer = Arc::clone(&self.kafka.as_ref().context("no Kafka")?.consumer);
                let topic = name.clone();
                // A blocking call of librdkafka's: off the runtime's threads.
                let (_, high) = tokio::task::spawn_blocking(move || {
                    consumer.fetch_watermarks(&topic, 0, Duration::from_secs(5))
                })
                .await?
                .with_context(|| format!("counting the Kafka topic {name}"))?;
                u64::try_from(high).unwrap_or(0)
            }
            Resource::RedisStream(name) => {
                let mut redis = self.redis.clone().context("no Redis")?;
                redis::cmd("XLEN")
                    .arg(name)
                    .query_async(&mut redis)
                    .await
                    .with_context(|| format!("counting the Redis stream {name}"))?
            }
        })
    }

    /// Deletes `resource`. The mock cluster cannot delete a topic (librdkafka's mock
    /// has no DeleteTopics); its topics go with it when the benchmark ends.
    async fn remove(&self, resource: Resource) -> anyhow::Result<()> {
        match resource {
            Resource::Http => {
                if let Some(sink) = &self.sink {
                    sink.take();
                }
            }
            Resource::Queue(name) => {
                let (_, channel) = self.amqp.as_ref().context("no RabbitMQ")?;
                channel
                    .queue_delete(
                        name.as_str().into(),
                        lapin::options::QueueDeleteOptions::default(),
                    )
                    .await
                    .with_context(|| format!("deleting the RabbitMQ queue {name}"))?;
            }
            Resource::Stream(name) => {
                let jetstream = self.jetstream.as_ref().context("no NATS")?;
                jetstream
                    .delete_stream(&name)
                    .await
                    .with_context(|| format!("deleting the JetStream stream {name}"))?;
            }
            Resource::Topic(_) => {}
            Resource::RedisStream(name) => {
                let mut redis = self.redis.clone().context("no Redis")?;
                let _: u64 = redis::cmd("DEL").arg(&name).query_async(&mut redis).await?;
            }
        }
        Ok(())
    }
}

/// A connection to database `db` of the destination Redis.
async fn redis_database(db: usize) -> anyhow::Result<MultiplexedConnection> {
    redis::Client::open(format!("{REDIS_SERVER}/{db}"))?
        .get_multiplexed_async_connection()
        .await
        .context("Redis on 127.0.0.1:6379 (scripts/services.sh starts it)")
}

/// Creates the (empty) stream `key`, as a reader would: `XGROUP CREATE <key> g $
/// MKSTREAM`.
async fn create_stream(redis: &mut MultiplexedConnection, key: &str) -> anyhow::Result<()> {
    let () = redis::cmd("XGROUP")
        .arg(&["CREATE", key, "g", "$", "MKSTREAM"][..])
        .query_async(redis)
        .await
        .with_context(|| format!("creating the Redis stream {key}"))?;
    Ok(())
}

/// The pooled-connections part: [`POOLED_SUBSCRIPTIONS`] `redis` subscriptions to one
/// event type over [`POOLED_DATABASES`] URLs, [`POOLED_WEBHOOKS`] webhooks fanned out
/// to all of them; the worker's RSS before and after, and the deliveries per second.
async fn pooled(
    options: &DestinationsOptions,
    api: &Service,
    worker: &Service,
    servers: &[(&str, &Service)],
    run: &str,
) -> anyhow::Result<()> {
    let mut databases = Vec::with_capacity(POOLED_DATABASES);
    for db in 0..POOLED_DATABASES {
        databases.push(redis_database(db).await?);
    }
    // Subscription n's stream is in database n % POOLED_DATABASES.
    let keys: Vec<String> = (0..POOLED_SUBSCRIPTIONS)
        .map(|n| format!("hookrelay-bench-{run}-{n}"))
        .collect();
    for (n, key) in keys.iter().enumerate() {
        create_stream(&mut databases[n % POOLED_DATABASES], key).await?;
    }
    let event_type = format!("bench.{run}.pooled");
    let bodies = keys.iter().enumerate().map(|(n, key)| {
        json!({
            "events": [event_type],
            "destination": {
                "type": "redis",
                "url": format!("{REDIS_SERVER}/{}", n % POOLED_DATABASES),
                "stream": key,
            },
        })
    });
    let subscriptions = Subscriptions::from_bodies(api, bodies).await?;
    println!(
        "{POOLED_SUBSCRIPTIONS} redis subscriptions over {POOLED_DATABASES} URLs (databases 0-{}), {POOLED_WEBHOOKS} webhooks → {} deliveries:",
        POOLED_DATABASES - 1,
        POOLED_WEBHOOKS * POOLED_SUBSCRIPTIONS as u64,
    );
    println!("  worker before               {}", worker.memory()?);

    let count = async || -> anyhow::Result<u64> {
        let mut total = 0;
        for (db, connection) in databases.iter().enumerate() {
            let mut pipe = redis::pipe();
            for key in keys.iter().skip(db).step_by(POOLED_DATABASES) {
                pipe.cmd("XLEN").arg(key);
            }
            let lengths: Vec<u64> = pipe.query_async(&mut connection.clone()).await?;
            total += lengths.iter().sum::<u64>();
        }
        Ok(total)
    };
    let before = cpu_times(servers)?;
    let (report, arrival) = ingest_fanned_out(
        &target(api, &event_type),
        options.connections.min(POOLED_WEBHOOKS as usize),
        POOLED_WEBHOOKS,
        POOLED_SUBSCRIPTIONS as u64,
        &count,
    )
    .await?;
    wait_drained(api).await?;
    let arrived = count().await?;
    let expected = report.ok * POOLED_SUBSCRIPTIONS as u64;
    println!(
        "  {} webhooks accepted ({} refused) → {arrived} of {expected} arrived, the last {:.2} s after the first ingest = {:.0} deliveries/s; lost {}, extra {}",
        report.ok,
        report.failed,
        arrival.elapsed.as_secs_f64(),
        arrival.count as f64 / arrival.elapsed.as_secs_f64().max(f64::EPSILON),
        expected.saturating_sub(arrived),
        arrived.saturating_sub(expected),
    );
    println!("  {}", cpu_per(servers, &before, arrived, "delivery")?);
    println!("  worker after                {}", worker.memory()?);

    subscriptions.delete(api).await?;
    for (db, connection) in databases.iter_mut().enumerate() {
        let mine: Vec<&String> = keys.iter().skip(db).step_by(POOLED_DATABASES).collect();
        let _: u64 = redis::cmd("DEL").arg(&mine).query_async(connection).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use DestinationType::*;

    #[test]
    fn no_type_always_goes_first_or_last() {
        let types = DestinationType::ALL;
        let rounds: Vec<_> = (0..4).map(|round| order(&types, round)).collect();
        assert_eq!(rounds[0], vec![Http, Rabbitmq, Nats, Kafka, Redis]);
        assert_eq!(rounds[1], vec![Redis, Kafka, Nats, Rabbitmq, Http]);
        assert_eq!(rounds[2], vec![Rabbitmq, Nats, Kafka, Redis, Http]);
        assert_eq!(rounds[3], vec![Http, Redis, Kafka, Nats, Rabbitmq]);
        assert_eq!(order(&[Nats], 3), vec![Nats]);
    }
}
