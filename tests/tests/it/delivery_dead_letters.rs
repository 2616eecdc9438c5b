//! A Postgres error that persists never makes the same attempt go out again and again
//! (CONTRACT §14): an error of Postgres's own state (disk full) pauses the work, which
//! resumes once Postgres can write; a refused record makes its entry run again at most
//! `MAX_ENTRY_REDELIVERIES` times, after which it waits in the dead letters for an
//! operator to redrive or delete it. Undecodable entries go there too.

use hookrelay_shared::keys::Partition;
use std::time::Duration;

use deadpool_redis::redis;
use hookrelay_tests::worker::{enqueue, finished_deliveries, insert_subscription, spawn_worker};
use hookrelay_tests::{Receiver, TestEnv, eventually};
use serde_json::Value;

/// Makes every INSERT into `attempts` fail with SQLSTATE `code`.
async fn refuse_attempts(env: &TestEnv, code: &str) {
    env.db
        .execute_sql(&format!(
            "CREATE FUNCTION refuse_attempts() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'refused by the test' USING ERRCODE = '{code}'; END $$;
             CREATE TRIGGER refuse_attempts BEFORE INSERT ON attempts
             FOR EACH ROW EXECUTE FUNCTION refuse_attempts();"
        ))
        .await;
}

async fn accept_attempts(env: &TestEnv) {
    env.db
        .execute_sql("DROP TRIGGER refuse_attempts ON attempts; DROP FUNCTION refuse_attempts();")
        .await;
}

#[tokio::test]
async fn a_disk_full_postgres_pauses_delivery_without_sending_again() {
    let env = TestEnv::new().await;
    let mut receiver = Receiver::ok().await;
    let sub = insert_subscription(&env, &receiver.url, None, "s").await;
    let _worker = spawn_worker(env.config()).await;
    refuse_attempts(&env, "53100").await;

    let id = enqueue(&env, Some(sub.id), None, b"{}").await;
    receiver.next(Duration::from_secs(10)).await;
    // Well past RECLAIM_IDLE (3 s): a handed-back entry would have been sent again.
    receiver
        .assert_quiet_for(
            Duration::from_secs(8),
            "the attempt was sent again while Postgres could not record it",
        )
        .await;
    accept_attempts(&env).await;
    let rows = finished_deliveries(&env, id, Duration::from_secs(20)).await;
    assert_eq!(rows[0].status, "succeeded");
    assert!(
        receiver.drain().is_empty(),
        "sent again after Postgres recovered"
    );
}

#[tokio::test]
async fn a_refused_record_is_run_again_a_bounded_number_of_times_then_dead_lettered_and_redriven() {
    let mut env = TestEnv::new().await;
    env.set("MAX_ENTRY_REDELIVERIES", Some("2"));
    let mut receiver = Receiver::ok().await;
    let sub = insert_subscription(&env, &receiver.url, None, "s").await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    refuse_attempts(&env, "22023").await;

    let id = enqueue(&env, Some(sub.id), None, b"{}").await;
    // The first run and two redeliveries.
    for _ in 0..3 {
        receiver.next(Duration::from_secs(15)).await;
    }
    let dead = eventually(
        Duration::from_secs(15),
        "the entry in the dead letters",
        || async {
            let (status, body) = hookrelay_tests::api::json(api.get("/dead-letters").await).await;
            assert_eq!(status, 200, "{body}");
            body.as_array().filter(|list| !list.is_empty()).cloned()
        },
    )
    .await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["webhook_id"], Value::String(id.to_string()));
    assert_eq!(dead[0]["kind"], "webhook");
    assert_eq!(dead[0]["deliveries"], 3);
    assert!(
        dead[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("redeliveries")),
        "{dead:?}"
    );
    receiver
        .assert_quiet_for(
            Duration::from_secs(5),
            "a dead-lettered entry was sent again",
        )
        .await;

    // Once Postgres takes the record, a redrive finishes the delivery.
    accept_attempts(&env).await;
    let dead_id = dead[0]["id"].as_str().expect("an id").to_owned();
    let redrive = || async {
        api.request(
            reqwest::Method::POST,
            &format!("/dead-letters/{dead_id}/redrive"),
        )
        .send()
        .await
        .expect("redrive")
        .status()
    };
    assert_eq!(redrive().await, 202);
    let rows = finished_deliveries(&env, id, Duration::from_secs(20)).await;
    assert_eq!(rows[0].status, "succeeded");
    receiver.next(Duration::from_secs(5)).await;
    let (_, listed) = hookrelay_tests::api::json(api.get("/dead-letters").await).await;
    assert_eq!(listed, serde_json::json!([]));
    assert_eq!(redrive().await, 404);
}

#[tokio::test]
async fn an_undecodable_entry_is_dead_lettered_and_can_be_deleted() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let mut redis = env.redis().await;
    redis::cmd("XADD")
        .arg(env.keys().partition(Partition::Numbered(3)).stream())
        .arg("*")
        .arg("kind")
        .arg("bogus")
        .query_async::<String>(&mut redis)
        .await
        .expect("XADD");

    let dead = eventually(
        Duration::from_secs(10),
        "the entry in the dead letters",
        || async {
            let (_, body) = hookrelay_tests::api::json(api.get("/dead-letters").await).await;
            body.as_array().filter(|list| !list.is_empty()).cloned()
        },
    )
    .await;
    assert_eq!(dead[0]["kind"], "bogus");
    assert!(
        dead[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("unknown kind"))
    );
    let path = format!("/dead-letters/{}", dead[0]["id"].as_str().expect("an id"));
    assert_eq!(api.delete(&path).await.status(), 204);
    assert_eq!(api.delete(&path).await.status(), 404);
    let (status, body) =
        hookrelay_tests::api::json(api.delete("/dead-letters/not-an-id").await).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["detail"][0]["loc"],
        serde_json::json!(["path", "dead_letter_id"])
    );
    let (_, listed) = hookrelay_tests::api::json(api.get("/dead-letters").await).await;
    assert_eq!(listed, serde_json::json!([]));
}
