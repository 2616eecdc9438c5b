//! Bulk replays (`/replays`) through the real api and worker: a dry run that counts what
//! a run then sends exactly once, overlapping replays, cancel, `include_missing`, the
//! checks on the filter, and a replay that survives SIGKILL of its worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hookrelay_tests::api::json;
use hookrelay_tests::worker::{WorkerProcess, set_active, spawn_worker};
use hookrelay_tests::{Receiver, Reply, TestApi, TestEnv, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

async fn post_replay(api: &TestApi, body: &Value) -> (u16, Value) {
    json(api.post_json("/replays", body).await).await
}

/// Waits until the replay is no longer running; returns it.
async fn finished(api: &TestApi, id: &Value) -> Value {
    let path = format!("/replays/{}", id.as_str().expect("id"));
    eventually(WAIT, "the replay to finish", || async {
        let (_, replay) = json(api.get(&path).await).await;
        (replay["status"] != "running").then_some(replay)
    })
    .await
}

/// Counts the deliveries with `status` in the test database.
async fn count_deliveries(env: &TestEnv, status: &str) -> i64 {
    env.db
        .count(&format!(
            "SELECT count(*) AS n FROM deliveries WHERE status = '{status}'"
        ))
        .await
}

/// Stores `count` webhooks whose delivery to `subscription` failed, received a minute ago.
async fn failed_deliveries(env: &TestEnv, subscription: Uuid, target_url: &str, count: usize) {
    use diesel_async::RunQueryDsl;
    let mut conn = env.db.pool().get().await.expect("a connection");
    diesel::sql_query(format!(
        "WITH w AS (INSERT INTO webhooks (id, event_type, subscription_id, payload, received_at) \
           SELECT gen_random_uuid(), 'order.created', NULL, convert_to('{{\"n\": ' || i || '}}', 'UTF8'), \
                  now() - interval '1 minute' + i * interval '1 microsecond' \
           FROM generate_series(1, {count}) AS i RETURNING id, received_at) \
         INSERT INTO deliveries (webhook_id, subscription_id, target_url, status, attempts, error, updated_at, received_at) \
         SELECT id, '{subscription}', '{target_url}', 'failed', 3, 'HTTP 500', now(), received_at FROM w"
    ))
    .execute(&mut conn)
    .await
    .expect("store failed deliveries");
}

fn since_an_hour_ago() -> String {
    hookrelay_shared::time::format(&(chrono::Utc::now() - chrono::Duration::hours(1)))
}

#[tokio::test]
async fn a_dry_run_counts_what_the_replay_then_sends_once() {
    let mut env = TestEnv::new().await;
    // Every delivery fails while the receiver is down; none may disable the subscription.
    env.set("AUTO_DISABLE_AFTER", Some("0"));
    let up = Arc::new(AtomicBool::new(false));
    let state = Arc::clone(&up);
    let mut receiver = Receiver::start(move |_, _| {
        Reply::status(if state.load(Ordering::SeqCst) {
            204
        } else {
            500
        })
    })
    .await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let sub = api
        .create_subscription(&json!({"target_url": receiver.url, "retry_schedule": []}))
        .await;
    let sub_id = sub["id"].as_str().expect("id").to_owned();
    let since = since_an_hour_ago();

    // The receiver is down for N webhooks: each delivery fails after one attempt.
    const N: usize = 25;
    for i in 0..N {
        let response = api
            .request(reqwest::Method::POST, "/ingest")
            .header("X-Event-Type", "order.created")
            .body(format!("{{\"n\": {i}}}"))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 202);
    }
    eventually(WAIT, "every delivery to fail", || async {
        (count_deliveries(&env, "failed").await == N as i64).then_some(())
    })
    .await;
    assert_eq!(receiver.drain().len(), N);
    up.store(true, Ordering::SeqCst);

    let filter = json!({"subscription_id": sub_id, "since": since});
    let mut dry = filter.clone();
    dry["dry_run"] = json!(true);
    let (status, counted) = post_replay(&api, &dry).await;
    assert_eq!((status, counted), (200, json!({"matched": N})));
    let (_, none) = json(api.get("/replays").await).await;
    assert_eq!(none, json!([]), "a dry run stores nothing");

    // Two replays of the same deliveries at once: each delivery is queued once.
    let (status, first) = post_replay(&api, &filter).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["status"], "running");
    assert_eq!(first["filter"], filter);
    assert!(first["finished_at"].is_null());
    let (status, second) = post_replay(&api, &json!({"since": since})).await;
    assert_eq!(status, 202, "{second}");
    let first = finished(&api, &first["id"]).await;
    let second = finished(&api, &second["id"]).await;
    assert_eq!(first["status"], "done", "{first}");
    assert_eq!(second["status"], "done", "{second}");
    assert!(!first["finished_at"].is_null());
    let queued = first["queued"].as_i64().expect("as the api answers")
        + second["queued"].as_i64().expect("as the api answers");
    assert_eq!(queued, N as i64, "{first} {second}");
    eventually(WAIT, "every replayed delivery to succeed", || async {
        (count_deliveries(&env, "succeeded").await == N as i64).then_some(())
    })
    .await;
    // Exactly N more requests, one per webhook, and no more arrive.
    let mut bodies: Vec<Value> = Vec::new();
    for _ in 0..N {
        let request = receiver.next(WAIT).await;
        assert!(request.header("webhook-signature").is_some());
        bodies.push(serde_json::from_slice(&request.body).expect("json body"));
    }
    receiver
        .assert_quiet_for(
            Duration::from_secs(1),
            "a replayed webhook was sent more than once",
        )
        .await;
    bodies.sort_by_key(|b| b["n"].as_i64());
    assert_eq!(bodies, (0..N).map(|n| json!({"n": n})).collect::<Vec<_>>());

    // The list shows both, newest first; a finished replay cannot be cancelled.
    let (_, listed) = json(api.get("/replays").await).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    assert_eq!(listed[0]["id"], second["id"]);
    let path = format!(
        "/replays/{}",
        first["id"].as_str().expect("as the api answers")
    );
    let (status, refused) = json(api.delete(&path).await).await;
    assert_eq!(
        (status, &refused["detail"]),
        (409, &json!("Replay has already finished"))
    );
    // Nothing failed any more: a dry run matches nothing.
    let (_, counted) = post_replay(&api, &dry).await;
    assert_eq!(counted, json!({"matched": 0}));
}

#[tokio::test]
async fn bad_filters_unknown_subscriptions_and_other_tenants_are_refused() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let since = since_an_hour_ago();
    let until = hookrelay_shared::time::format(&(chrono::Utc::now() - chrono::Duration::hours(2)));
    for (body, loc) in [
        (json!({}), json!(["body", "since"])),
        (json!({"since": "yesterday"}), json!(["body", "since"])),
        (
            json!({"since": since, "until": until}),
            json!(["body", "until"]),
        ),
        (
            json!({"since": "2026-01-01T00:00:00Z", "until": "2026-02-15T00:00:00Z"}),
            json!(["body", "since"]),
        ),
        (
            json!({"since": since, "include_missing": true}),
            json!(["body", "include_missing"]),
        ),
        (
            json!({"since": since, "statuses": ["failed", "lost"]}),
            json!(["body", "statuses", 1]),
        ),
        (
            json!({"since": since, "statuses": []}),
            json!(["body", "statuses"]),
        ),
        (
            json!({"since": since, "event_types": ["a*b"]}),
            json!(["body", "event_types", 0]),
        ),
        (
            json!({"since": since, "dry_run": "yes"}),
            json!(["body", "dry_run"]),
        ),
    ] {
        let (status, errors) = post_replay(&api, &body).await;
        assert_eq!(
            (status, &errors["detail"][0]["loc"]),
            (422, &loc),
            "{body}: {errors}"
        );
    }
    let (status, refused) = post_replay(
        &api,
        &json!({"since": since, "subscription_id": Uuid::now_v7()}),
    )
    .await;
    assert_eq!(
        (status, &refused["detail"]),
        (404, &json!("Subscription not found"))
    );

    // A tenant's subscription and replay are invisible to another tenant's key.
    let tenant_a = api.create_tenant("a").await;
    let tenant_b = api.create_tenant("b").await;
    let key_a = api
        .create_key(&json!({"name": "a", "tenant_id": tenant_a}))
        .await;
    let key_b = api
        .create_key(&json!({"name": "b", "tenant_id": tenant_b}))
        .await;
    let a = api.as_key(key_a["key"].as_str().expect("as the api answers"));
    let b = api.as_key(key_b["key"].as_str().expect("as the api answers"));
    let sub = a
        .create_subscription(&json!({"target_url": "https://example.com/hook"}))
        .await;
    let (status, replay) = json(
        a.post_json(
            "/replays",
            &json!({"since": since, "subscription_id": sub["id"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 202, "{replay}");
    assert_eq!(replay["tenant_id"], json!(tenant_a));
    let path = format!(
        "/replays/{}",
        replay["id"].as_str().expect("as the api answers")
    );
    let (status, _) = json(
        b.post_json(
            "/replays",
            &json!({"since": since, "subscription_id": sub["id"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(b.get(&path).await.status(), 404);
    assert_eq!(b.delete(&path).await.status(), 404);
    let (_, listed) = json(b.get("/replays").await).await;
    assert_eq!(listed, json!([]));
    // Its owner cancels it (no worker runs here, so it is still running).
    let (status, cancelled) = json(a.delete(&path).await).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(json(a.delete(&path).await).await.0, 409);

    // An inactive subscription is refused; a read-only key may not start a replay.
    let sub_id: Uuid = sub["id"]
        .as_str()
        .expect("as the api answers")
        .parse()
        .expect("as the api answers");
    set_active(&env, sub_id, false).await;
    let (status, refused) = json(
        a.post_json(
            "/replays",
            &json!({"since": since, "subscription_id": sub_id}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, &refused["detail"]),
        (409, &json!("Subscription is inactive"))
    );
    let reader = api
        .create_key(&json!({"name": "r", "tenant_id": tenant_a, "permissions": ["read"]}))
        .await;
    let reader = api.as_key(reader["key"].as_str().expect("as the api answers"));
    assert_eq!(
        reader
            .post_json("/replays", &json!({"since": since}))
            .await
            .status(),
        403
    );
    assert_eq!(reader.get(&path).await.status(), 200);
}

#[tokio::test]
async fn include_missing_sends_what_an_inactive_subscription_never_got() {
    let env = TestEnv::new().await;
    let mut receiver = Receiver::ok().await;
    let mut other = Receiver::ok().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let since = since_an_hour_ago();
    let sub = api
        .create_subscription(&json!({"target_url": receiver.url, "events": ["order.*"]}))
        .await;
    let sub_id: Uuid = sub["id"]
        .as_str()
        .expect("as the api answers")
        .parse()
        .expect("as the api answers");
    set_active(&env, sub_id, false).await;
    let ingest = |event_type: &'static str, n: usize| {
        let api = &api;
        async move {
            let response = api
                .request(reqwest::Method::POST, "/ingest")
                .header("X-Event-Type", event_type)
                .body(format!("{{\"n\": {n}}}"))
                .send()
                .await
                .expect("sent");
            assert_eq!(response.status(), 202);
        }
    };
    // While it is inactive: three webhooks its filter matches, one it does not. The first
    // comes before any other subscription exists, so nobody gets it.
    let no_subscribers = || async {
        let (_, found) = json(api.get("/webhooks?status=no_subscribers").await).await;
        found.as_array().map_or(0, Vec::len)
    };
    ingest("order.created", 0).await;
    eventually(WAIT, "a webhook stored with no subscribers", || async {
        (no_subscribers().await == 1).then_some(())
    })
    .await;
    let _other = api
        .create_subscription(&json!({"target_url": other.url}))
        .await;
    for n in 1..3 {
        ingest("order.created", n).await;
    }
    ingest("user.created", 3).await;
    for _ in 0..3 {
        other.next(WAIT).await;
    }
    eventually(WAIT, "the other deliveries to be recorded", || async {
        (count_deliveries(&env, "succeeded").await == 3).then_some(())
    })
    .await;
    let (status, _) = json(
        api.patch_json(
            &format!("/subscriptions/{sub_id}"),
            &json!({"is_active": true}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);

    let filter = json!({"subscription_id": sub_id, "since": since, "include_missing": true});
    let mut dry = filter.clone();
    dry["dry_run"] = json!(true);
    assert_eq!(post_replay(&api, &dry).await, (200, json!({"matched": 3})));
    let (status, replay) = post_replay(&api, &filter).await;
    assert_eq!(status, 202, "{replay}");
    let replay = finished(&api, &replay["id"]).await;
    assert_eq!(
        (replay["matched"].clone(), replay["queued"].clone()),
        (json!(3), json!(3))
    );
    let mut got: Vec<i64> = Vec::new();
    for _ in 0..3 {
        let request = receiver.next(WAIT).await;
        let body: Value = serde_json::from_slice(&request.body).expect("as the api answers");
        got.push(body["n"].as_i64().expect("as the api answers"));
    }
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2]);
    receiver
        .assert_quiet_for(
            Duration::from_secs(1),
            "more than the missing deliveries were sent",
        )
        .await;
    // Now it has them all: nothing is missing any more, and the webhook nobody got is no
    // longer marked as such (the mark `?status=no_subscribers` walks).
    assert_eq!(post_replay(&api, &dry).await, (200, json!({"matched": 0})));
    assert_eq!(no_subscribers().await, 0);
    assert_eq!(count_webhooks_marked_no_subscribers(&env).await, 0);
}

async fn count_webhooks_marked_no_subscribers(env: &TestEnv) -> i64 {
    env.db
        .count("SELECT count(*) AS n FROM webhooks WHERE no_subscribers")
        .await
}

#[tokio::test]
async fn a_replay_whose_worker_is_killed_finishes_after_a_restart() {
    let mut env = TestEnv::new().await;
    // A quarter of 8: two replayed attempts in flight at a time.
    env.set("WORKER_CONCURRENCY", Some("8"))
        .set("RECONCILE_AFTER", Some("2s"));
    let mut receiver =
        Receiver::start(|_, _| Reply::status(204).delayed(Duration::from_millis(5))).await;
    let api = env.spawn_api().await;
    let sub = api
        .create_subscription(&json!({"target_url": receiver.url}))
        .await;
    let sub_id: Uuid = sub["id"]
        .as_str()
        .expect("as the api answers")
        .parse()
        .expect("as the api answers");
    const N: usize = 1200;
    failed_deliveries(&env, sub_id, &receiver.url, N).await;

    let mut worker = WorkerProcess::spawn(&env);
    let (status, replay) = post_replay(&api, &json!({"since": since_an_hour_ago()})).await;
    assert_eq!(status, 202, "{replay}");
    // Kill it in the middle of the replay, with attempts in flight.
    let mut seen = std::collections::HashMap::<String, usize>::new();
    let mut count = |request: hookrelay_tests::receiver::Received| {
        let id = request.header("webhook-id").unwrap_or_default().to_owned();
        *seen.entry(id).or_default() += 1;
    };
    for _ in 0..300 {
        count(receiver.next(WAIT).await);
    }
    worker.kill().await;
    let path = format!(
        "/replays/{}",
        replay["id"].as_str().expect("as the api answers")
    );
    let (_, during) = json(api.get(&path).await).await;
    assert_eq!(during["status"], "running", "{during}");
    assert!(
        during["queued"].as_i64().expect("as the api answers") < N as i64,
        "{during}"
    );

    let _successor = WorkerProcess::spawn(&env);
    let replay = finished(&api, &replay["id"]).await;
    assert_eq!(replay["status"], "done", "{replay}");
    assert_eq!(replay["matched"], json!(N), "{replay}");
    assert_eq!(replay["queued"], json!(N), "{replay}");
    eventually(WAIT, "every replayed delivery to succeed", || async {
        (count_deliveries(&env, "succeeded").await == N as i64).then_some(())
    })
    .await;
    // Every webhook arrived; the only repeats are the attempts in flight at the kill (at
    // most the replay's share, 2).
    while let Some(request) = receiver.try_next(Duration::from_secs(2)).await {
        count(request);
    }
    let requests: usize = seen.values().sum();
    assert_eq!(seen.len(), N, "distinct webhooks delivered");
    assert!(requests <= N + 2, "{requests} requests for {N} webhooks");
}
