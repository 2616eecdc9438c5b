//! The partitioned queue (CONTRACT §16) on one Redis: load spreads over the partitions,
//! a change of `QUEUE_PARTITIONS` between restarts loses nothing, the layout of versions
//! before partitions is drained, and `REDIS_WAIT_REPLICAS` answers 503 when replicas do
//! not acknowledge. (The same flows on a Redis Cluster: `cluster`.)

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use deadpool_redis::redis;
use hookrelay_shared::keys::Partition;
use hookrelay_tests::receiver::fail_first_attempts;
use hookrelay_tests::worker::{finished_deliveries, insert_subscription, spawn_worker};
use hookrelay_tests::{Receiver, TestEnv, eventually};
use serde_json::json;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

/// XLEN of each of `partitions`' streams (on one Redis or a cluster).
async fn stream_lengths(env: &TestEnv, partitions: u16) -> Vec<u64> {
    let keys = env.keys();
    let mut redis = env.queue_redis().await;
    let mut lengths = Vec::new();
    for n in 0..partitions {
        lengths.push(
            redis::cmd("XLEN")
                .arg(keys.partition(Partition::Numbered(n)).stream())
                .query_async(&mut redis)
                .await
                .expect("XLEN"),
        );
    }
    lengths
}

#[tokio::test]
async fn an_even_load_spreads_over_every_partition_within_twice_its_share() {
    let mut env = TestEnv::new().await;
    env.set("QUEUE_PARTITIONS", Some("8"));
    let api = env.spawn_api().await;
    let total = 1_600_u64;
    let sent: Vec<Uuid> = futures::future::join_all((0..total).map(|n| {
        let api = &api;
        async move {
            api.ingest_accepted("/ingest", &[], format!("{{\"n\": {n}}}"))
                .await
        }
    }))
    .await;
    let lengths = stream_lengths(&env, 8).await;
    assert_eq!(lengths.iter().sum::<u64>(), total, "{lengths:?}");
    let share = total / 8;
    for (partition, length) in lengths.iter().enumerate() {
        assert!(
            *length <= 2 * share && *length >= share / 2,
            "partition {partition} got {length} of {total}: {lengths:?}"
        );
    }
    // Each webhook sits in the partition its id names.
    for id in sent.iter().take(50) {
        let marker: i64 = redis::cmd("EXISTS")
            .arg(env.keys().origin(*id).queued(*id))
            .query_async(&mut env.queue_redis().await)
            .await
            .expect("EXISTS");
        assert_eq!(marker, 1, "{id} has no marker in its partition");
    }
}

#[tokio::test]
async fn the_same_idempotency_key_always_lands_in_one_partition() {
    let mut env = TestEnv::new().await;
    env.set("QUEUE_PARTITIONS", Some("64"));
    let api = env.spawn_api().await;
    for key in ["order-1", "order-2", "order-3"] {
        let first = api
            .ingest_accepted("/ingest", &[("idempotency-key", key)], "{}")
            .await;
        for _ in 0..5 {
            let (status, body) = api
                .ingest_at("/ingest", &[("idempotency-key", key)], "{}")
                .await;
            assert_eq!(status, 202, "{body}");
            assert_eq!(hookrelay_tests::api::webhook_id(&body), first);
        }
    }
    assert_eq!(stream_lengths(&env, 64).await.iter().sum::<u64>(), 3);
}

#[tokio::test]
async fn fewer_partitions_after_a_restart_lose_nothing_queued_retrying_or_delayed() {
    fewer_partitions_lose_nothing(TestEnv::new().await).await;
}

/// 32 partitions, then 4 after a restart: webhooks queued, retrying and delayed in the
/// partitions that no longer take work are all delivered, once (`cluster` runs it on a
/// Redis Cluster).
pub async fn fewer_partitions_lose_nothing(mut env: TestEnv) {
    // Retries far enough out that they still wait when the first worker stops.
    env.set("QUEUE_PARTITIONS", Some("32"))
        .set("RETRY_SCHEDULE", Some("3s"));
    // The first attempts fail while the first worker runs, so they wait as retries.
    let failing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut receiver = Receiver::start({
        let failing = std::sync::Arc::clone(&failing);
        let fail_first = fail_first_attempts();
        move |n, request| {
            if failing.load(std::sync::atomic::Ordering::SeqCst) {
                fail_first(n, request)
            } else {
                hookrelay_tests::Reply::status(204)
            }
        }
    })
    .await;
    let sub = insert_subscription(&env, &receiver.url, None, "s").await;
    let path = format!("/ingest/{}", sub.id);

    // A worker with 32 partitions makes a first (failing) attempt of each: their
    // retries wait in the retry sets of all 32 partitions.
    let api = env.spawn_api().await;
    let worker = spawn_worker(env.config()).await;
    let mut retrying = Vec::new();
    for n in 0..64 {
        retrying.push(api.ingest_accepted(&path, &[], format!("[{n}]")).await);
    }
    let mut first_tries = HashSet::new();
    while first_tries.len() < retrying.len() {
        first_tries.insert(
            receiver
                .next(WAIT)
                .await
                .header("webhook-id")
                .map(str::to_owned),
        );
    }
    receiver.drain();
    worker.stop().await;
    failing.store(false, std::sync::atomic::Ordering::SeqCst);
    // Queued (no worker) and delayed webhooks, in all 32 partitions too.
    let mut queued = Vec::new();
    for n in 0..64 {
        queued.push(api.ingest_accepted(&path, &[], format!("[{n}]")).await);
    }
    let soon = hookrelay_shared::time::format(
        &(hookrelay_shared::time::now() + chrono::Duration::seconds(2)),
    );
    let mut delayed = Vec::new();
    for n in 0..16 {
        delayed.push(
            api.ingest_accepted(&path, &[("x-deliver-at", soon.as_str())], format!("[{n}]"))
                .await,
        );
    }
    api.stop().await;
    let lengths = stream_lengths(&env, 32).await;
    assert!(
        lengths[4..].iter().sum::<u64>() > 0,
        "nothing waited beyond partition 4: {lengths:?}"
    );

    // Restarted with 4 partitions: every webhook above is delivered, once.
    env.set("QUEUE_PARTITIONS", Some("4"));
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let mut after = Vec::new();
    for n in 0..16 {
        after.push(api.ingest_accepted(&path, &[], format!("[{n}]")).await);
    }
    for id in &after {
        assert!(
            matches!(hookrelay_shared::keys::partition_of(*id), Partition::Numbered(n) if n < 4),
            "{id} is outside the 4 partitions"
        );
    }
    let expected: HashSet<Uuid> = retrying
        .iter()
        .chain(&queued)
        .chain(&delayed)
        .chain(&after)
        .copied()
        .collect();
    let mut succeeded: HashMap<Uuid, usize> = HashMap::new();
    eventually(WAIT, "every webhook delivered", || {
        for got in receiver.drain() {
            let id: Uuid = got
                .header("webhook-id")
                .and_then(|id| id.parse().ok())
                .expect("a webhook id");
            *succeeded.entry(id).or_default() += 1;
        }
        let done = expected.iter().all(|id| succeeded.contains_key(id));
        async move { done.then_some(()) }
    })
    .await;
    for id in &expected {
        let rows = finished_deliveries(&env, *id, WAIT).await;
        assert_eq!(rows[0].status, "succeeded", "{id}");
    }
    // Each was sent once after the restart (the retried ones had their failed first
    // attempt before it).
    for id in &expected {
        assert_eq!(succeeded[id], 1, "{id} sent {} times", succeeded[id]);
    }
    eventually(WAIT, "the old partitions to drain", || {
        let env = &env;
        async move {
            let lengths = stream_lengths(env, 32).await;
            (lengths.iter().sum::<u64>() == 0).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn work_left_in_the_layout_before_partitions_is_delivered_and_reported() {
    let env = TestEnv::new().await;
    let mut receiver = Receiver::ok().await;
    let sub = insert_subscription(&env, &receiver.url, None, "s").await;
    let before = env.keys().partition(Partition::Unpartitioned);
    let mut redis = env.redis().await;
    // What an older version's ingest script wrote: an entry (with the subscription
    // version it stamped then) and its marker, and a delayed webhook now due.
    let queued_id = Uuid::now_v7();
    let delayed_id = Uuid::now_v7();
    let at = hookrelay_shared::time::now().timestamp_micros().to_string();
    let fields = |id: Uuid| {
        vec![
            ("kind", "webhook".to_owned()),
            ("id", id.to_string()),
            ("sub", sub.id.to_string()),
            ("evt", String::new()),
            ("at", at.clone()),
            ("body", "{\"old\": true}".to_owned()),
            ("ten", String::new()),
            ("skip", String::new()),
        ]
    };
    let mut xadd = redis::cmd("XADD");
    xadd.arg(before.stream()).arg("*").arg("ver").arg("");
    for (name, value) in fields(queued_id) {
        xadd.arg(name).arg(value);
    }
    xadd.query_async::<String>(&mut redis).await.expect("XADD");
    let mut hset = redis::cmd("HSET");
    hset.arg(before.delayed_entry(delayed_id));
    for (name, value) in fields(delayed_id) {
        hset.arg(name).arg(value);
    }
    hset.query_async::<()>(&mut redis).await.expect("HSET");
    redis::cmd("ZADD")
        .arg(before.delayed())
        .arg(0)
        .arg(delayed_id.to_string())
        .query_async::<()>(&mut redis)
        .await
        .expect("ZADD");
    for id in [queued_id, delayed_id] {
        redis::cmd("HSET")
            .arg(before.queued(id))
            .arg("sub")
            .arg(sub.id.to_string())
            .arg("at")
            .arg(&at)
            .arg("ten")
            .arg("")
            .arg("evt")
            .arg("")
            .query_async::<()>(&mut redis)
            .await
            .expect("HSET marker");
    }

    // Status finds the old markers before any worker ran.
    let api = env.spawn_api().await;
    assert_eq!(api.webhook_status(queued_id).await["status"], "queued");

    let _worker = spawn_worker(env.config()).await;
    let mut got = HashSet::new();
    while got.len() < 2 {
        let request = receiver.next(WAIT).await;
        got.insert(request.header("webhook-id").map(str::to_owned));
        assert_eq!(request.body, b"{\"old\": true}".as_slice());
    }
    for id in [queued_id, delayed_id] {
        assert!(got.contains(&Some(id.to_string())), "{id} not delivered");
        let rows = finished_deliveries(&env, id, WAIT).await;
        assert_eq!(rows[0].status, "succeeded");
    }
    let page = api.metrics_page().await;
    assert!(
        page.contains("partition=\"unpartitioned\""),
        "the old layout has its own depth series"
    );
}

#[tokio::test]
async fn replicas_that_do_not_acknowledge_in_time_make_ingest_answer_503() {
    let mut env = TestEnv::new().await;
    // The test Redis has no replicas: WAIT runs out.
    env.set("REDIS_WAIT_REPLICAS", Some("1"))
        .set("REDIS_WAIT_TIMEOUT", Some("200ms"));
    let api = env.spawn_api().await;
    let started = std::time::Instant::now();
    let (status, body) = api
        .ingest_at("/ingest", &[], json!({"n": 1}).to_string())
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "answered before REDIS_WAIT_TIMEOUT"
    );
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("Retry")),
        "{body}"
    );
}
