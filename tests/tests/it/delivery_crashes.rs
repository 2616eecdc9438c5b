//! Nothing accepted is lost (CONTRACT §5): a worker killed with SIGKILL mid-delivery, a
//! SIGTERM drain, several workers sharing the stream, and a consumer group that Redis
//! lost. Process tests run the real binary (`cargo build --workspace --bins` first).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use hookrelay_tests::worker::{
    WorkerProcess, attempts, enqueue, finished_deliveries, insert_subscription, spawn_worker,
};
use hookrelay_tests::{Receiver, Reply, TestEnv};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

/// Receives until every id in `expected` has arrived; returns how often each arrived.
async fn collect(
    receiver: &mut Receiver,
    expected: &BTreeSet<String>,
    counts: &mut BTreeMap<String, usize>,
) {
    while !expected.iter().all(|id| counts.contains_key(id)) {
        let got = receiver.next(WAIT).await;
        let id = got.header("webhook-id").expect("a webhook-id").to_owned();
        *counts.entry(id).or_default() += 1;
    }
}

#[tokio::test]
async fn a_worker_killed_mid_delivery_loses_nothing() {
    let env = TestEnv::new().await; // DELIVERY_TIMEOUT=2s, RECLAIM_IDLE=3s
    // The first requests are held, so the worker dies with deliveries in flight.
    let mut receiver = Receiver::start(|n, _| {
        let reply = Reply::status(204);
        if n < 10 {
            reply.delayed(Duration::from_millis(1500))
        } else {
            reply
        }
    })
    .await;
    let sub = insert_subscription(&env, &receiver.url, None, "s").await;
    let mut doomed = WorkerProcess::spawn(&env);
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(
            enqueue(
                &env,
                Some(sub.id),
                Some("crash.test"),
                format!("{{\"n\":{n}}}").as_bytes(),
            )
            .await,
        );
    }
    let mut counts = BTreeMap::new();
    for _ in 0..5 {
        let got = receiver.next(WAIT).await;
        *counts
            .entry(got.header("webhook-id").expect("id").to_owned())
            .or_default() += 1;
    }
    doomed.kill().await;

    let _successor = WorkerProcess::spawn(&env);
    let expected: BTreeSet<String> = ids.iter().map(Uuid::to_string).collect();
    collect(&mut receiver, &expected, &mut counts).await;
    assert_eq!(counts.len(), ids.len(), "every webhook arrived");
    for id in &ids {
        let rows = finished_deliveries(&env, *id, WAIT).await;
        assert_eq!(rows[0].status, "succeeded", "webhook {id}");
    }
}

#[tokio::test]
async fn sigterm_finishes_the_delivery_in_flight_and_exits_zero() {
    let env = TestEnv::new().await; // DELIVERY_TIMEOUT=2s
    let mut receiver =
        Receiver::start(|_, _| Reply::status(204).delayed(Duration::from_millis(1000))).await;
    let sub = insert_subscription(&env, &receiver.url, None, "s").await;
    let mut worker = WorkerProcess::spawn(&env);
    let webhook_id = enqueue(&env, Some(sub.id), None, b"{}").await;
    receiver.next(WAIT).await;

    let status = worker.terminate(Duration::from_secs(2 + 5)).await;
    assert!(status.success(), "exit status {status:?}");
    // The attempt in flight finished and was recorded before the exit.
    let rows = hookrelay_tests::worker::deliveries(&env, webhook_id).await;
    assert_eq!(rows[0].status, "succeeded");
    assert_eq!(attempts(&env, webhook_id).await.len(), 1);
}

#[tokio::test]
async fn two_workers_make_one_delivery_of_each_webhook() {
    let env = TestEnv::new().await;
    let mut receiver = Receiver::ok().await;
    let sub = insert_subscription(&env, &receiver.url, None, "s").await;
    let first = spawn_worker(env.config()).await;
    let second = spawn_worker(env.config()).await;
    let mut ids = Vec::new();
    for n in 0..60 {
        ids.push(enqueue(&env, Some(sub.id), None, format!("[{n}]").as_bytes()).await);
    }
    let expected: BTreeSet<String> = ids.iter().map(Uuid::to_string).collect();
    let mut counts = BTreeMap::new();
    collect(&mut receiver, &expected, &mut counts).await;
    for id in &ids {
        finished_deliveries(&env, *id, WAIT).await;
        assert_eq!(attempts(&env, *id).await.len(), 1, "webhook {id}");
    }
    first.stop().await;
    second.stop().await;
    counts.extend(
        receiver
            .drain()
            .into_iter()
            .map(|r| (r.header("webhook-id").unwrap_or_default().to_owned(), 2)),
    );
    assert!(counts.values().all(|n| *n == 1), "duplicates: {counts:?}");
}

#[tokio::test]
async fn a_lost_consumer_group_is_recreated_and_delivery_continues() {
    let env = TestEnv::new().await;
    let mut receiver = Receiver::ok().await;
    let sub = insert_subscription(&env, &receiver.url, None, "s").await;
    let _worker = spawn_worker(env.config()).await;
    let before = enqueue(&env, Some(sub.id), None, b"{}").await;
    assert_eq!(
        receiver.next(WAIT).await.header("webhook-id"),
        Some(before.to_string().as_str())
    );
    finished_deliveries(&env, before, WAIT).await;

    // As after a Redis restart without persistence: the streams and their groups are gone.
    let keys = env.keys();
    let streams: Vec<String> = keys
        .active()
        .map(|partition| keys.partition(partition).stream())
        .collect();
    let mut redis = env.redis().await;
    deadpool_redis::redis::cmd("DEL")
        .arg(&streams)
        .query_async::<()>(&mut redis)
        .await
        .expect("DEL the streams");
    let after = enqueue(&env, Some(sub.id), None, b"{}").await;
    assert_eq!(
        receiver.next(WAIT).await.header("webhook-id"),
        Some(after.to_string().as_str())
    );
    let rows = finished_deliveries(&env, after, WAIT).await;
    assert_eq!(rows[0].status, "succeeded");

    // A group can also vanish on its own (XGROUP DESTROY); same repair.
    for stream in &streams {
        deadpool_redis::redis::cmd("XGROUP")
            .arg("DESTROY")
            .arg(stream)
            .arg(hookrelay_shared::keys::CONSUMER_GROUP)
            .query_async::<()>(&mut redis)
            .await
            .expect("XGROUP DESTROY");
    }
    let last = enqueue(&env, Some(sub.id), None, b"{}").await;
    assert_eq!(
        receiver.next(WAIT).await.header("webhook-id"),
        Some(last.to_string().as_str())
    );
}
