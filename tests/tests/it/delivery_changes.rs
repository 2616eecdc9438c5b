//! Subscription changes during delivery (CONTRACT §3): a PATCH applies to every attempt
//! that starts more than a second later; after a DELETE no further attempt is made and
//! the delivery ends `failed` / `subscription deleted`, and likewise after a PATCH to
//! `is_active: false` (`subscription inactive`). Through the real api.

use std::time::Duration;

use hookrelay_tests::api::json;
use hookrelay_tests::worker::{attempts, finished_deliveries, spawn_worker};
use hookrelay_tests::{Receiver, Reply, TestEnv, eventually};
use serde_json::json;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);

/// Ingests `{"n":1}` for one subscription; the webhook id.
async fn ingest(api: &hookrelay_tests::TestApi, subscription_id: &str) -> Uuid {
    api.ingest_accepted(&format!("/ingest/{subscription_id}"), &[], r#"{"n":1}"#)
        .await
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
    verifier
        .verify(&got.body, &got.header_map())
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

/// A change that stops deliveries to a subscription (CONTRACT §3): DELETE, or a PATCH
/// to `is_active: false` (the lead's decision: an attempt that would start while the
/// subscription is inactive is not made, and the delivery ends `failed`).
#[derive(Clone, Copy)]
enum Stop {
    Delete,
    Deactivate,
}

impl Stop {
    async fn apply(self, api: &hookrelay_tests::TestApi, id: &str) {
        let path = format!("/subscriptions/{id}");
        let status = match self {
            Self::Delete => api.delete(&path).await.status(),
            Self::Deactivate => api
                .patch_json(&path, &json!({"is_active": false}))
                .await
                .status(),
        };
        assert!(status.is_success(), "{status}");
    }

    /// The error the delivery ends with.
    fn error(self) -> &'static str {
        match self {
            Self::Delete => "subscription deleted",
            Self::Deactivate => "subscription inactive",
        }
    }
}

/// The first attempt fails, `stop` comes before the retry is due: the retry is taken
/// from the schedule and dropped without an attempt, and the delivery fails.
async fn no_retry_after(stop: Stop) {
    let mut env = TestEnv::new().await;
    env.set("RETRY_SCHEDULE", Some("1500ms,1500ms"));
    let mut receiver = Receiver::start(|_, _| Reply::status(500)).await;
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
    stop.apply(&api, id).await;

    // The scheduled retry comes due, is taken and dropped: the schedule and the stream empty.
    let keys = env.keys();
    let redis = env.redis().await;
    eventually(WAIT, "the retry to be consumed", || {
        let (keys, mut redis) = (keys.clone(), redis.clone());
        async move {
            let (scheduled, queued): (u64, u64) = deadpool_redis::redis::pipe()
                .cmd("ZCARD")
                .arg(keys.home(webhook_id).retry_schedule())
                .cmd("XLEN")
                .arg(keys.home(webhook_id).stream())
                .query_async(&mut redis)
                .await
                .ok()?;
            (scheduled == 0 && queued == 0).then_some(())
        }
    })
    .await;
    assert!(receiver.drain().is_empty(), "no attempt after the change");
    assert_eq!(attempts(&env, webhook_id).await.len(), 1);

    let rows = finished_deliveries(&env, webhook_id, WAIT).await;
    assert_eq!(
        (rows[0].status.as_str(), rows[0].error.as_deref()),
        ("failed", Some(stop.error()))
    );
    let (status, body) = json(api.get(&format!("/status/{webhook_id}")).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "failed");
    assert_eq!(body["deliveries"][0]["status"], "failed");
    assert_eq!(body["deliveries"][0]["error"], stop.error());
}

#[tokio::test]
async fn after_a_delete_no_attempt_is_made_and_the_delivery_fails() {
    no_retry_after(Stop::Delete).await;
}

#[tokio::test]
async fn after_deactivation_no_retry_is_made_and_the_delivery_fails_inactive() {
    no_retry_after(Stop::Deactivate).await;
}

/// A targeted webhook queued while no worker runs, then `stop`: when a worker picks it
/// up, no attempt is made and the delivery fails.
async fn no_attempt_when_stopped_before_delivery(stop: Stop) {
    let env = TestEnv::new().await;
    let mut receiver = Receiver::ok().await;
    let api = env.spawn_api().await;
    let sub = api
        .create_subscription(&json!({"target_url": receiver.url}))
        .await;
    let id = sub["id"].as_str().expect("id");
    let webhook_id = ingest(&api, id).await;
    stop.apply(&api, id).await;
    let _worker = spawn_worker(env.config()).await;

    let rows = finished_deliveries(&env, webhook_id, WAIT).await;
    assert_eq!(
        (rows[0].status.as_str(), rows[0].error.as_deref()),
        ("failed", Some(stop.error()))
    );
    assert!(attempts(&env, webhook_id).await.is_empty());
    assert!(
        receiver.drain().is_empty(),
        "no request reached the receiver"
    );
    let (_, body) = json(api.get(&format!("/status/{webhook_id}")).await).await;
    assert_eq!(body["status"], "failed", "{body}");
}

#[tokio::test]
async fn a_webhook_for_a_subscription_deleted_before_delivery_fails_without_an_attempt() {
    no_attempt_when_stopped_before_delivery(Stop::Delete).await;
}

#[tokio::test]
async fn a_webhook_for_a_subscription_deactivated_before_delivery_fails_without_an_attempt() {
    no_attempt_when_stopped_before_delivery(Stop::Deactivate).await;
}
