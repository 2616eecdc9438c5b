//! The api's `/metrics` (CONTRACT §8): open, Prometheus text, with ingest counts by route
//! and outcome, queue depths read from Redis at scrape time, and subscription cache hits
//! and misses. The recorder is process-wide, so the counts are exact only in a process of
//! the test's own: nextest gives every test one, and `scripts/test.sh` runs this module
//! apart under plain `cargo test`.

use hookrelay_shared::keys::Partition;
use std::time::Duration;

use hookrelay_tests::metrics::{sample, total};
use hookrelay_tests::{Receiver, TestEnv, eventually};
use serde_json::json;

#[tokio::test]
async fn api_metrics_count_ingest_queue_depths_and_cache_lookups() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let receiver = Receiver::ok().await;
    let sub = api
        .create_subscription(&json!({"target_url": receiver.url}))
        .await;
    let id = sub["id"].as_str().expect("an id");

    // Every ingest series exists from the start, at zero.
    let page = api.metrics_page().await;
    for route in ["targeted", "fan_out"] {
        for outcome in ["accepted", "replayed", "rejected", "unavailable"] {
            let labels = [("route", route), ("outcome", outcome)];
            assert_eq!(
                sample(&page, "hookrelay_ingest_total", &labels),
                Some(0.0),
                "{route} {outcome}: {page}"
            );
        }
    }

    // No worker runs: everything accepted stays ready in the stream.
    for _ in 0..3 {
        let response = api
            .post_json(&format!("/ingest/{id}"), &json!({"n": 1}))
            .await;
        assert_eq!(response.status(), 202);
    }
    let response = api.post_json("/ingest", &json!({"n": 2})).await;
    assert_eq!(response.status(), 202);
    let bad = api
        .request(reqwest::Method::POST, &format!("/ingest/{id}"))
        .body("not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(bad.status(), 400);
    let unknown = api
        .post_json(&format!("/ingest/{}", uuid::Uuid::new_v4()), &json!({}))
        .await;
    assert_eq!(unknown.status(), 404);
    // A retry waiting in the schedule.
    let mut redis = env.redis().await;
    deadpool_redis::redis::cmd("ZADD")
        .arg(
            env.keys()
                .partition(Partition::Numbered(0))
                .retry_schedule(),
        )
        .arg(i64::MAX / 2)
        .arg("a-retry")
        .query_async::<i64>(&mut redis)
        .await
        .expect("ZADD");

    // Open, like the probes: no Authorization header.
    let page = eventually(
        Duration::from_secs(5),
        "queue depths on /metrics",
        || async {
            let response = api.client.get(api.url("/metrics")).send().await.ok()?;
            assert_eq!(response.status(), 200);
            let content_type = response
                .headers()
                .get("content-type")?
                .to_str()
                .ok()?
                .to_owned();
            assert!(content_type.starts_with("text/plain"), "{content_type}");
            let page = response.text().await.ok()?;
            (total(&page, "hookrelay_queue_depth", &[("queue", "ready")]) == Some(4.0))
                .then_some(page)
        },
    )
    .await;

    let ingest = |route, outcome| {
        sample(
            &page,
            "hookrelay_ingest_total",
            &[("route", route), ("outcome", outcome)],
        )
    };
    assert_eq!(ingest("targeted", "accepted"), Some(3.0), "{page}");
    assert_eq!(ingest("fan_out", "accepted"), Some(1.0), "{page}");
    assert_eq!(ingest("targeted", "rejected"), Some(2.0), "{page}");
    assert!(
        sample(
            &page,
            "hookrelay_ingest_duration_seconds_count",
            &[("route", "targeted")]
        )
        .is_some(),
        "{page}"
    );
    assert_eq!(
        total(&page, "hookrelay_queue_depth", &[("queue", "in_flight")]),
        Some(0.0),
        "{page}"
    );
    assert_eq!(
        total(&page, "hookrelay_queue_depth", &[("queue", "scheduled")]),
        Some(1.0),
        "{page}"
    );
    // Each partition has its own series (CONTRACT §16): the retry is partition 0's.
    assert_eq!(
        sample(
            &page,
            "hookrelay_queue_depth",
            &[("queue", "scheduled"), ("partition", "0")]
        ),
        Some(1.0),
        "{page}"
    );
    for partition in ["1", "15", "unpartitioned"] {
        assert_eq!(
            sample(
                &page,
                "hookrelay_queue_depth",
                &[("queue", "scheduled"), ("partition", partition)]
            ),
            Some(0.0),
            "{page}"
        );
    }
    let cache = |result| {
        sample(
            &page,
            "hookrelay_cache_lookups_total",
            &[("result", result)],
        )
    };
    assert!(cache("hit").is_some_and(|n| n >= 3.0), "{page}");
    assert!(cache("miss").is_some_and(|n| n >= 1.0), "{page}");
}
