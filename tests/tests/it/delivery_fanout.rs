//! Fan-out reads its writes and stays bounded (CONTRACT §14): a webhook ingested right
//! after a subscription change is fanned out with that change, and a webhook with
//! thousands of recipients never has more attempt tasks than the worker has permits.

use std::time::Duration;

use hookrelay_tests::worker::{finished_deliveries, insert_subscriptions, spawn_worker};
use hookrelay_tests::{Receiver, Reply, TestEnv};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_webhook_ingested_right_after_a_subscription_is_created_is_delivered_to_it() {
    let env = TestEnv::new().await;
    let mut receiver = Receiver::ok().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;

    let mut ids = Vec::new();
    for n in 0..50 {
        let event = format!("created.{n}");
        api.create_subscription(&json!({"target_url": receiver.url, "events": [event]}))
            .await;
        let response = api
            .request(Method::POST, "/ingest")
            .header("x-event-type", &event)
            .body("{}")
            .send()
            .await
            .expect("ingest");
        assert_eq!(response.status(), 202);
        let body: serde_json::Value = response.json().await.expect("JSON");
        ids.push(
            body["webhook_id"]
                .as_str()
                .expect("an id")
                .parse()
                .expect("a UUID"),
        );
    }
    for id in ids {
        let rows = finished_deliveries(&env, id, Duration::from_secs(20)).await;
        assert_eq!(
            rows.len(),
            1,
            "webhook {id} was fanned out to {} subscriptions",
            rows.len()
        );
        assert_eq!(rows[0].status, "succeeded");
    }
    assert_eq!(receiver.drain().len(), 50);
}

#[tokio::test]
async fn a_webhook_with_thousands_of_recipients_runs_no_more_tasks_than_permits() {
    let mut env = TestEnv::new().await;
    let concurrency = 32;
    env.set("WORKER_CONCURRENCY", Some(&concurrency.to_string()));
    let receiver =
        Receiver::start(|_, _| Reply::status(204).delayed(Duration::from_millis(50))).await;
    insert_subscriptions(&env, &receiver.url, 5_000).await;
    let worker = spawn_worker(env.config()).await;
    let baseline = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();

    let id = hookrelay_tests::worker::enqueue(&env, None, Some("order.created"), b"{}").await;
    let most = std::cell::Cell::new(0);
    let rows = hookrelay_tests::eventually(
        Duration::from_secs(120),
        "5,000 deliveries to finish",
        || async {
            most.set(
                most.get().max(
                    tokio::runtime::Handle::current()
                        .metrics()
                        .num_alive_tasks(),
                ),
            );
            let rows = hookrelay_tests::worker::deliveries(&env, id).await;
            let done = rows.len() == 5_000
                && rows
                    .iter()
                    .all(|d| d.status == "succeeded" || d.status == "failed");
            done.then_some(rows)
        },
    )
    .await;
    assert!(rows.iter().all(|d| d.status == "succeeded"));
    let most = most.get();
    // Each attempt may hold a task, its HTTP connection's task and one closing down, and
    // the worker's loops come on top: a small multiple of the permits, which does not
    // grow with the number of recipients (one task per recipient was 5,000+).
    let bound = baseline + 8 * concurrency;
    assert!(
        most <= bound,
        "{most} tasks alive at once (bound {bound}, baseline {baseline})"
    );
    eprintln!("fan-out to 5,000: at most {most} tasks alive (baseline {baseline})");
    drop(worker);
}
