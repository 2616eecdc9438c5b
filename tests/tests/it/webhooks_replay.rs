//! Replaying one webhook through the real api and worker: a new run of the retry schedule
//! with attempt numbers going on, what may be replayed and what is refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use hookrelay_tests::api::json;
use hookrelay_tests::worker::{attempts, finished_deliveries, spawn_worker};
use hookrelay_tests::{Receiver, Reply, TestApi, TestEnv, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

async fn replay(api: &TestApi, webhook: Uuid, body: &Value) -> (u16, Value) {
    json(
        api.post_json(&format!("/webhooks/{webhook}/replay"), body)
            .await,
    )
    .await
}

fn outcomes(env_attempts: &[hookrelay_domain::webhooks::Attempt]) -> Vec<(i32, String)> {
    env_attempts
        .iter()
        .map(|a| (a.attempt_number, a.outcome.clone()))
        .collect()
}

#[tokio::test]
async fn a_replay_is_a_new_run_of_the_schedule_and_attempt_numbers_go_on() {
    let env = TestEnv::new().await;
    // Answers with the status in `answer`, after 1.5 s when it is a success (so a test
    // can see the replayed delivery in flight).
    let answer = Arc::new(AtomicU16::new(500));
    let replies = Arc::clone(&answer);
    let mut receiver = Receiver::start(move |_, _| {
        let status = replies.load(Ordering::SeqCst);
        let reply = Reply::status(status);
        if status < 300 {
            reply.delayed(Duration::from_millis(1500))
        } else {
            reply
        }
    })
    .await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let sub = api
        .create_subscription(&json!({"target_url": receiver.url, "retry_schedule": ["1s"]}))
        .await;
    let sub_id: Uuid = sub["id"].as_str().expect("id").parse().expect("uuid");
    let (status, accepted) = json(
        api.request(reqwest::Method::POST, &format!("/ingest/{sub_id}"))
            .body("{\"n\": 1}")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let webhook: Uuid = accepted["webhook_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let done = finished_deliveries(&env, webhook, WAIT).await;
    assert_eq!((done[0].status.as_str(), done[0].attempts), ("failed", 2));

    // The receiver still fails: the replay runs the whole schedule again (one retry 1 s
    // later), numbered 3 and 4. Without a new run, attempt 3 would be the last.
    let (status, replayed) = replay(&api, webhook, &json!({})).await;
    assert_eq!(status, 202, "{replayed}");
    assert_eq!(
        replayed,
        json!({"webhook_id": webhook, "deliveries": [sub_id]})
    );
    eventually(WAIT, "the replay's two attempts", || async {
        let rows = attempts(&env, webhook).await;
        (rows.len() == 4 && finished_deliveries(&env, webhook, WAIT).await[0].status == "failed")
            .then_some(rows)
    })
    .await;
    let rows = attempts(&env, webhook).await;
    assert_eq!(
        outcomes(&rows),
        [
            (1, "Failed Attempt".into()),
            (2, "Failure".into()),
            (3, "Failed Attempt".into()),
            (4, "Failure".into())
        ]
    );
    let gap = rows[3].timestamp - rows[2].timestamp;
    assert!(gap >= chrono::Duration::seconds(1), "retry after {gap}");

    // Now it answers (slowly): while the replayed attempt is in flight, status shows the
    // delivery under way again and a second replay of it is refused.
    answer.store(204, Ordering::SeqCst);
    let (status, _) = replay(&api, webhook, &json!({})).await;
    assert_eq!(status, 202);
    let (_, now) = json(api.get(&format!("/status/{webhook}")).await).await;
    assert_eq!(now["status"], "delivering", "{now}");
    assert_eq!(now["deliveries"][0]["status"], "pending", "{now}");
    let (status, refused) = replay(&api, webhook, &json!({"subscription_ids": [sub_id]})).await;
    assert_eq!(
        (status, &refused["detail"]),
        (409, &json!("Delivery is still in progress"))
    );
    let done = eventually(WAIT, "the replay to succeed", || async {
        let rows = finished_deliveries(&env, webhook, WAIT).await;
        (rows[0].status == "succeeded").then_some(rows)
    })
    .await;
    assert_eq!(done[0].attempts, 5);
    let (_, delivered) = json(api.get(&format!("/status/{webhook}")).await).await;
    assert_eq!(delivered["status"], "delivered");
    assert_eq!(delivered["total_attempts"], 5);

    // Nothing failed any more: a plain replay is refused, a named one re-sends.
    let (status, refused) = replay(&api, webhook, &json!({})).await;
    assert_eq!(status, 409, "{refused}");
    let (status, _) = replay(&api, webhook, &json!({"subscription_ids": [sub_id]})).await;
    assert_eq!(status, 202);
    eventually(WAIT, "the named replay", || async {
        (attempts(&env, webhook).await.len() == 6).then_some(())
    })
    .await;
    finished_deliveries(&env, webhook, WAIT).await;
    assert_eq!(receiver.drain().len(), 6, "one request per attempt");

    // Bad input, unknown webhooks and subscriptions, another tenant's key.
    let (status, errors) = replay(&api, webhook, &json!({"subscription_ids": "x"})).await;
    assert_eq!(
        (status, &errors["detail"][0]["loc"]),
        (422, &json!(["body", "subscription_ids"]))
    );
    let (status, _) = replay(&api, Uuid::now_v7(), &json!({})).await;
    assert_eq!(status, 404);
    let (status, refused) = replay(
        &api,
        webhook,
        &json!({"subscription_ids": [Uuid::now_v7()]}),
    )
    .await;
    assert_eq!(
        (status, &refused["detail"]),
        (404, &json!("Subscription not found"))
    );
    let tenant = api.create_tenant("other").await;
    let key = api
        .create_key(
            &json!({"name": "other", "tenant_id": tenant, "permissions": ["write", "read"]}),
        )
        .await;
    let other = api.as_key(key["key"].as_str().expect("key"));
    let (status, _) = json(
        other
            .post_json(&format!("/webhooks/{webhook}/replay"), &json!({}))
            .await,
    )
    .await;
    assert_eq!(status, 404, "another tenant's webhook is unknown");

    // A deleted subscription cannot be replayed to: its delivery stays failed.
    answer.store(500, Ordering::SeqCst);
    assert_eq!(
        api.delete(&format!("/subscriptions/{sub_id}"))
            .await
            .status(),
        204
    );
    let (status, refused) = replay(&api, webhook, &json!({"subscription_ids": [sub_id]})).await;
    assert_eq!(
        (status, &refused["detail"]),
        (404, &json!("Subscription not found"))
    );
    let (status, _) = replay(&api, webhook, &json!({"include_succeeded": true})).await;
    assert_eq!(status, 409);
}
