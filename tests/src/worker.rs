//! Workers for tests, and the seeding and inspection helpers the delivery tests share.
//!
//! - [`TestWorker`]: the worker in-process (`Worker::build` + `run_until_stopped`),
//!   stopped on `stop()` or drop.
//! - [`WorkerProcess`]: the real `hookrelay-worker` binary with the test's environment,
//!   for crash and signal tests (SIGKILL, SIGTERM).
//! - Seeding without the api: [`insert_subscription`] (straight into Postgres, bumping
//!   the cache version as the api does) and [`enqueue`] (the api's own ingest script).
//! - Inspection: [`attempts`] and [`deliveries`] of a webhook, oldest first; the work
//!   stream's entries ([`stream_entries`], [`stream_len`]) and who holds them
//!   ([`pending_by_consumer`]).

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use bytes::Bytes;
use deadpool_redis::redis::FromRedisValue;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use hookrelay_domain::subscriptions::NewSubscription;
use hookrelay_domain::subscriptions::Subscription;
use hookrelay_domain::webhooks::Attempt;
use hookrelay_domain::webhooks::Delivery;
use hookrelay_shared::Config;
use hookrelay_shared::queue::{IngestQueue, IngestedWebhook};
use hookrelay_shared::schema::{attempts, deliveries, subscriptions};
use hookrelay_worker::Worker;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::TestEnv;

/// A worker running in this process.
pub struct TestWorker {
    pub metrics_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Starts a worker in-process with `config`.
pub async fn spawn_worker(config: Config) -> TestWorker {
    crate::ensure_crypto_provider();
    let worker = Worker::build(config).await.expect("the worker starts");
    let metrics_addr = worker.metrics_addr();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(worker.run_until_stopped(shutdown.clone()));
    TestWorker {
        metrics_addr,
        shutdown,
        task: Some(task),
    }
}

impl TestWorker {
    /// Stops the worker as SIGTERM would and waits for it; returns how long that took.
    pub async fn stop(mut self) -> Duration {
        let started = std::time::Instant::now();
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await
                .expect("worker task")
                .expect("worker stopped cleanly");
        }
        started.elapsed()
    }
}

impl Drop for TestWorker {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The `hookrelay-worker` binary, running with a test's environment.
pub struct WorkerProcess {
    child: tokio::process::Child,
}

impl WorkerProcess {
    /// Starts the binary (built by `cargo build --workspace --bins`) with exactly the
    /// test environment's variables (plus `PATH` and `RUST_LOG`).
    pub fn spawn(env: &TestEnv) -> Self {
        let mut command = tokio::process::Command::new(crate::binary("hookrelay-worker"));
        command
            .env_clear()
            .envs(env.vars())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        Self {
            child: command.spawn().expect("hookrelay-worker starts"),
        }
    }

    /// Starts the binary as [`spawn`](Self::spawn) does, with its stdout read line by
    /// line into the receiver (the log destination writes there).
    pub fn spawn_reading_stdout(
        env: &TestEnv,
    ) -> (Self, tokio::sync::mpsc::UnboundedReceiver<String>) {
        use tokio::io::AsyncBufReadExt as _;
        let mut command = tokio::process::Command::new(crate::binary("hookrelay-worker"));
        command
            .env_clear()
            .envs(env.vars())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("hookrelay-worker starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines_tx, lines) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        (Self { child }, lines)
    }

    /// SIGKILL: the process dies at once, with whatever it was doing.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("SIGKILL the worker");
    }

    /// SIGTERM, then waits up to `within` for the exit status.
    pub async fn terminate(&mut self, within: Duration) -> ExitStatus {
        let pid = self.child.id().expect("the worker is running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("the worker did not exit within {within:?} of SIGTERM"))
            .expect("wait for the worker")
    }
}

/// Inserts a subscription straight into Postgres (bypassing the api's URL checks, e.g.
/// for private targets) and bumps the cache version so every worker reloads.
pub async fn insert_subscription(
    env: &TestEnv,
    target_url: &str,
    events: Option<&[&str]>,
    secret: &str,
) -> Subscription {
    let row = new_subscription(target_url, events, secret);
    let mut conn = env.db.pool().get().await.expect("a connection");
    let sub = diesel::insert_into(subscriptions::table)
        .values(&row)
        .returning(Subscription::as_returning())
        .get_result(&mut conn)
        .await
        .expect("insert a subscription");
    bump_subscriptions(env).await;
    sub
}

/// Inserts `count` fan-out subscriptions (every event type) to `target_url` in one
/// statement, and bumps the cache version.
pub async fn insert_subscriptions(env: &TestEnv, target_url: &str, count: usize) {
    let rows: Vec<NewSubscription> = (0..count)
        .map(|_| new_subscription(target_url, None, "s"))
        .collect();
    let mut conn = env.db.pool().get().await.expect("a connection");
    for chunk in rows.chunks(1_000) {
        diesel::insert_into(subscriptions::table)
            .values(chunk)
            .execute(&mut conn)
            .await
            .expect("insert subscriptions");
    }
    bump_subscriptions(env).await;
}

/// An active subscription row of the default space with every other option unset.
fn new_subscription(target_url: &str, events: Option<&[&str]>, secret: &str) -> NewSubscription {
    let now = hookrelay_shared::time::now();
    NewSubscription {
        id: Uuid::new_v4(),
        target_url: Some(target_url.to_owned()),
        destination: None,
        secret: secret.to_owned(),
        events: events.map(|e| e.iter().map(|s| (*s).to_owned()).collect()),
        description: None,
        headers: serde_json::json!({}),
        is_active: true,
        created_at: now,
        updated_at: now,
        tenant_id: None,
        name: None,
        http_method: "POST".into(),
        timeout_ms: None,
        retry_schedule: None,
        rate_limit: None,
    }
}

/// Sets a subscription's `is_active` directly and bumps the cache version.
pub async fn set_active(env: &TestEnv, id: Uuid, active: bool) {
    let mut conn = env.db.pool().get().await.expect("a connection");
    diesel::update(subscriptions::table.find(id))
        .set(subscriptions::is_active.eq(active))
        .execute(&mut conn)
        .await
        .expect("update a subscription");
    bump_subscriptions(env).await;
}

async fn bump_subscriptions(env: &TestEnv) {
    let mut redis = env.redis().await;
    deadpool_redis::redis::cmd("INCR")
        .arg(env.keys().cache_version("subs"))
        .query_async::<i64>(&mut redis)
        .await
        .expect("bump the subscription version");
}

/// Queues a webhook exactly as the api's ingest does; returns its id.
pub async fn enqueue(
    env: &TestEnv,
    subscription_id: Option<Uuid>,
    event_type: Option<&str>,
    body: &[u8],
) -> Uuid {
    let webhook = ingested(
        env,
        subscription_id,
        event_type,
        Bytes::copy_from_slice(body),
    );
    let mut redis = env.redis().await;
    IngestQueue::new(env.keys())
        .enqueue(&mut redis, &webhook, None)
        .await
        .expect("enqueue a webhook");
    webhook.webhook_id
}

/// A webhook of the default space as ingest queues it, received now, with an id of one
/// of `env`'s partitions.
fn ingested(
    env: &TestEnv,
    subscription_id: Option<Uuid>,
    event_type: Option<&str>,
    body: Bytes,
) -> IngestedWebhook {
    IngestedWebhook {
        webhook_id: hookrelay_shared::queue::new_webhook_id(&env.keys(), None),
        subscription_id,
        event_type: event_type.map(str::to_owned),
        received_at: hookrelay_shared::time::now(),
        body,
        tenant_id: None,
        skip_subscription: None,
        envelope: None,
    }
}

/// Every attempt of a webhook, oldest first.
pub async fn attempts(env: &TestEnv, webhook_id: Uuid) -> Vec<Attempt> {
    let mut conn = env.db.pool().get().await.expect("a connection");
    attempts::table
        .filter(attempts::webhook_id.eq(webhook_id))
        .order((attempts::timestamp.asc(), attempts::attempt_number.asc()))
        .select(Attempt::as_select())
        .load(&mut conn)
        .await
        .expect("read attempts")
}

/// Every delivery of a webhook.
pub async fn deliveries(env: &TestEnv, webhook_id: Uuid) -> Vec<Delivery> {
    let mut conn = env.db.pool().get().await.expect("a connection");
    deliveries::table
        .filter(deliveries::webhook_id.eq(webhook_id))
        .select(Delivery::as_select())
        .load(&mut conn)
        .await
        .expect("read deliveries")
}

/// Waits until every delivery of the webhook has finished and returns them.
pub async fn finished_deliveries(
    env: &TestEnv,
    webhook_id: Uuid,
    timeout: Duration,
) -> Vec<Delivery> {
    crate::eventually(timeout, "every delivery to finish", || async {
        let rows = deliveries(env, webhook_id).await;
        let done = !rows.is_empty()
            && rows
                .iter()
                .all(|d| d.status == "succeeded" || d.status == "failed");
        done.then_some(rows)
    })
    .await
}

/// Queues `count` targeted webhooks over one connection (for backlogs); returns their ids.
pub async fn enqueue_many(env: &TestEnv, subscription_id: Uuid, count: usize) -> Vec<Uuid> {
    let mut redis = env.redis().await;
    let queue = IngestQueue::new(env.keys());
    let mut ids = Vec::with_capacity(count);
    for n in 0..count {
        let webhook = ingested(
            env,
            Some(subscription_id),
            None,
            Bytes::from(format!("[{n}]")),
        );
        queue
            .enqueue(&mut redis, &webhook, None)
            .await
            .expect("enqueue a webhook");
        ids.push(webhook.webhook_id);
    }
    ids
}

/// The streams of every partition the test's deployment may use: the active ones and
/// the unpartitioned layout.
fn streams(env: &TestEnv) -> Vec<String> {
    let keys = env.keys();
    keys.active()
        .chain([hookrelay_shared::keys::Partition::Unpartitioned])
        .map(|partition| keys.partition(partition).stream())
        .collect()
}

/// Every entry of the work streams (all partitions), oldest first, as (entry id, fields)
/// in the form `F` reads them: `HashMap<String, Value>` to decode an entry,
/// `Vec<(String, Vec<u8>)>` to copy one in order.
pub async fn stream_entries<F: FromRedisValue>(env: &TestEnv) -> Vec<(String, F)> {
    let mut redis = env.redis().await;
    let mut all = Vec::new();
    for stream in streams(env) {
        let entries: Vec<(String, F)> = deadpool_redis::redis::cmd("XRANGE")
            .arg(stream)
            .arg("-")
            .arg("+")
            .query_async(&mut redis)
            .await
            .expect("XRANGE a work stream");
        all.extend(entries);
    }
    let order = |id: &str| -> (u64, u64) {
        let (ms, seq) = id.split_once('-').unwrap_or_default();
        (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
    };
    all.sort_by_key(|(id, _)| order(id));
    all
}

/// How many entries the work streams hold (XLEN, summed over the partitions): 0 once
/// everything is acknowledged.
pub async fn stream_len(env: &TestEnv) -> u64 {
    let mut redis = env.redis().await;
    let mut total = 0;
    for stream in streams(env) {
        total += deadpool_redis::redis::cmd("XLEN")
            .arg(stream)
            .query_async::<u64>(&mut redis)
            .await
            .expect("XLEN a work stream");
    }
    total
}

/// Each consumer of the work streams' groups with the number of entries it holds over
/// every partition (XINFO CONSUMERS), by consumer name: one snapshot (the partitions are
/// read in one MULTI, so an entry moving on between two reads is not counted twice).
pub async fn pending_by_consumer(env: &TestEnv) -> std::collections::BTreeMap<String, u64> {
    use deadpool_redis::redis::Value;
    let mut pipe = deadpool_redis::redis::pipe();
    pipe.atomic().ignore_errors();
    for stream in streams(env) {
        pipe.cmd("XINFO")
            .arg("CONSUMERS")
            .arg(stream)
            .arg(hookrelay_shared::keys::CONSUMER_GROUP);
    }
    let replies: Vec<deadpool_redis::redis::RedisResult<Value>> = pipe
        .query_async(&mut env.redis().await)
        .await
        .unwrap_or_default();
    let mut held = std::collections::BTreeMap::new();
    // A partition without a stream or group yet answers an error: it holds nothing.
    for consumers in replies.into_iter().flatten() {
        let Value::Array(consumers) = consumers else {
            continue;
        };
        for (name, pending) in pending_of(&consumers) {
            *held.entry(name).or_default() += pending;
        }
    }
    held
}

/// (name, pending) of each consumer in an XINFO CONSUMERS answer.
fn pending_of(
    consumers: &[deadpool_redis::redis::Value],
) -> std::collections::BTreeMap<String, u64> {
    use deadpool_redis::redis::Value;
    let text = |v: &Value| match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        _ => String::new(),
    };
    consumers
        .iter()
        .filter_map(|consumer| {
            let fields: Vec<(String, &Value)> = match consumer {
                Value::Array(items) => items
                    .chunks(2)
                    .filter_map(|pair| match pair {
                        [k, v] => Some((text(k), v)),
                        _ => None,
                    })
                    .collect(),
                Value::Map(pairs) => pairs.iter().map(|(k, v)| (text(k), v)).collect(),
                _ => return None,
            };
            let name = fields
                .iter()
                .find(|(k, _)| k == "name")
                .map(|(_, v)| text(v))?;
            let pending = fields.iter().find_map(|(k, v)| match (k.as_str(), v) {
                ("pending", Value::Int(n)) => u64::try_from(*n).ok(),
                _ => None,
            })?;
            Some((name, pending))
        })
        .collect()
}
