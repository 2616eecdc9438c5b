//! Per-subscription rate limits (`rate_limit`: at most that many attempts started per
//! second, all workers together). A limited subscription's attempts are paced by one
//! limiter in Redis however many workers send them; while they wait they hold neither a
//! permit nor an entry slot, so other subscriptions' deliveries go on at full speed; and
//! a wait is neither an attempt nor a failure. Through the real api.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use deadpool_redis::redis::AsyncCommands as _;
use hookrelay_domain::webhooks::attempt::Outcome;
use hookrelay_tests::receiver::Received;
use hookrelay_tests::worker::{attempts, finished_deliveries, pending_by_consumer, spawn_worker};
use hookrelay_tests::{Receiver, Reply, TestApi, TestEnv, eventually};
use serde_json::json;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);

/// Starts measured at the receiver may come closer together than the limiter spaced them
/// by this much (the time from passing the limiter to the request arriving varies).
const SLACK: Duration = Duration::from_millis(100);

fn uuid(value: &serde_json::Value) -> Uuid {
    value.as_str().expect("a string").parse().expect("a UUID")
}

/// Ingests `{}` by fan-out with `event_type`; returns the webhook id.
async fn ingest_event(api: &TestApi, event_type: &str) -> Uuid {
    api.ingest_accepted("/ingest", &[("x-event-type", event_type)], "{}")
        .await
}

/// Ingests `{}` for one subscription; returns the webhook id.
async fn ingest_for(api: &TestApi, subscription_id: Uuid) -> Uuid {
    api.ingest_accepted(&format!("/ingest/{subscription_id}"), &[], "{}")
        .await
}

/// The gaps between consecutive arrivals, in arrival order.
fn gaps(arrivals: &[Received]) -> Vec<Duration> {
    let mut at: Vec<_> = arrivals.iter().map(|r| r.at).collect();
    at.sort();
    at.windows(2)
        .map(|pair| (pair[1] - pair[0]).to_std().unwrap_or_default())
        .collect()
}

/// Asserts that each of `webhooks` reached `subscription_id` in exactly one attempt, and
/// succeeded: the waits left no attempt rows and no failures behind.
async fn assert_one_attempt_each(env: &TestEnv, webhooks: &[Uuid], subscription_id: Uuid) {
    for &webhook_id in webhooks {
        let rows = finished_deliveries(env, webhook_id, WAIT).await;
        for row in &rows {
            assert_eq!(
                (row.status.as_str(), row.attempts),
                ("succeeded", 1),
                "webhook {webhook_id}: {row:?}"
            );
        }
        let made: Vec<_> = attempts(env, webhook_id)
            .await
            .into_iter()
            .filter(|a| a.subscription_id == subscription_id)
            .collect();
        assert_eq!(made.len(), 1, "webhook {webhook_id}: attempts {made:?}");
        assert_eq!(made[0].outcome, Outcome::Success.as_str(), "{made:?}");
    }
}

#[tokio::test]
async fn a_limited_subscription_is_paced_without_holding_up_the_others() {
    const LIMITED: usize = 5;
    const OTHERS: usize = 200;
    let mut env = TestEnv::new().await;
    // Two permits and four entry slots: had the limited subscription's attempts waited
    // holding either, the other subscription's webhooks would have queued behind them.
    env.set("WORKER_CONCURRENCY", Some("2"))
        .set("METRICS_ADDR", Some("127.0.0.1:0"));
    let mut limited = Receiver::ok().await;
    let mut unlimited = Receiver::ok().await;
    let api = env.spawn_api().await;
    let worker = spawn_worker(env.config()).await;
    let paced = api
        .create_subscription(
            &json!({"target_url": limited.url, "events": ["paced.*"], "rate_limit": 1}),
        )
        .await;
    assert_eq!(paced["rate_limit"], 1, "{paced}");
    let paced_id = uuid(&paced["id"]);
    // Every event type: it gets the limited subscription's webhooks too (one fan-out with
    // a limited and an unlimited recipient), and the others.
    let other_id = uuid(
        &api.create_subscription(&json!({"target_url": unlimited.url}))
            .await["id"],
    );

    let mut paced_webhooks = Vec::new();
    let mut all_webhooks = Vec::new();
    for n in 0..OTHERS {
        let id = if n % (OTHERS / LIMITED) == 0 {
            let id = ingest_event(&api, "paced.order").await;
            paced_webhooks.push(id);
            id
        } else {
            ingest_event(&api, "bulk.order").await
        };
        all_webhooks.push(id);
    }

    let mut unlimited_seen = 0;
    let mut limited_seen: Vec<Received> = Vec::new();
    let limited_meanwhile = eventually(WAIT, "the unlimited subscription's 200 deliveries", || {
        unlimited_seen += unlimited.drain().len();
        limited_seen.extend(limited.drain());
        std::future::ready((unlimited_seen >= OTHERS).then_some(limited_seen.len()))
    })
    .await;
    assert!(
        limited_meanwhile <= 3,
        "the other subscription's {OTHERS} deliveries took as long as {limited_meanwhile} \
         of the limited one's {LIMITED}, one a second"
    );

    eventually(WAIT, "the limited subscription's 5 deliveries", || {
        limited_seen.extend(limited.drain());
        std::future::ready((limited_seen.len() >= LIMITED).then_some(()))
    })
    .await;
    let gaps = gaps(&limited_seen);
    assert!(
        gaps.iter()
            .all(|gap| *gap >= Duration::from_secs(1) - SLACK),
        "1/s, yet these started closer together: {gaps:?}"
    );

    eprintln!(
        "limited deliveries while the {OTHERS} others arrived: {limited_meanwhile}; gaps {gaps:?}"
    );
    assert_one_attempt_each(&env, &paced_webhooks, paced_id).await;
    assert_one_attempt_each(&env, &all_webhooks, other_id).await;
    assert_eq!(limited_seen.len() + limited.drain().len(), LIMITED);
    assert_eq!(unlimited_seen + unlimited.drain().len(), OTHERS);

    // Each wait was counted (the first one went at once, so at least four).
    let addr = worker.metrics_addr.expect("metrics are served");
    let page = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("a page");
    let throttled: f64 = page
        .lines()
        .find_map(|line| line.strip_prefix("hookrelay_throttled_total "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no hookrelay_throttled_total in\n{page}"));
    assert!(throttled >= (LIMITED - 1) as f64, "throttled {throttled}");

    // With nothing left to pace, the limiter's key expires by itself.
    let key = env.keys().throttle(paced_id);
    let redis = env.redis().await;
    eventually(Duration::from_secs(3), "the throttle key to expire", || {
        let (mut redis, key) = (redis.clone(), key.clone());
        async move {
            let exists: bool = redis.exists(&key).await.expect("EXISTS");
            (!exists).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn the_limit_holds_across_workers() {
    const WEBHOOKS: usize = 12;
    let env = TestEnv::new().await;
    // Each request takes a while, so the worker sending it is seen holding its entry.
    let mut receiver =
        Receiver::start(|_, _| Reply::status(204).delayed(Duration::from_millis(200))).await;
    let api = env.spawn_api().await;
    let _first = spawn_worker(env.config()).await;
    let _second = spawn_worker(env.config()).await;
    let sub = api
        .create_subscription(&json!({"target_url": receiver.url, "rate_limit": 2}))
        .await;
    let sub_id = uuid(&sub["id"]);
    let mut webhooks = Vec::new();
    for _ in 0..WEBHOOKS {
        webhooks.push(ingest_for(&api, sub_id).await);
    }

    let mut seen: Vec<Received> = Vec::new();
    let holders = RefCell::new(BTreeSet::new());
    eventually(WAIT, "12 deliveries", || {
        seen.extend(receiver.drain());
        let done = seen.len() >= WEBHOOKS;
        let (env, holders) = (&env, &holders);
        async move {
            for (consumer, pending) in pending_by_consumer(env).await {
                if pending > 0 {
                    holders.borrow_mut().insert(consumer);
                }
            }
            done.then_some(())
        }
    })
    .await;
    assert_eq!(
        holders.borrow().len(),
        2,
        "both workers sent attempts: {holders:?}"
    );
    // 2/s: never two within half a second of each other (the limiter spaces them at least
    // 0.45 s), and never three within a second.
    let gaps = gaps(&seen);
    assert!(
        gaps.iter()
            .all(|gap| *gap >= Duration::from_millis(450) - SLACK),
        "2/s, yet two started this close: {gaps:?}"
    );
    assert!(
        gaps.windows(2)
            .all(|pair| pair[0] + pair[1] >= Duration::from_secs(1) - SLACK),
        "2/s, yet three started within a second: {gaps:?}"
    );
    eprintln!("two workers at 2/s: gaps {gaps:?}");
    assert_one_attempt_each(&env, &webhooks, sub_id).await;
    assert_eq!(seen.len() + receiver.drain().len(), WEBHOOKS);
}
