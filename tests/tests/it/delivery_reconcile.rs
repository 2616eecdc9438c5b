//! The reconciler (CONTRACT §14): deliveries Postgres records as unfinished whose work
//! Redis lost (every key of the deployment deleted, as a Redis restart without persistence
//! leaves it) are queued again within `RECONCILE_AFTER` and end `succeeded`; a retry that
//! Redis still holds, in flight past its due time, is not sent twice.

use std::collections::HashMap;
use std::time::Duration;

use deadpool_redis::redis;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use hookrelay_shared::schema::deliveries as deliveries_table;
use hookrelay_tests::receiver::fail_first_attempts;
use hookrelay_tests::worker::{
    attempts, deliveries, enqueue, finished_deliveries, insert_subscription, spawn_worker,
};
use hookrelay_tests::{Receiver, Reply, TestEnv, eventually};

const WAIT: Duration = Duration::from_secs(20);

/// What Redis keeps after a restart without persistence: nothing. Only this test's keys
/// go (other tests share the server).
async fn lose_every_key(env: &TestEnv) {
    let mut redis = env.redis().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(env.keys().pattern())
        .query_async(&mut redis)
        .await
        .expect("list the test's keys");
    assert!(!keys.is_empty(), "the worker wrote no keys");
    redis::cmd("DEL")
        .arg(keys)
        .query_async::<()>(&mut redis)
        .await
        .expect("delete the test's keys");
}

/// Retries waiting in every partition's schedule.
async fn scheduled_retries(env: &TestEnv) -> u64 {
    let keys = env.keys();
    let mut redis = env.redis().await;
    let mut total = 0;
    for partition in keys.active() {
        total += redis::cmd("ZCARD")
            .arg(keys.partition(partition).retry_schedule())
            .query_async::<u64>(&mut redis)
            .await
            .expect("ZCARD a retry schedule");
    }
    total
}

#[tokio::test]
async fn retries_redis_lost_are_queued_again_within_reconcile_after_and_delivered() {
    let mut env = TestEnv::new().await;
    env.set("RECONCILE_AFTER", Some("1s"))
        .set("RETRY_SCHEDULE", Some("2s,2s"));
    let receiver = Receiver::start(fail_first_attempts()).await;
    let sub = insert_subscription(&env, &receiver.url, None, "s").await;
    let _worker = spawn_worker(env.config()).await;
    let mut webhooks = Vec::new();
    for n in 0..3 {
        webhooks.push(
            enqueue(
                &env,
                Some(sub.id),
                None,
                format!("{{\"n\":{n}}}").as_bytes(),
            )
            .await,
        );
    }
    // Every delivery failed once and waits in the retry schedule...
    eventually(WAIT, "three retries scheduled", || async {
        (scheduled_retries(&env).await == 3).then_some(())
    })
    .await;
    // ...when Redis forgets everything.
    lose_every_key(&env).await;

    for webhook_id in webhooks {
        let rows = finished_deliveries(&env, webhook_id, WAIT).await;
        assert_eq!(
            (rows[0].status.as_str(), rows[0].attempts),
            ("succeeded", 2),
            "{webhook_id}"
        );
        let made = attempts(&env, webhook_id).await;
        let outcomes: Vec<_> = made
            .iter()
            .map(|a| (a.attempt_number, a.outcome.as_str()))
            .collect();
        assert_eq!(outcomes, [(1, "Failed Attempt"), (2, "Success")]);
        // Queued again no earlier than due, and within RECONCILE_AFTER (1s) of it, give or
        // take a loaded test machine.
        let due = made[0].next_retry_at.expect("a scheduled retry");
        let late = (made[1].timestamp - due).num_milliseconds();
        assert!(
            (0..2_000).contains(&late),
            "attempt 2 started {late} ms after its due time"
        );
    }
}

#[tokio::test]
async fn pending_deliveries_whose_webhook_entries_redis_lost_are_delivered_once() {
    let mut env = TestEnv::new().await;
    env.set("RECONCILE_AFTER", Some("1s"));
    let mut receivers = [Receiver::ok().await, Receiver::ok().await];
    for receiver in &receivers {
        insert_subscription(&env, &receiver.url, None, "s").await;
    }
    // What a worker stored from 600 webhook entries, a minute ago, before Redis lost them:
    // 1,200 pending deliveries, more than two batches of the reconciler.
    let webhooks = 600;
    env.db.execute_sql(&format!(
        "INSERT INTO webhooks SELECT gen_random_uuid(), NULL, NULL, '{{}}'::bytea, now() - interval '1 minute' \
         FROM generate_series(1, {webhooks});
         INSERT INTO deliveries (webhook_id, subscription_id, target_url, status, attempts, updated_at, received_at) \
         SELECT w.id, s.id, s.target_url, 'pending', 0, now() - interval '1 minute', w.received_at \
         FROM webhooks w CROSS JOIN subscriptions s;"
    ))
    .await;

    let _worker = spawn_worker(env.config()).await;
    for receiver in &mut receivers {
        let mut seen = HashMap::<String, usize>::new();
        while seen.len() < webhooks {
            let got = receiver.next(WAIT).await;
            *seen
                .entry(got.header("webhook-id").unwrap_or_default().to_owned())
                .or_default() += 1;
        }
        assert!(seen.values().all(|n| *n == 1), "a delivery was sent twice");
    }
    eventually(
        WAIT,
        "every delivery recorded as succeeded at its first attempt",
        || async {
            let mut conn = env.db.pool().get().await.ok()?;
            let other: i64 = deliveries_table::table
                .filter(
                    deliveries_table::status
                        .ne("succeeded")
                        .or(deliveries_table::attempts.ne(1)),
                )
                .count()
                .get_result(&mut conn)
                .await
                .ok()?;
            (other == 0).then_some(())
        },
    )
    .await;
    for receiver in &mut receivers {
        receiver
            .assert_quiet_for(
                Duration::from_secs(1),
                "a delivery was sent again after it succeeded",
            )
            .await;
    }
}

#[tokio::test]
async fn a_retry_in_flight_past_its_due_time_is_not_sent_twice() {
    let mut env = TestEnv::new().await;
    env.set("RECONCILE_AFTER", Some("1s"))
        .set("RETRY_SCHEDULE", Some("200ms"))
        .set("DELIVERY_TIMEOUT", Some("6s"))
        .set("RECLAIM_IDLE", Some("15s"))
        .set("METRICS_ADDR", Some("127.0.0.1:0"));
    // The retry takes 3 s to answer: overdue three times RECONCILE_AFTER while in flight.
    let mut receiver = Receiver::start(|n, _| match n {
        0 => Reply::status(503),
        _ => Reply::status(204).delayed(Duration::from_secs(3)),
    })
    .await;
    let sub = insert_subscription(&env, &receiver.url, None, "s").await;
    let worker = spawn_worker(env.config()).await;
    let metrics = format!("http://{}/metrics", worker.metrics_addr.expect("metrics"));
    let passes = || async {
        let page = reqwest::get(&metrics).await.ok()?.text().await.ok()?;
        page.lines()
            .find_map(|l| l.strip_prefix("hookrelay_reconcile_runs_total{result=\"reconciled\"} "))?
            .parse::<f64>()
            .ok()
    };
    let webhook_id = enqueue(&env, Some(sub.id), None, b"{}").await;
    receiver.next(WAIT).await;
    receiver.next(WAIT).await;
    let before = passes().await.expect("the pass counter");

    let rows = finished_deliveries(&env, webhook_id, WAIT).await;
    assert_eq!(
        (rows[0].status.as_str(), rows[0].attempts),
        ("succeeded", 2)
    );
    let after = passes().await.expect("the pass counter");
    assert!(
        after - before >= 2.0,
        "the reconciler ran {} passes while the retry was in flight",
        after - before
    );
    receiver
        .assert_quiet_for(Duration::from_secs(1), "the retry was sent twice")
        .await;
    assert_eq!(attempts(&env, webhook_id).await.len(), 2);
    assert_eq!(deliveries(&env, webhook_id).await.len(), 1);
}
