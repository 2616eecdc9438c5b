//! Failed attempts (CONTRACT §5): the retry schedule measured from the recorded attempt
//! times, exhaustion, and the error text of timeouts, refused connections, redirects and
//! refused private targets.

use std::time::Duration;

use hookrelay_domain::webhooks::attempt::RESPONSE_BODY_LIMIT;
use hookrelay_tests::worker::{
    attempts, enqueue, finished_deliveries, insert_subscription, spawn_worker,
};
use hookrelay_tests::{Receiver, Reply, TestEnv};

const WAIT: Duration = Duration::from_secs(15);

fn ms(d: chrono::TimeDelta) -> i64 {
    d.num_milliseconds()
}

#[tokio::test]
async fn delivery_retries_follow_the_schedule_and_stop_at_the_first_success() {
    let env = TestEnv::new().await; // RETRY_SCHEDULE=200ms,400ms
    let mut receiver = Receiver::start(|n, _| {
        if n < 2 {
            Reply::status(503).body("busy")
        } else {
            Reply::status(200)
        }
    })
    .await;
    let sub = insert_subscription(&env, &receiver.url, None, "s").await;
    let _worker = spawn_worker(env.config()).await;
    let webhook_id = enqueue(&env, Some(sub.id), Some("order.created"), b"{}").await;

    let rows = finished_deliveries(&env, webhook_id, WAIT).await;
    assert_eq!(
        (rows[0].status.as_str(), rows[0].attempts),
        ("succeeded", 3)
    );
    let attempts = attempts(&env, webhook_id).await;
    let outcomes: Vec<_> = attempts
        .iter()
        .map(|a| (a.attempt_number, a.outcome.as_str(), a.status_code))
        .collect();
    assert_eq!(
        outcomes,
        [
            (1, "Failed Attempt", Some(503)),
            (2, "Failed Attempt", Some(503)),
            (3, "Success", Some(200))
        ]
    );
    assert_eq!(attempts[0].error.as_deref(), Some("HTTP 503"));
    assert_eq!(attempts[0].response_body.as_deref(), Some("busy"));
    for (n, delay_ms) in [(0, 200), (1, 400)] {
        let (failed, next) = (&attempts[n], &attempts[n + 1]);
        let finished = failed.timestamp + chrono::TimeDelta::milliseconds(failed.duration_ms);
        let due = failed
            .next_retry_at
            .expect("a failed attempt with retries left names the next one");
        // next_retry_at is the failed attempt's finish plus the delay (ms rounding aside).
        assert!(
            (ms(due - finished) - delay_ms).abs() <= 2,
            "attempt {}: due {due}, finished {finished}",
            n + 1
        );
        // The retry starts no earlier than due, and under this light load well within 1s.
        assert!(
            next.timestamp >= due,
            "attempt {} started {} before due",
            n + 2,
            due - next.timestamp
        );
        assert!(
            ms(next.timestamp - due) < 1_000,
            "attempt {} started {}ms late",
            n + 2,
            ms(next.timestamp - due)
        );
    }
    assert_eq!(attempts[2].next_retry_at, None);
    for _ in 0..3 {
        let got = receiver.next(WAIT).await;
        assert_eq!(
            got.header("webhook-id"),
            Some(webhook_id.to_string().as_str())
        );
    }
}

#[tokio::test]
async fn an_exhausted_schedule_ends_the_delivery_in_failure_with_the_last_error() {
    let env = TestEnv::new().await;
    let long_body = "x".repeat(RESPONSE_BODY_LIMIT * 3);
    let receiver = Receiver::start(move |_, _| Reply::status(500).body(long_body.clone())).await;
    let sub = insert_subscription(&env, &receiver.url, None, "s").await;
    let _worker = spawn_worker(env.config()).await;
    let webhook_id = enqueue(&env, Some(sub.id), None, b"{}").await;

    let rows = finished_deliveries(&env, webhook_id, WAIT).await;
    let d = &rows[0];
    assert_eq!(
        (d.status.as_str(), d.attempts, d.last_status_code),
        ("failed", 3, Some(500))
    );
    assert_eq!(
        (d.error.as_deref(), d.next_retry_at),
        (Some("HTTP 500"), None)
    );
    let attempts = attempts(&env, webhook_id).await;
    let outcomes: Vec<_> = attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["Failed Attempt", "Failed Attempt", "Failure"]);
    assert_eq!(attempts[2].next_retry_at, None);
    let body = attempts[2]
        .response_body
        .as_deref()
        .expect("a response body");
    assert_eq!(
        body.len(),
        RESPONSE_BODY_LIMIT,
        "only the first 4096 bytes are kept"
    );
}

#[tokio::test]
async fn a_slow_receiver_times_out_without_holding_up_other_delivery() {
    let mut env = TestEnv::new().await;
    env.set("DELIVERY_TIMEOUT", Some("1s"))
        .set("RETRY_SCHEDULE", Some(""));
    let mut slow = Receiver::start(|_, _| Reply::status(200).delayed(Duration::from_secs(3))).await;
    let mut fast = Receiver::ok().await;
    let slow_sub = insert_subscription(&env, &slow.url, None, "s").await;
    let fast_sub = insert_subscription(&env, &fast.url, None, "s").await;
    let _worker = spawn_worker(env.config()).await;

    let stuck = enqueue(&env, Some(slow_sub.id), None, b"{}").await;
    slow.next(WAIT).await;
    // Deliveries to another receiver go through while the slow one holds its request.
    let quick = enqueue(&env, Some(fast_sub.id), None, b"{}").await;
    let got = fast.next(WAIT).await;
    assert_eq!(got.header("webhook-id"), Some(quick.to_string().as_str()));

    let rows = finished_deliveries(&env, stuck, WAIT).await;
    assert_eq!(
        (rows[0].status.as_str(), rows[0].error.as_deref()),
        ("failed", Some("timed out after 1s"))
    );
    let attempts = attempts(&env, stuck).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].outcome.as_str(), attempts[0].status_code),
        ("Failure", None)
    );
    let slow_finished =
        attempts[0].timestamp + chrono::TimeDelta::milliseconds(attempts[0].duration_ms);
    assert!(
        got.at < slow_finished,
        "the fast delivery ({}) waited for the slow one (finished {slow_finished})",
        got.at
    );
    assert!(
        (900..2_000).contains(&attempts[0].duration_ms),
        "{}ms",
        attempts[0].duration_ms
    );
}

#[tokio::test]
async fn refused_connections_dns_failures_and_redirects_are_delivery_failures() {
    let mut env = TestEnv::new().await;
    env.set("RETRY_SCHEDULE", Some(""));
    // A port nothing listens on: bind one, then let it go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let refused_sub = insert_subscription(&env, &format!("http://{closed}/"), None, "s").await;
    let mut redirecting = Receiver::start(|_, r| {
        if r.path == "/hook" {
            Reply::status(302).header("location", "/hook/elsewhere")
        } else {
            Reply::status(204)
        }
    })
    .await;
    let redirect_sub = insert_subscription(&env, &redirecting.url, None, "s").await;
    // RFC 6761: `.invalid` never resolves.
    let unknown_sub = insert_subscription(&env, "http://no-such-host.invalid/", None, "s").await;
    let _worker = spawn_worker(env.config()).await;

    let unknown = enqueue(&env, Some(unknown_sub.id), None, b"{}").await;
    let rows = finished_deliveries(&env, unknown, WAIT).await;
    let error = rows[0].error.as_deref().expect("an error");
    assert!(
        error.starts_with("DNS lookup failed: no-such-host.invalid"),
        "{error}"
    );

    let refused = enqueue(&env, Some(refused_sub.id), None, b"{}").await;
    let redirected = enqueue(&env, Some(redirect_sub.id), None, b"{}").await;

    let rows = finished_deliveries(&env, refused, WAIT).await;
    assert_eq!(
        (rows[0].status.as_str(), rows[0].error.as_deref()),
        ("failed", Some("connection refused"))
    );
    let a = &attempts(&env, refused).await[0];
    assert_eq!(
        (
            a.outcome.as_str(),
            a.status_code,
            a.response_body.as_deref()
        ),
        ("Failure", None, None)
    );

    let rows = finished_deliveries(&env, redirected, WAIT).await;
    assert_eq!(
        (rows[0].status.as_str(), rows[0].last_status_code),
        ("failed", Some(302))
    );
    let error = rows[0].error.as_deref().expect("an error");
    assert!(error.starts_with("HTTP 302"), "{error}");
    assert_eq!(redirecting.next(WAIT).await.path, "/hook");
    assert!(
        redirecting.drain().is_empty(),
        "the redirect was not followed"
    );
}

#[tokio::test]
async fn delivery_to_private_targets_is_refused_at_once_when_not_allowed() {
    let mut env = TestEnv::new().await;
    env.set("ALLOW_PRIVATE_TARGETS", Some("false"));
    let mut receiver = Receiver::ok().await;
    // The api would refuse this URL; insert it directly, as if allowed earlier.
    let sub = insert_subscription(&env, &receiver.url, None, "s").await;
    let localhost = insert_subscription(
        &env,
        &receiver.url.replace("127.0.0.1", "localhost"),
        None,
        "s",
    )
    .await;
    // The error names the address and, for a name, the host (CONTRACT §5).
    let mut cases = vec![
        (sub.id, "refused non-global address 127.0.0.1".to_owned()),
        (
            localhost.id,
            "refused non-global address 127.0.0.1, ::1 for host localhost".to_owned(),
        ),
    ];
    // A name that only resolves to private addresses is refused by the worker's resolver
    // (the machine's own host name usually is one); the error names the address.
    let host = std::fs::read_to_string("/etc/hostname")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let resolved: Vec<_> = tokio::net::lookup_host((host.as_str(), 80))
        .await
        .map(Iterator::collect)
        .unwrap_or_default();
    if !host.is_empty()
        && !resolved.is_empty()
        && resolved
            .iter()
            .all(|a: &std::net::SocketAddr| !hookrelay_shared::targets::is_global(a.ip()))
    {
        let named =
            insert_subscription(&env, &receiver.url.replace("127.0.0.1", &host), None, "s").await;
        cases.push((
            named.id,
            format!("{} for host {host}", resolved[resolved.len() - 1].ip()),
        ));
    }
    let _worker = spawn_worker(env.config()).await;

    for (sub_id, expected) in cases {
        let webhook_id = enqueue(&env, Some(sub_id), None, b"{}").await;
        let rows = finished_deliveries(&env, webhook_id, WAIT).await;
        assert_eq!(rows[0].status.as_str(), "failed");
        let error = rows[0].error.as_deref().expect("an error");
        assert!(error.contains(&expected), "{error} names {expected}");
        let attempts = attempts(&env, webhook_id).await;
        assert_eq!(attempts.len(), 1, "no retries for a refused target");
        assert_eq!(attempts[0].outcome, "Failure");
    }
    assert!(
        receiver.drain().is_empty(),
        "nothing reached the private address"
    );
}
