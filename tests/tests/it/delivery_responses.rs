//! What a receiver's answer makes of an attempt (CONTRACT §5: `DELIVERY_TIMEOUT` is the
//! whole-request timeout, and timeouts are failures): a 2xx whose body trickles in past
//! the timeout, or stops short of its length, is a failed attempt and is retried; a body
//! longer than the 4096 bytes kept is not read further, and is no failure.

use std::time::Duration;

use hookrelay_domain::webhooks::Attempt;
use hookrelay_domain::webhooks::Delivery;
use hookrelay_domain::webhooks::attempt::RESPONSE_BODY_LIMIT;
use hookrelay_tests::worker::{
    attempts, enqueue, finished_deliveries, insert_subscription, spawn_worker,
};
use hookrelay_tests::{RawReply, Receiver, TestEnv};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);

/// Delivers one webhook to `receiver` through a worker with `env`'s settings; returns
/// its id, its finished delivery and its attempts.
async fn deliver_one(env: &TestEnv, receiver: &Receiver) -> (Uuid, Delivery, Vec<Attempt>) {
    let sub = insert_subscription(env, &receiver.url, None, "s").await;
    let _worker = spawn_worker(env.config()).await;
    let webhook_id = enqueue(env, Some(sub.id), None, b"{}").await;
    let mut rows = finished_deliveries(env, webhook_id, WAIT).await;
    (webhook_id, rows.remove(0), attempts(env, webhook_id).await)
}

#[tokio::test]
async fn a_2xx_body_trickling_past_the_timeout_is_a_failed_delivery_attempt() {
    let mut env = TestEnv::new().await;
    env.set("DELIVERY_TIMEOUT", Some("1s"))
        .set("RETRY_SCHEDULE", Some("200ms"));
    let mut receiver = Receiver::raw(|n, _| {
        if n == 0 {
            // The head at once, then a byte every 300 ms: 3 s for the body.
            RawReply::head(200, 10).dribble(b"0123456789", Duration::from_millis(300))
        } else {
            RawReply::head(200, 2).then(Duration::ZERO, "ok")
        }
    })
    .await;
    let (webhook_id, delivery, attempts) = deliver_one(&env, &receiver).await;
    assert_eq!(
        (delivery.status.as_str(), delivery.attempts),
        ("succeeded", 2)
    );
    let first = &attempts[0];
    assert_eq!(
        (
            first.outcome.as_str(),
            first.status_code,
            first.error.as_deref()
        ),
        ("Failed Attempt", Some(200), Some("timed out after 1s"))
    );
    let partial = first.response_body.as_deref().expect("what arrived");
    assert!("0123456789".starts_with(partial), "{partial:?}");
    assert!(
        (900..2_000).contains(&first.duration_ms),
        "the attempt ends at the timeout, not with the body: {}ms",
        first.duration_ms
    );
    assert_eq!(
        (
            attempts[1].outcome.as_str(),
            attempts[1].response_body.as_deref()
        ),
        ("Success", Some("ok"))
    );
    for _ in 0..2 {
        let got = receiver.next(WAIT).await;
        assert_eq!(
            got.header("webhook-id"),
            Some(webhook_id.to_string().as_str())
        );
    }
}

#[tokio::test]
async fn a_body_cut_short_of_its_length_is_a_failed_delivery_attempt() {
    let mut env = TestEnv::new().await;
    env.set("RETRY_SCHEDULE", Some(""));
    let receiver = Receiver::raw(|_, _| RawReply::head(200, 10).then(Duration::ZERO, "abc")).await;
    let (_, delivery, attempts) = deliver_one(&env, &receiver).await;
    assert_eq!(
        (delivery.status.as_str(), delivery.last_status_code),
        ("failed", Some(200))
    );
    let error = delivery.error.as_deref().expect("an error");
    assert_eq!(
        error,
        "response body failed: end of file before message length reached"
    );
    assert_eq!(
        (
            attempts[0].outcome.as_str(),
            attempts[0].response_body.as_deref()
        ),
        ("Failure", Some("abc"))
    );
}

#[tokio::test]
async fn a_long_body_is_read_only_up_to_the_limit_and_the_delivery_succeeds() {
    let mut env = TestEnv::new().await;
    env.set("DELIVERY_TIMEOUT", Some("1s"));
    // The first 4096 bytes at once; the rest would take minutes.
    let receiver = Receiver::raw(|_, _| {
        RawReply::head(200, RESPONSE_BODY_LIMIT + 1_000)
            .then(Duration::ZERO, vec![b'x'; RESPONSE_BODY_LIMIT])
            .dribble(&[b'y'; 1_000], Duration::from_millis(300))
    })
    .await;
    let (_, delivery, attempts) = deliver_one(&env, &receiver).await;
    assert_eq!(
        (delivery.status.as_str(), delivery.attempts),
        ("succeeded", 1)
    );
    assert_eq!(
        attempts[0].response_body.as_deref(),
        Some("x".repeat(RESPONSE_BODY_LIMIT).as_str())
    );
    assert!(
        attempts[0].duration_ms < 900,
        "{}ms",
        attempts[0].duration_ms
    );
}
