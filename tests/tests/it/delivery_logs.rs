//! What the worker writes to Postgres about attempts: only text a `text` column can hold
//! (a NUL from a receiver becomes U+FFFD), and a record Postgres refuses all the same
//! holds back only itself, never the other deliveries of the worker.

use std::time::Duration;

use hookrelay_domain::webhooks::Attempt;

use hookrelay_domain::webhooks::Delivery;

use hookrelay_domain::webhooks::DeliveryStatus;

use hookrelay_domain::webhooks::NewWebhook;
use hookrelay_shared::time;
use hookrelay_tests::worker::{
    attempts, deliveries, enqueue, finished_deliveries, insert_subscription, spawn_worker,
};
use hookrelay_tests::{Receiver, Reply, TestEnv};
use hookrelay_worker::recorder::{DeliveryUpdate, NotCommitted, Recorder};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn a_nul_in_a_response_body_is_stored_replaced_and_delivery_goes_on() {
    let mut env = TestEnv::new().await;
    env.set("RETRY_SCHEDULE", Some("200ms"));
    let mut nul =
        Receiver::start(|n, _| Reply::status(if n == 0 { 500 } else { 200 }).body("abc\0def"))
            .await;
    let mut healthy = Receiver::ok().await;
    let nul_sub = insert_subscription(&env, &nul.url, None, "s").await;
    let healthy_sub = insert_subscription(&env, &healthy.url, None, "s").await;
    let _worker = spawn_worker(env.config()).await;

    let troubled = enqueue(&env, Some(nul_sub.id), None, b"{}").await;
    nul.next(WAIT).await;
    // Meanwhile, a delivery to another subscription goes through and is recorded.
    let other = enqueue(&env, Some(healthy_sub.id), None, b"{}").await;
    healthy.next(WAIT).await;
    let rows = finished_deliveries(&env, other, WAIT).await;
    assert_eq!(rows[0].status, "succeeded");

    let rows = finished_deliveries(&env, troubled, WAIT).await;
    assert_eq!(
        (rows[0].status.as_str(), rows[0].attempts),
        ("succeeded", 2)
    );
    let attempts = attempts(&env, troubled).await;
    let stored: Vec<_> = attempts
        .iter()
        .map(|a| (a.status_code, a.response_body.as_deref()))
        .collect();
    assert_eq!(
        stored,
        [
            (Some(500), Some("abc\u{FFFD}def")),
            (Some(200), Some("abc\u{FFFD}def"))
        ]
    );
}

/// An attempt row and the state it leads to, as the pipeline would record them.
fn succeeded(webhook_id: Uuid, subscription_id: Uuid, body: &str) -> (Attempt, DeliveryUpdate) {
    let attempt = Attempt {
        id: Uuid::now_v7(),
        webhook_id,
        subscription_id,
        target_url: "http://127.0.0.1:9/hook".into(),
        timestamp: time::now(),
        attempt_number: 1,
        outcome: "Success".into(),
        status_code: Some(200),
        error: None,
        duration_ms: 1,
        response_body: Some(body.into()),
        next_retry_at: None,
    };
    let update = DeliveryUpdate {
        webhook_id,
        subscription_id,
        status: DeliveryStatus::Succeeded,
        attempts: 1,
        attempted: true,
        last_status_code: Some(200),
        error: None,
        next_retry_at: None,
        target_url: Some(attempt.target_url.clone()),
    };
    (attempt, update)
}

#[tokio::test]
async fn a_delivery_log_record_postgres_refuses_holds_back_only_itself() {
    let env = TestEnv::new().await;
    let (logs, _writer) = Recorder::spawn(
        env.db.url.clone(),
        10,
        env.subscription_cache().await,
        CancellationToken::new(),
    );
    let webhook_id = Uuid::now_v7();
    let (bad_sub, good_sub) = (Uuid::new_v4(), Uuid::new_v4());
    let received_at = time::now();
    let pending = |subscription_id| Delivery {
        webhook_id,
        subscription_id,
        target_url: "http://127.0.0.1:9/hook".into(),
        status: DeliveryStatus::Pending.as_str().into(),
        attempts: 0,
        last_status_code: None,
        error: None,
        next_retry_at: None,
        updated_at: time::now(),
        received_at,
    };
    let webhook = NewWebhook {
        id: webhook_id,
        event_type: None,
        subscription_id: None,
        payload: b"{}".as_slice().into(),
        received_at,
        tenant_id: None,
        skip_subscription: None,
        envelope: None,
    };
    let stored = logs
        .store_webhook(webhook, vec![pending(bad_sub), pending(good_sub)])
        .await;
    assert!(stored.expect("the webhook is stored"));

    // Past the worker's own cleaning: a body with a NUL, which a `text` column refuses,
    // in one batch with a good record (the writer takes both at once).
    let (bad_attempt, bad_update) = succeeded(webhook_id, bad_sub, "abc\0def");
    let (good_attempt, good_update) = succeeded(webhook_id, good_sub, "fine");
    let (bad, good) = tokio::time::timeout(
        WAIT,
        futures::future::join(
            logs.record(Some(bad_attempt), bad_update),
            logs.record(Some(good_attempt), good_update),
        ),
    )
    .await
    .expect("the writer answers both records");
    assert!(matches!(bad, Err(NotCommitted::Refused(_))), "{bad:?}");
    good.expect("the good record is committed");

    let attempts = attempts(&env, webhook_id).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].subscription_id, good_sub);
    let mut states: Vec<_> = deliveries(&env, webhook_id)
        .await
        .into_iter()
        .map(|d| (d.subscription_id == good_sub, d.status))
        .collect();
    states.sort();
    assert_eq!(
        states,
        [
            (false, "pending".to_owned()),
            (true, "succeeded".to_owned())
        ]
    );

    // The writer goes on with later records.
    let (again, update) = succeeded(webhook_id, bad_sub, "fixed");
    tokio::time::timeout(WAIT, logs.record(Some(again), update))
        .await
        .expect("the writer answers")
        .expect("a later record is committed");
}

#[tokio::test]
async fn delivery_log_batches_are_capped_in_bytes_as_well_as_records() {
    let env = TestEnv::new().await;
    let metrics = hookrelay_shared::telemetry::metrics_handle();
    let (logs, _writer) = Recorder::spawn(
        env.db.url.clone(),
        10,
        env.subscription_cache().await,
        CancellationToken::new(),
    );
    // 40 webhooks of 1 MiB, all waiting for the writer at once.
    let body = format!("\"{}\"", "a".repeat(1 << 20));
    let stores = (0..40).map(|_| {
        let webhook = NewWebhook {
            id: Uuid::now_v7(),
            event_type: None,
            subscription_id: None,
            payload: hookrelay_shared::payload::Payload(body.clone().into()),
            received_at: time::now(),
            tenant_id: None,
            skip_subscription: None,
            envelope: None,
        };
        logs.store_webhook(webhook, Vec::new())
    });
    let stored = tokio::time::timeout(WAIT, futures::future::join_all(stores))
        .await
        .expect("the writer stores them all");
    assert!(stored.into_iter().all(|s| s.is_ok_and(|new| new)));
    let page = metrics.render();
    let batches: f64 = page
        .lines()
        .find_map(|l| l.strip_prefix("hookrelay_log_batches_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the batch counter");
    // A few MiB per transaction at most: 40 MiB cannot go in fewer than 10.
    assert!(
        batches >= 10.0,
        "40 MiB of bodies went in {batches} transactions"
    );
}
