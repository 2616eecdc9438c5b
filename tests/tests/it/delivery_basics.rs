//! Delivery end to end (CONTRACT §5): what a receiver gets, who gets it, and what is
//! recorded — against a real worker, Postgres, Redis and HTTP receiver.

use std::collections::BTreeSet;
use std::time::Duration;

use hookrelay_shared::signing;
use hookrelay_tests::worker::{
    attempts, deliveries, enqueue, finished_deliveries, insert_subscription, set_active,
    spawn_worker,
};
use hookrelay_tests::{Receiver, TestEnv, eventually};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn delivery_is_signed_over_the_exact_bytes_and_verifies_with_standard_webhooks() {
    let env = TestEnv::new().await;
    let mut receiver = Receiver::ok().await;
    let secret = signing::generate_secret();
    let sub = insert_subscription(&env, &receiver.url, Some(&["nothing.*"]), &secret).await;
    let plain = insert_subscription(&env, &receiver.url, None, "a plain secret").await;
    let _worker = spawn_worker(env.config()).await;

    // Odd spacing, key order and non-ASCII: any re-serialisation would change them.
    let body = "{ \"b\": 1,\n  \"a\": [\"é\", 1.50] }".as_bytes();
    let webhook_id = enqueue(&env, Some(sub.id), Some("order.created"), body).await;
    let got = receiver.next(WAIT).await;

    assert_eq!(got.method, "POST");
    assert_eq!(got.body.as_ref(), body);
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(
        got.header("webhook-id"),
        Some(webhook_id.to_string().as_str())
    );
    assert_eq!(got.header("x-event-type"), Some("order.created"));
    assert_eq!(
        got.header("user-agent"),
        Some(format!("hookrelay/{}", hookrelay_shared::VERSION).as_str())
    );
    let sent_at: i64 = got
        .header("webhook-timestamp")
        .expect("a timestamp")
        .parse()
        .expect("unix seconds");
    assert!(
        (sent_at - chrono::Utc::now().timestamp()).abs() <= 5,
        "timestamp {sent_at} is not now"
    );
    standardwebhooks::Webhook::new(&secret)
        .expect("a whsec_ secret")
        .verify(&got.body, &got.header_map())
        .expect("the independent verifier accepts the delivery");

    // A secret without the whsec_ prefix signs with its UTF-8 bytes; no event type, no header.
    let second = enqueue(&env, Some(plain.id), None, b"[]").await;
    let got = receiver.next(WAIT).await;
    assert_eq!(got.header("webhook-id"), Some(second.to_string().as_str()));
    assert_eq!(got.header("x-event-type"), None);
    standardwebhooks::Webhook::from_bytes(b"a plain secret".to_vec())
        .expect("a raw secret")
        .verify(&got.body, &got.header_map())
        .expect("the independent verifier accepts the delivery");

    // Recorded: one successful attempt, the delivery succeeded, the queued marker gone.
    let rows = finished_deliveries(&env, webhook_id, WAIT).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].status.as_str(),
            rows[0].attempts,
            rows[0].last_status_code
        ),
        ("succeeded", 1, Some(204))
    );
    let attempts = attempts(&env, webhook_id).await;
    assert_eq!(attempts.len(), 1);
    let attempt = &attempts[0];
    assert_eq!(
        (
            attempt.outcome.as_str(),
            attempt.attempt_number,
            attempt.status_code
        ),
        ("Success", 1, Some(204))
    );
    assert_eq!(attempt.target_url, receiver.url);
    assert_eq!(
        (attempt.error.as_deref(), attempt.next_retry_at),
        (None, None)
    );
    assert_eq!(attempt.response_body.as_deref(), Some(""));
    let mut redis = env.redis().await;
    let marker: i64 = deadpool_redis::redis::cmd("EXISTS")
        .arg(env.keys().origin(webhook_id).queued(webhook_id))
        .query_async(&mut redis)
        .await
        .expect("EXISTS");
    assert_eq!(
        marker, 0,
        "the queued marker is deleted once the webhook is stored"
    );
}

#[tokio::test]
async fn fan_out_delivery_reaches_only_active_subscriptions_whose_filter_matches() {
    let env = TestEnv::new().await;
    let mut receiver = Receiver::ok().await;
    let url = |name: &str| format!("{}/{name}", receiver.url);
    let prefix = insert_subscription(&env, &url("prefix"), Some(&["order.*"]), "s").await;
    insert_subscription(&env, &url("other"), Some(&["user.created"]), "s").await;
    let all = insert_subscription(&env, &url("all"), None, "s").await;
    let empty = insert_subscription(&env, &url("empty"), Some(&[]), "s").await;
    let star = insert_subscription(&env, &url("star"), Some(&["user.*", "*"]), "s").await;
    let exact = insert_subscription(&env, &url("exact"), Some(&["order.created"]), "s").await;
    let paused = insert_subscription(&env, &url("paused"), Some(&["order.created"]), "s").await;
    set_active(&env, paused.id, false).await;
    let _worker = spawn_worker(env.config()).await;

    let typed = enqueue(&env, None, Some("order.created"), b"{}").await;
    let expected: BTreeSet<_> = [prefix.id, all.id, empty.id, star.id, exact.id].into();
    let rows = finished_deliveries(&env, typed, WAIT).await;
    assert_eq!(
        rows.iter()
            .map(|d| d.subscription_id)
            .collect::<BTreeSet<_>>(),
        expected
    );
    let mut paths = BTreeSet::new();
    for _ in 0..expected.len() {
        paths.insert(receiver.next(WAIT).await.path);
    }
    let expected_paths: BTreeSet<_> = [
        "/hook/prefix",
        "/hook/all",
        "/hook/empty",
        "/hook/star",
        "/hook/exact",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(paths, expected_paths);

    // Without an event type only match-all filters match.
    let untyped = enqueue(&env, None, None, b"{}").await;
    let rows = finished_deliveries(&env, untyped, WAIT).await;
    let expected: BTreeSet<_> = [all.id, empty.id, star.id].into();
    assert_eq!(
        rows.iter()
            .map(|d| d.subscription_id)
            .collect::<BTreeSet<_>>(),
        expected
    );

    // A targeted webhook ignores the filter (and the subscription's other events).
    let targeted = enqueue(&env, Some(exact.id), Some("user.deleted"), b"{}").await;
    let rows = finished_deliveries(&env, targeted, WAIT).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].subscription_id, rows[0].status.as_str()),
        (exact.id, "succeeded")
    );
}

#[tokio::test]
async fn a_webhook_nobody_subscribed_to_is_stored_without_a_delivery() {
    let env = TestEnv::new().await;
    let mut env_metrics = env.config();
    env_metrics.telemetry.metrics_addr = Some("127.0.0.1:0".parse().expect("an address"));
    let worker = spawn_worker(env_metrics).await;
    let webhook_id = enqueue(&env, None, Some("lonely.event"), b"{\"x\":1}").await;

    let redis = env.redis().await;
    eventually(WAIT, "the queued marker to go", || {
        let (key, mut redis) = (
            env.keys().origin(webhook_id).queued(webhook_id),
            redis.clone(),
        );
        async move {
            let exists: i64 = deadpool_redis::redis::cmd("EXISTS")
                .arg(key)
                .query_async(&mut redis)
                .await
                .ok()?;
            (exists == 0).then_some(())
        }
    })
    .await;
    assert!(deliveries(&env, webhook_id).await.is_empty());
    let mut conn = env.db.pool().get().await.expect("a connection");
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use hookrelay_shared::schema::webhooks;
    let payload: Vec<u8> = webhooks::table
        .find(webhook_id)
        .select(webhooks::payload)
        .first(&mut conn)
        .await
        .expect("the webhook row");
    assert_eq!(payload, b"{\"x\":1}");

    // The worker's own endpoints.
    let addr = worker.metrics_addr.expect("metrics are served");
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .expect("GET /healthz");
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<serde_json::Value>().await.expect("JSON"),
        serde_json::json!({"status": "ok"})
    );
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("GET /metrics");
    assert_eq!(metrics.status(), 200);
    eventually(WAIT, "queue depth gauges", || async move {
        let text = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("hookrelay_queue_depth").then_some(())
    })
    .await;
    worker.stop().await;
}

#[tokio::test]
async fn worker_concurrency_caps_the_delivery_attempts_in_flight() {
    let mut env = TestEnv::new().await;
    env.set("WORKER_CONCURRENCY", Some("2"));
    let hold = Duration::from_millis(400);
    let mut receiver =
        Receiver::start(move |_, _| hookrelay_tests::Reply::status(204).delayed(hold)).await;
    let sub = insert_subscription(&env, &receiver.url, None, "s").await;
    let _worker = spawn_worker(env.config()).await;
    for n in 0..6 {
        enqueue(&env, Some(sub.id), None, format!("[{n}]").as_bytes()).await;
    }
    let mut arrivals = Vec::new();
    for _ in 0..6 {
        arrivals.push(receiver.next(WAIT).await.at);
    }
    // With two permits, the third request can only start once the first has been answered.
    for i in 2..arrivals.len() {
        let gap = arrivals[i] - arrivals[i - 2];
        assert!(
            gap >= chrono::TimeDelta::milliseconds(390),
            "request {i} came {gap} after request {}",
            i - 2
        );
    }
}
