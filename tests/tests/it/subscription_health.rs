//! Subscriptions that look after themselves, through the real api and worker: the
//! delivery options each attempt honours, failure counting, auto-disable (by count and
//! on 410 Gone) with its operational events, Retry-After, secret rotation and test sends.

use std::time::Duration;

use hookrelay_tests::api::{json, text};
use hookrelay_tests::receiver::Received;
use hookrelay_tests::worker::{attempts, finished_deliveries, spawn_worker};
use hookrelay_tests::{Receiver, Reply, TestApi, TestEnv, eventually};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

fn id(value: &Value) -> String {
    text(value, "id").to_owned()
}

async fn ingest_to(api: &TestApi, subscription: &str, body: &str) -> Uuid {
    api.ingest_accepted(&format!("/ingest/{subscription}"), &[], body.to_owned())
        .await
}

fn verify(secret: &str, got: &Received, body: &[u8]) -> Result<(), String> {
    standardwebhooks::Webhook::new(secret)
        .expect("a secret")
        .verify(body, &got.header_map())
        .map_err(|e| e.to_string())
}

/// The operational events a watcher received so far, as (type, consecutive_failures).
fn events(received: &[Received]) -> Vec<(String, i64)> {
    received
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).expect("JSON");
            (
                body["type"].as_str().expect("type").to_owned(),
                body["consecutive_failures"].as_i64().expect("count"),
            )
        })
        .collect()
}

#[tokio::test]
async fn delivery_options_are_validated_and_honoured_by_every_attempt() {
    let env = TestEnv::new().await;
    let mut receiver = Receiver::ok().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;

    for (body, field) in [
        (json!({"timeout_ms": 50}), "timeout_ms"),
        (json!({"timeout_ms": 60001}), "timeout_ms"),
        (json!({"retry_schedule": ["1x"]}), "retry_schedule"),
        (json!({"rate_limit": 0}), "rate_limit"),
        (json!({"http_method": "TRACE"}), "http_method"),
        (json!({"http_method": null}), "http_method"),
        (json!({"name": 5}), "name"),
    ] {
        let mut body = body;
        body["target_url"] = json!(receiver.url);
        let (status, errors) = json(api.post_json("/subscriptions", &body).await).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(errors["detail"][0]["loc"][1], json!(field), "{errors}");
    }

    let sub = api
        .create_subscription(&json!({
            "target_url": receiver.url, "name": "orders", "http_method": "PUT",
            "timeout_ms": 5000, "retry_schedule": ["1s", "60000ms"], "rate_limit": 50
        }))
        .await;
    assert_eq!(
        (
            &sub["name"],
            &sub["http_method"],
            &sub["timeout_ms"],
            &sub["retry_schedule"],
            &sub["rate_limit"]
        ),
        (
            &json!("orders"),
            &json!("PUT"),
            &json!(5000),
            &json!(["1s", "1m"]),
            &json!(50)
        )
    );
    assert_eq!(sub["consecutive_failures"], 0);
    assert!(sub["last_success_at"].is_null() && sub["disabled_reason"].is_null());
    let secret = sub["secret"].as_str().expect("secret").to_owned();
    let path = format!("/subscriptions/{}", id(&sub));

    ingest_to(&api, &id(&sub), "{\"n\": 1}").await;
    let got = receiver.next(WAIT).await;
    assert_eq!(got.method, "PUT");
    verify(&secret, &got, b"{\"n\": 1}").expect("signed over the body");

    // GET sends no body and signs an empty one, with every signature header.
    let (status, patched) = json(
        api.patch_json(
            &path,
            &json!({"http_method": "GET", "retry_schedule": null}),
        )
        .await,
    )
    .await;
    let patched_at = chrono::Utc::now();
    assert_eq!(status, 200, "{patched}");
    assert!(patched["retry_schedule"].is_null());
    // Attempts that start more than a second after the PATCH use it.
    let got = loop {
        ingest_to(&api, &id(&sub), "{\"n\": 2}").await;
        let got = receiver.next(WAIT).await;
        if got.method == "GET" {
            break got;
        }
        assert!(
            got.at < patched_at + chrono::TimeDelta::seconds(1),
            "PUT after the PATCH applied"
        );
    };
    assert!(got.body.is_empty());
    assert!(got.header("webhook-signature").is_some() && got.header("webhook-id").is_some());
    verify(&secret, &got, b"").expect("signed over an empty body");

    // The subscription's timeout applies instead of DELIVERY_TIMEOUT (2 s here).
    let slow = Receiver::start(|_, _| Reply::status(200).delayed(Duration::from_millis(800))).await;
    let quick = api
        .create_subscription(
            &json!({"target_url": slow.url, "timeout_ms": 300, "retry_schedule": []}),
        )
        .await;
    let webhook = ingest_to(&api, &id(&quick), "{}").await;
    let rows = finished_deliveries(&env, webhook, WAIT).await;
    assert_eq!(rows[0].status, "failed");
    assert_eq!(rows[0].error.as_deref(), Some("timed out after 300ms"));
    assert_eq!(
        attempts(&env, webhook).await.len(),
        1,
        "an empty schedule: no retries"
    );
}

#[tokio::test]
async fn consecutive_failures_disable_a_subscription_once_with_events_to_watchers() {
    let mut env = TestEnv::new().await;
    env.set("RETRY_SCHEDULE", Some(""))
        .set("AUTO_DISABLE_AFTER", Some("4"));
    let mut failing = Receiver::start(|n, _| Reply::status(if n == 0 { 200 } else { 500 })).await;
    let mut watcher = Receiver::ok().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    // `events: null` would receive every event type, its own failures' too, but for the rule.
    let sub = api
        .create_subscription(&json!({"target_url": failing.url, "headers": {"x-secret": "s3cr3t"}}))
        .await;
    let watch = api
        .create_subscription(&json!({"target_url": watcher.url, "events": ["hookrelay.*"]}))
        .await;
    let path = format!("/subscriptions/{}", id(&sub));

    let ok = ingest_to(&api, &id(&sub), "{}").await;
    assert_eq!(
        finished_deliveries(&env, ok, WAIT).await[0].status,
        "succeeded"
    );
    let (_, got) = json(api.get(&path).await).await;
    assert!(got["last_success_at"].is_string(), "{got}");
    for n in 1..=4 {
        let webhook = ingest_to(&api, &id(&sub), "{}").await;
        assert_eq!(
            finished_deliveries(&env, webhook, WAIT).await[0].status,
            "failed"
        );
        let (_, got) = json(api.get(&path).await).await;
        assert_eq!(got["consecutive_failures"], n, "{got}");
    }
    let (_, got) = json(api.get(&path).await).await;
    assert_eq!(got["is_active"], false);
    assert_eq!(got["disabled_reason"], "4 consecutive failed deliveries");
    assert!(got["last_failure_at"].is_string());

    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.push(watcher.next(WAIT).await);
    }
    // Separate webhooks, in separate queue partitions: they may arrive in any order
    // (ordered delivery is opt-in, CONTRACT §17).
    let mut got = events(&seen);
    got.sort();
    assert_eq!(
        got,
        [
            ("hookrelay.subscription.disabled".to_owned(), 4),
            ("hookrelay.subscription.failing".to_owned(), 3),
            ("hookrelay.subscription.failing".to_owned(), 4),
        ]
    );
    let disabled = seen
        .iter()
        .find(|event| {
            events(std::slice::from_ref(event))[0]
                .0
                .ends_with("disabled")
        })
        .expect("the disabled event");
    let body: Value = serde_json::from_slice(&disabled.body).expect("JSON");
    let mut fields: Vec<_> = body.as_object().expect("object").keys().cloned().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "consecutive_failures",
            "last_error",
            "occurred_at",
            "subscription_id",
            "target_url",
            "tenant_id",
            "type"
        ]
    );
    assert_eq!(body["subscription_id"], json!(id(&sub)));
    assert_eq!(body["last_error"], "HTTP 500");
    assert!(!String::from_utf8_lossy(&disabled.body).contains("s3cr3t"));
    assert_eq!(
        disabled.header("x-event-type"),
        Some("hookrelay.subscription.disabled")
    );
    // The failing subscription got its 5 webhooks and none of the events about itself.
    assert_eq!(failing.drain().len(), 5);

    // Disabled: within a second ingest says so; re-enabling resets the count and the reason.
    eventually(
        Duration::from_millis(1500),
        "ingest to answer 409",
        || async {
            let response = api
                .request(Method::POST, &format!("/ingest/{}", id(&sub)))
                .body("{}")
                .send()
                .await
                .expect("sent");
            (response.status() == 409).then_some(())
        },
    )
    .await;
    let (_, enabled) = json(api.patch_json(&path, &json!({"is_active": true})).await).await;
    assert_eq!(
        (
            &enabled["is_active"],
            &enabled["consecutive_failures"],
            &enabled["disabled_reason"]
        ),
        (&json!(true), &json!(0), &Value::Null)
    );
    assert_eq!(watch["is_active"], true);
}

#[tokio::test]
async fn a_410_disables_at_once_and_a_tenant_subscription_reports_to_both_spaces() {
    let mut env = TestEnv::new().await;
    env.set("RETRY_SCHEDULE", Some("200ms,200ms,200ms"));
    let gone = Receiver::start(|_, _| Reply::status(410)).await;
    let mut operator = Receiver::ok().await;
    let mut customer = Receiver::ok().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let tenant = api.create_tenant("acme").await;
    let key = api
        .create_key(&json!({"name": "acme", "tenant_id": tenant}))
        .await;
    let acme = api.as_key(key["key"].as_str().expect("key"));
    let sub = acme
        .create_subscription(&json!({"target_url": gone.url}))
        .await;
    acme.create_subscription(&json!({"target_url": customer.url, "events": ["hookrelay.*"]}))
        .await;
    api.create_subscription(
        &json!({"target_url": operator.url, "events": ["hookrelay.subscription.disabled"]}),
    )
    .await;

    let webhook = ingest_to(&api, &id(&sub), "{}").await;
    let rows = finished_deliveries(&env, webhook, WAIT).await;
    assert_eq!(
        (rows[0].status.as_str(), rows[0].last_status_code),
        ("failed", Some(410))
    );
    assert_eq!(
        attempts(&env, webhook).await.len(),
        1,
        "no retry after 410 Gone"
    );
    let (_, got) = json(api.get(&format!("/subscriptions/{}", id(&sub))).await).await;
    assert_eq!(
        (&got["is_active"], &got["disabled_reason"]),
        (&json!(false), &json!("receiver answered 410 Gone"))
    );
    for receiver in [&mut operator, &mut customer] {
        let got = receiver.next(WAIT).await;
        let body: Value = serde_json::from_slice(&got.body).expect("JSON");
        assert_eq!(body["type"], "hookrelay.subscription.disabled");
        assert_eq!(body["tenant_id"], json!(tenant));
    }
}

#[tokio::test]
async fn two_workers_crossing_the_threshold_at_once_disable_once_and_raise_one_event() {
    let mut env = TestEnv::new().await;
    env.set("RETRY_SCHEDULE", Some(""))
        .set("AUTO_DISABLE_AFTER", Some("5"));
    let failing =
        Receiver::start(|_, _| Reply::status(500).delayed(Duration::from_millis(20))).await;
    let mut watcher = Receiver::ok().await;
    let api = env.spawn_api().await;
    let sub = api
        .create_subscription(&json!({"target_url": failing.url}))
        .await;
    api.create_subscription(&json!({"target_url": watcher.url, "events": ["hookrelay.*"]}))
        .await;
    let mut webhooks = Vec::new();
    for _ in 0..40 {
        webhooks.push(ingest_to(&api, &id(&sub), "{}").await);
    }
    let _first = spawn_worker(env.config()).await;
    let _second = spawn_worker(env.config()).await;
    for webhook in webhooks {
        finished_deliveries(&env, webhook, WAIT).await;
    }
    let (_, got) = json(api.get(&format!("/subscriptions/{}", id(&sub))).await).await;
    assert_eq!(got["is_active"], false);
    // Every event the workers raised is out of the outbox and delivered; then count them
    // where they are stored, so a duplicate queued late cannot hide.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.push(watcher.next(WAIT).await);
    }
    eventually(WAIT, "the outbox to drain", || async {
        (outbox_rows(&env).await == 0).then_some(())
    })
    .await;
    seen.extend(watcher.drain());
    assert_eq!(event_webhooks(&env).await, 3, "events stored");
    let mut kinds = events(&seen);
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("hookrelay.subscription.disabled".to_owned(), 5),
            ("hookrelay.subscription.failing".to_owned(), 3),
            ("hookrelay.subscription.failing".to_owned(), 5),
        ]
    );
}

async fn outbox_rows(env: &TestEnv) -> i64 {
    env.db.count("SELECT count(*) AS n FROM outbox").await
}

async fn event_webhooks(env: &TestEnv) -> i64 {
    env.db
        .count(
            "SELECT count(*) AS n FROM webhooks WHERE event_type LIKE 'hookrelay.subscription.%'",
        )
        .await
}

#[tokio::test]
async fn retry_after_rotation_and_test_sends() {
    let env = TestEnv::new().await;
    let mut busy = Receiver::start(|n, _| {
        if n == 0 {
            Reply::status(429).header("retry-after", "2")
        } else {
            Reply::status(204)
        }
    })
    .await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let sub = api
        .create_subscription(&json!({"target_url": busy.url}))
        .await;
    let webhook = ingest_to(&api, &id(&sub), "{}").await;
    let first = busy.next(WAIT).await;
    let second = busy.next(WAIT).await;
    let waited = second.at - first.at;
    assert!(
        waited >= chrono::TimeDelta::milliseconds(1950),
        "retried after {waited}, not Retry-After's 2 s"
    );
    let rows = attempts(&env, webhook).await;
    let planned = rows[0].next_retry_at.expect("next_retry_at") - rows[0].timestamp;
    assert!(planned >= chrono::TimeDelta::seconds(2), "{planned}");

    // Rotation: during the grace period both secrets verify.
    let old = sub["secret"].as_str().expect("secret").to_owned();
    let path = format!("/subscriptions/{}/secret/rotate", id(&sub));
    let (status, errors) = json(api.post_json(&path, &json!({"grace_period": "800h"})).await).await;
    assert_eq!(status, 422, "{errors}");
    let (status, rotated) = json(api.post_json(&path, &json!({"grace_period": "1h"})).await).await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().expect("secret").to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    let got = loop {
        ingest_to(&api, &id(&sub), "{\"r\": 1}").await;
        let got = busy.next(WAIT).await;
        if got
            .header("webhook-signature")
            .is_some_and(|s| s.contains(' '))
        {
            break got;
        }
    };
    verify(&old, &got, b"{\"r\": 1}").expect("the old secret verifies");
    verify(&new, &got, b"{\"r\": 1}").expect("the new secret verifies");
    let (status, _) = json(
        api.post_json(
            &path,
            &json!({"secret": "whsec_bmV3ZXN0", "grace_period": "0s"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let got = loop {
        ingest_to(&api, &id(&sub), "{\"r\": 2}").await;
        let got = busy.next(WAIT).await;
        if got
            .header("webhook-signature")
            .is_some_and(|s| !s.contains(' '))
        {
            break got;
        }
    };
    verify("whsec_bmV3ZXN0", &got, b"{\"r\": 2}").expect("only the newest verifies");
    assert!(verify(&new, &got, b"{\"r\": 2}").is_err());
    let missing = format!("/subscriptions/{}/secret/rotate", Uuid::new_v4());
    assert_eq!(api.post_json(&missing, &json!({})).await.status(), 404);

    // A test send.
    let (status, accepted) = json(
        api.request(Method::POST, &format!("/subscriptions/{}/test", id(&sub)))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let got = loop {
        let got = busy.next(WAIT).await;
        if got.header("x-event-type") == Some("hookrelay.test") {
            break got;
        }
    };
    let body: Value = serde_json::from_slice(&got.body).expect("JSON");
    assert_eq!(body["type"], "hookrelay.test");
    assert_eq!(got.header("webhook-id"), accepted["webhook_id"].as_str());
}
