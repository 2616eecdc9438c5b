//! Delayed ingest (`X-Deliver-At`, CONTRACT §10): a webhook held back until its time is
//! `scheduled` with its `deliver_at` until then, its first attempt starts within a second
//! after that time (never before), fan-out is resolved when it comes due, and it is
//! delivered exactly once — with the worker killed while it waits, or with two workers
//! racing to move it. Also the 422s, a past time, and a repeated `Idempotency-Key`. The
//! api runs in-process, the workers are the real binary (`cargo build --workspace --bins`
//! first).

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hookrelay_shared::time;
use hookrelay_tests::api::json;
use hookrelay_tests::metrics::total;
use hookrelay_tests::worker::{WorkerProcess, pending_by_consumer, stream_len};
use hookrelay_tests::{Receiver, TestApi, TestEnv, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// How far ahead the delayed webhooks of these tests are due.
const DELAY: TimeDelta = TimeDelta::seconds(3);

/// The contract's bound on when the first attempt starts, after `deliver_at`.
const PUNCTUALITY: TimeDelta = TimeDelta::seconds(1);

/// POSTs `body` to `path` with `headers`; the status, the JSON and whether the answer was
/// an idempotent replay.
async fn ingest(
    api: &TestApi,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value, bool) {
    let response = api.send_ingest(path, headers, body.to_owned()).await;
    let replayed = response.headers().contains_key("idempotent-replayed");
    let (status, body) = json(response).await;
    (status, body, replayed)
}

/// Ingests `{"n": 1}` and asserts 202; the webhook id.
async fn accepted(api: &TestApi, path: &str, headers: &[(&str, &str)]) -> String {
    api.ingest_accepted(path, headers, "{\"n\": 1}")
        .await
        .to_string()
}

/// Waits for the status to be `wanted`; returns it.
async fn status_becomes(api: &TestApi, webhook_id: &str, wanted: &str) -> Value {
    eventually(WAIT, &format!("{webhook_id} to be {wanted}"), || async {
        let body = api.webhook_status(webhook_id).await;
        (body["status"] == wanted).then_some(body)
    })
    .await
}

fn parse_time(value: &Value) -> DateTime<Utc> {
    time::parse(
        value
            .as_str()
            .unwrap_or_else(|| panic!("a timestamp: {value}")),
    )
    .expect("RFC 3339")
}

/// A time `DELAY` from now, as the header carries it (six digits and `Z`, so the status
/// must echo it exactly).
fn soon() -> String {
    time::format(&(time::now() + DELAY))
}

/// One test's service: the api, a real worker whose mover is known to run, a receiver
/// and a subscription to it. Fields drop in order, the worker first.
struct World {
    worker: WorkerProcess,
    api: TestApi,
    receiver: Receiver,
    subscription: Value,
    /// `/ingest/{subscription_id}` of that subscription.
    targeted: String,
    env: TestEnv,
}

impl World {
    /// Starts everything with a subscription of `events`, then delivers a warm-up webhook
    /// and waits until it is acknowledged: the worker's mover is then running, and killing
    /// the worker later cannot bring the warm-up back.
    async fn start(events: Value) -> Self {
        let env = TestEnv::new().await;
        let api = env.spawn_api().await;
        let mut receiver = Receiver::ok().await;
        let subscription = api
            .create_subscription(&json!({"target_url": receiver.url, "events": events}))
            .await;
        let worker = WorkerProcess::spawn(&env);
        let targeted = format!("/ingest/{}", subscription["id"].as_str().expect("an id"));
        let warm_up = accepted(&api, &targeted, &[]).await;
        let got = receiver.next(WAIT).await;
        assert_eq!(got.header("webhook-id"), Some(warm_up.as_str()));
        eventually(WAIT, "the warm-up entry to be acknowledged", || async {
            (stream_len(&env).await == 0).then_some(())
        })
        .await;
        Self {
            worker,
            api,
            receiver,
            subscription,
            targeted,
            env,
        }
    }
}

/// `hookrelay_queue_depth{queue="delayed"}` on the api's `/metrics`, over every partition.
async fn delayed_depth(api: &TestApi) -> Option<f64> {
    total(
        &api.metrics_page().await,
        "hookrelay_queue_depth",
        &[("queue", "delayed")],
    )
}

/// Asserts that nothing more arrives for a while (a second copy would come within the
/// mover's interval plus one delivery).
async fn nothing_more(receiver: &mut Receiver) {
    receiver
        .assert_quiet_for(Duration::from_millis(1500), "an unexpected delivery")
        .await;
}

/// The first attempt of a delivered webhook started within `PUNCTUALITY` after
/// `deliver_at`, not before.
fn assert_punctual(delivered: &Value, deliver_at: DateTime<Utc>) {
    let attempts = delivered["recent_attempts"]
        .as_array()
        .expect("recent_attempts");
    let first = attempts.last().expect("an attempt");
    let started = parse_time(&first["timestamp"]);
    assert!(
        started >= deliver_at && started - deliver_at <= PUNCTUALITY,
        "first attempt at {started}, deliver_at {deliver_at}"
    );
}

#[tokio::test]
async fn a_delayed_webhook_is_scheduled_until_its_time_then_delivered_within_a_second() {
    let mut world = World::start(Value::Null).await;
    let (api, receiver) = (&world.api, &mut world.receiver);

    let deliver_at = soon();
    let id = accepted(
        api,
        &world.targeted,
        &[("X-Deliver-At", &deliver_at), ("X-Event-Type", "order.due")],
    )
    .await;
    let waiting = api.webhook_status(&id).await;
    assert_eq!(waiting["status"], "scheduled", "{waiting}");
    assert_eq!(waiting["deliver_at"], deliver_at.as_str());
    assert_eq!(waiting["subscription_id"], world.subscription["id"]);
    assert_eq!(waiting["event_type"], "order.due");
    assert_eq!(waiting["deliveries"], json!([]));
    assert_eq!(delayed_depth(api).await, Some(1.0));
    receiver
        .assert_quiet_for(Duration::from_secs(1), "nothing is sent before its time")
        .await;

    let got = receiver.next(WAIT).await;
    assert_eq!(got.header("webhook-id"), Some(id.as_str()));
    assert_eq!(got.body.as_ref(), b"{\"n\": 1}");
    let deliver_at = parse_time(&json!(deliver_at));
    assert!(got.at >= deliver_at, "received at {}", got.at);
    let delivered = status_becomes(api, &id, "delivered").await;
    assert_eq!(delivered["deliver_at"], Value::Null, "{delivered}");
    assert_punctual(&delivered, deliver_at);
    assert_eq!(delayed_depth(api).await, Some(0.0));
    nothing_more(receiver).await;
}

#[tokio::test]
async fn a_delayed_fan_out_reaches_the_subscriptions_that_match_when_it_comes_due() {
    let mut world = World::start(json!(["order.*"])).await;
    let (api, receiver) = (&world.api, &mut world.receiver);

    let deliver_at = soon();
    let id = accepted(
        api,
        "/ingest",
        &[
            ("X-Deliver-At", &deliver_at),
            ("X-Event-Type", "order.created"),
        ],
    )
    .await;
    // Created after the ingest, before its time: fan-out is resolved when it is due.
    let late = api
        .create_subscription(
            &json!({"target_url": format!("{}/late", receiver.url), "events": ["order.created"]}),
        )
        .await;
    let other = api
        .create_subscription(&json!({"target_url": receiver.url, "events": ["user.*"]}))
        .await;
    let waiting = api.webhook_status(&id).await;
    assert_eq!(waiting["status"], "scheduled", "{waiting}");
    assert_eq!(waiting["subscription_id"], Value::Null);

    let mut paths = vec![
        receiver.next(WAIT).await.path,
        receiver.next(WAIT).await.path,
    ];
    paths.sort();
    assert!(paths[1].ends_with("/late"), "{paths:?}");
    let delivered = status_becomes(api, &id, "delivered").await;
    let reached: Vec<&Value> = delivered["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| &d["subscription_id"])
        .collect();
    assert_eq!(reached.len(), 2, "{delivered}");
    assert!(reached.contains(&&world.subscription["id"]) && reached.contains(&&late["id"]));
    assert!(!reached.contains(&&other["id"]));
    assert_punctual(&delivered, parse_time(&json!(deliver_at)));
    nothing_more(receiver).await;
}

#[tokio::test]
async fn a_past_deliver_at_means_now() {
    let mut world = World::start(Value::Null).await;
    let (api, receiver) = (&world.api, &mut world.receiver);

    let past = time::format(&(time::now() - TimeDelta::seconds(1)));
    for deliver_at in ["2000-01-01T00:00:00Z", "1999-12-31T19:00:00-05:00", &past] {
        let id = accepted(api, &world.targeted, &[("X-Deliver-At", deliver_at)]).await;
        let right_away = api.webhook_status(&id).await;
        assert_ne!(right_away["status"], "scheduled", "{right_away}");
        assert_eq!(right_away["deliver_at"], Value::Null);
        let got = receiver.next(Duration::from_secs(2)).await;
        assert_eq!(got.header("webhook-id"), Some(id.as_str()));
    }
    assert_eq!(delayed_depth(api).await, Some(0.0));
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_delayed_webhook_and_delivers_nothing_new() {
    let mut world = World::start(Value::Null).await;
    let (api, receiver, path) = (&world.api, &mut world.receiver, &world.targeted);

    let deliver_at = soon();
    let (code, first, replayed) = ingest(
        api,
        path,
        &[("X-Deliver-At", &deliver_at), ("Idempotency-Key", "once")],
        "{}",
    )
    .await;
    assert_eq!((code, replayed), (202, false), "{first}");
    // The repeat, however it differs (another time, none, the other route), is the first.
    let later = time::format(&(time::now() + TimeDelta::seconds(2)));
    for (path, headers) in [
        (
            path.as_str(),
            vec![
                ("X-Deliver-At", later.as_str()),
                ("Idempotency-Key", "once"),
            ],
        ),
        (path.as_str(), vec![("Idempotency-Key", "once")]),
        (
            "/ingest",
            vec![
                ("X-Deliver-At", later.as_str()),
                ("Idempotency-Key", "once"),
            ],
        ),
    ] {
        let (code, repeat, replayed) = ingest(api, path, &headers, "[1]").await;
        assert_eq!((code, replayed), (202, true), "{repeat}");
        assert_eq!(repeat["webhook_id"], first["webhook_id"]);
    }
    let id = first["webhook_id"].as_str().expect("an id");
    assert_eq!(delayed_depth(api).await, Some(1.0));
    assert_eq!(
        api.webhook_status(id).await["deliver_at"],
        deliver_at.as_str()
    );

    let got = receiver.next(WAIT).await;
    assert_eq!(got.header("webhook-id"), Some(id));
    assert_eq!(got.body.as_ref(), b"{}");
    status_becomes(api, id, "delivered").await;
    nothing_more(receiver).await;
}

#[tokio::test]
async fn a_deliver_at_that_is_not_rfc_3339_or_more_than_30_days_ahead_is_a_422() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let sub = api
        .create_subscription(&json!({"target_url": "http://127.0.0.1:9/"}))
        .await;
    let targeted = format!("/ingest/{}", sub["id"].as_str().expect("an id"));
    let too_far = time::format(&(time::now() + TimeDelta::days(30) + TimeDelta::minutes(1)));
    let just_in = time::format(&(time::now() + TimeDelta::days(30) - TimeDelta::minutes(1)));
    for bad in [
        "tomorrow",
        "2026-12-24",
        "2026-12-24T18:00:00",
        "2026-13-01T00:00:00Z",
        "1767225600",
        "",
        too_far.as_str(),
        "9999-12-31T23:59:59Z",
    ] {
        for path in ["/ingest", targeted.as_str()] {
            let (code, body, _) = ingest(&api, path, &[("X-Deliver-At", bad)], "{}").await;
            assert_eq!(code, 422, "{bad:?} on {path}: {body}");
            assert_eq!(
                body["detail"][0]["loc"],
                json!(["header", "x-deliver-at"]),
                "{body}"
            );
        }
    }
    // Reported with the other bad headers, and before the 404 of an unknown subscription.
    let unknown = format!("/ingest/{}", uuid::Uuid::new_v4());
    let (code, body, _) = ingest(
        &api,
        &unknown,
        &[("X-Deliver-At", "soon"), ("X-Event-Type", "has space")],
        "{}",
    )
    .await;
    assert_eq!(code, 422, "{body}");
    let locs: Vec<&Value> = body["detail"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| &e["loc"])
        .collect();
    assert_eq!(
        locs,
        [
            &json!(["header", "x-event-type"]),
            &json!(["header", "x-deliver-at"])
        ]
    );
    // Just under 30 days ahead is fine.
    let (code, body, _) = ingest(&api, &targeted, &[("X-Deliver-At", &just_in)], "{}").await;
    assert_eq!(code, 202, "{body}");
    let id = body["webhook_id"].as_str().expect("an id");
    assert_eq!(api.webhook_status(id).await["status"], "scheduled");
}

#[tokio::test]
async fn a_worker_killed_while_a_webhook_waits_loses_nothing() {
    let mut world = World::start(Value::Null).await;
    let (api, receiver) = (&world.api, &mut world.receiver);

    let deliver_at = soon();
    let id = accepted(api, &world.targeted, &[("X-Deliver-At", &deliver_at)]).await;
    world.worker.kill().await;
    // Its time passes with no worker at all: it waits, still scheduled, in Redis.
    let due = parse_time(&json!(deliver_at));
    eventually(WAIT, "the due time to pass", || async {
        (Utc::now() > due + TimeDelta::milliseconds(500)).then_some(())
    })
    .await;
    assert_eq!(api.webhook_status(&id).await["status"], "scheduled");
    receiver
        .assert_quiet_for(Duration::ZERO, "delivered while no worker ran")
        .await;

    let _successor = WorkerProcess::spawn(&world.env);
    let got = receiver.next(WAIT).await;
    assert_eq!(got.header("webhook-id"), Some(id.as_str()));
    status_becomes(api, &id, "delivered").await;
    nothing_more(receiver).await;
}

#[tokio::test]
async fn two_workers_deliver_each_delayed_webhook_exactly_once() {
    let mut world = World::start(Value::Null).await;
    let _second = WorkerProcess::spawn(&world.env);
    let (api, receiver, env) = (&world.api, &mut world.receiver, &world.env);
    // Both run (their movers too) once both have read an entry: warm up until they have.
    let mut rounds = 0;
    while pending_by_consumer(env).await.len() < 2 {
        rounds += 1;
        assert!(rounds <= 100, "the second worker never read an entry");
        accepted(api, &world.targeted, &[]).await;
        receiver.next(WAIT).await;
    }
    receiver.drain();

    // All due at the same moment, so both movers find them at once.
    let deliver_at = soon();
    let mut ids = BTreeSet::new();
    for n in 0..30 {
        let headers = [("X-Deliver-At", deliver_at.as_str())];
        let (code, body, _) = ingest(api, &world.targeted, &headers, &format!("[{n}]")).await;
        assert_eq!(code, 202, "{body}");
        ids.insert(body["webhook_id"].as_str().expect("an id").to_owned());
    }
    let mut seen = BTreeSet::new();
    while seen.len() < ids.len() {
        let got = receiver.next(WAIT).await;
        let id = got.header("webhook-id").expect("a webhook-id").to_owned();
        assert!(ids.contains(&id), "an unknown webhook {id}");
        assert!(seen.insert(id.clone()), "{id} arrived twice");
    }
    nothing_more(receiver).await;
    let due = parse_time(&json!(deliver_at));
    for id in &ids {
        assert_punctual(&status_becomes(api, id, "delivered").await, due);
    }
}
