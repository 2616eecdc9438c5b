//! Subscription changes during delivery (CONTRACT §3): a PATCH applies to every attempt
//! that starts more than a second later, and after a DELETE no further attempt is made
//! and the delivery ends `failed` / `subscription deleted`. Through the real api.

use std::time::Duration;

use hookrelay_tests::api::json;
use hookrelay_tests::worker::{attempts, finished_deliveries, spawn_worker};
use hookrelay_tests::{Receiver, Reply, TestEnv, eventually};
use serde_json::json;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);

async fn ingest(api: &hookrelay_tests::TestApi, subscription_id: &str) -> Uuid {
    let (status, body) = json(
        api.post_json(&format!("/ingest/{subscription_id}"), &json!({"n": 1}))
            .await,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    body["webhook_id"]
        .as_str()
        .expect("webhook_id")
        .parse()
        .expect("a UUID")
}

#[tokio::test]
async fn a_patched_url_and_secret_apply_to_the_next_delivery_attempt() {
    let mut env = TestEnv::new().await;
    env.set("RETRY_SCHEDULE", Some("1500ms,1500ms"));
    let mut old = Receiver::start(|_, _| Reply::status(500)).await;
    let mut new = Receiver::ok().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let sub = api
        .create_subscription(&json!({"target_url": old.url}))
        .await;
    let id = sub["id"].as_str().expect("id");

    let webhook_id = ingest(&api, id).await;
    old.next(WAIT).await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let response = api
        .patch_json(
            &format!("/subscriptions/{id}"),
            &json!({"target_url": new.url, "secret": secret, "headers": {"x-v": "2"}}),
        )
        .await;
    assert_eq!(response.status(), 200);

    let got = new.next(WAIT).await;
    assert_eq!(
        got.header("webhook-id"),
        Some(webhook_id.to_string().as_str())
    );
    assert_eq!(got.header("x-v"), Some("2"));
    let verifier = standardwebhooks::Webhook::new(secret).expect("a secret");
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in &got.headers {
        headers.append(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
    }
    verifier
        .verify(&got.body, &headers)
        .expect("signed with the new secret");
    assert!(
        old.drain().is_empty(),
        "no attempt went to the old URL after the change"
    );

    let rows = finished_deliveries(&env, webhook_id, WAIT).await;
    assert_eq!(
        (rows[0].status.as_str(), rows[0].attempts),
        ("succeeded", 2)
    );
    let attempts = attempts(&env, webhook_id).await;
    assert_eq!(attempts[0].target_url, old.url);
    assert_eq!(attempts[1].target_url, new.url);
    // The delivery names the URL its attempts now go to, not the one it was fanned out to.
    assert_eq!(rows[0].target_url, new.url);
    let (status, body) = json(api.get(&format!("/status/{webhook_id}")).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deliveries"][0]["target_url"], new.url.as_str());
}

#[tokio::test]
async fn after_a_delete_no_attempt_is_made_and_the_delivery_fails() {
    let mut env = TestEnv::new().await;
    env.set("RETRY_SCHEDULE", Some("1500ms,1500ms"));
    let mut receiver = Receiver::start(|_, _| Reply::status(503)).await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let sub = api
        .create_subscription(&json!({"target_url": receiver.url}))
        .await;
    let id = sub["id"].as_str().expect("id");

    let webhook_id = ingest(&api, id).await;
    receiver.next(WAIT).await;
    // Wait until the failed attempt is recorded, so the retry is scheduled.
    eventually(WAIT, "the first attempt to be recorded", || async {
        (!attempts(&env, webhook_id).await.is_empty()).then_some(())
    })
    .await;
    assert_eq!(
        api.delete(&format!("/subscriptions/{id}")).await.status(),
        204
    );

    // The scheduled retry comes due, is taken and dropped: the schedule and the stream empty.
    let keys = env.keys();
    let redis = env.redis().await;
    eventually(WAIT, "the retry to be consumed", || {
        let (keys, mut redis) = (keys.clone(), redis.clone());
        async move {
            let (scheduled, queued): (u64, u64) = deadpool_redis::redis::pipe()
                .cmd("ZCARD")
                .arg(keys.retry_schedule())
                .cmd("XLEN")
                .arg(keys.stream())
                .query_async(&mut redis)
                .await
                .ok()?;
            (scheduled == 0 && queued == 0).then_some(())
        }
    })
    .await;
    assert!(receiver.drain().is_empty(), "no attempt after DELETE");
    assert_eq!(attempts(&env, webhook_id).await.len(), 1);

    let rows = finished_deliveries(&env, webhook_id, WAIT).await;
    assert_eq!(
        (rows[0].status.as_str(), rows[0].error.as_deref()),
        ("failed", Some("subscription deleted"))
    );
    let (status, body) = json(api.get(&format!("/status/{webhook_id}")).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "failed");
    assert_eq!(body["deliveries"][0]["error"], "subscription deleted");
}

#[tokio::test]
async fn a_webhook_for_a_subscription_deleted_before_delivery_fails_without_an_attempt() {
    let env = TestEnv::new().await;
    let receiver = Receiver::ok().await;
    let api = env.spawn_api().await;
    let sub = api
        .create_subscription(&json!({"target_url": receiver.url}))
        .await;
    let id = sub["id"].as_str().expect("id");
    // Queued while no worker runs, then the subscription goes.
    let webhook_id = ingest(&api, id).await;
    assert_eq!(
        api.delete(&format!("/subscriptions/{id}")).await.status(),
        204
    );
    let _worker = spawn_worker(env.config()).await;

    let rows = finished_deliveries(&env, webhook_id, WAIT).await;
    assert_eq!(
        (rows[0].status.as_str(), rows[0].error.as_deref()),
        ("failed", Some("subscription deleted"))
    );
    assert!(attempts(&env, webhook_id).await.is_empty());
    let (_, body) = json(api.get(&format!("/status/{webhook_id}")).await).await;
    assert_eq!(body["status"], "failed", "{body}");
}
