//! The worker's `/metrics` at `METRICS_ADDR` (CONTRACT §8): attempts by outcome, the
//! attempt latency histogram, deliveries finished by final status, queue depths, and the
//! purge's rows and runs. The recorder is process-wide, so the counts are exact only in a
//! process of the test's own: nextest gives every test one, and `scripts/test.sh` runs this
//! module apart under plain `cargo test`.

use std::time::Duration;

use hookrelay_tests::metrics::{sample, scrape, total};
use hookrelay_tests::worker::{enqueue, finished_deliveries, insert_subscription, spawn_worker};
use hookrelay_tests::{Receiver, Reply, TestEnv, eventually};

#[tokio::test]
async fn worker_metrics_cover_attempts_deliveries_queues_and_the_purge() {
    let mut env = TestEnv::new().await;
    env.set("METRICS_ADDR", Some("127.0.0.1:0"))
        .set("RETRY_SCHEDULE", Some(""))
        .set("LOG_RETENTION", Some("1h"))
        .set("PURGE_SCHEDULE", Some("*/1 * * * * *"));
    let old_attempts = 25;
    env.db
        .execute_sql(&format!(
        "INSERT INTO attempts SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'http://r.test/', \
         now() - interval '2 hours', 1, 'Success', 200, NULL, 5, NULL, NULL FROM generate_series(1, {old_attempts});"
        ))
        .await;

    let ok = Receiver::ok().await;
    let failing = Receiver::start(|_, _| Reply::status(500)).await;
    let good = insert_subscription(&env, &ok.url, None, "whsec_c2VjcmV0").await;
    let bad = insert_subscription(&env, &failing.url, None, "whsec_c2VjcmV0").await;
    let worker = spawn_worker(env.config()).await;
    let addr = worker.metrics_addr.expect("metrics are served");

    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .expect("GET /healthz");
    assert_eq!(health.status(), 200);
    // Before any attempt, every outcome and final status is already a series at zero.
    let page = scrape(&format!("http://{addr}/metrics")).await;
    for outcome in ["Success", "Failed Attempt", "Failure"] {
        let value = sample(
            &page,
            "hookrelay_attempts_total",
            &[("outcome", outcome), ("destination", "http")],
        );
        assert_eq!(value, Some(0.0), "{outcome} before any attempt:\n{page}");
    }
    for status in ["succeeded", "failed"] {
        let value = sample(
            &page,
            "hookrelay_deliveries_finished_total",
            &[("status", status)],
        );
        assert_eq!(value, Some(0.0), "{status} before any delivery:\n{page}");
    }
    // Other paths and methods answer like the api does.
    let client = reqwest::Client::new();
    let missing = client
        .get(format!("http://{addr}/nope"))
        .send()
        .await
        .expect("sent");
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.expect("JSON");
    assert_eq!(body["detail"], "Not Found");
    let wrong = client
        .post(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("sent");
    assert_eq!(wrong.status(), 405);

    for subscription in [good.id, bad.id] {
        let id = enqueue(&env, Some(subscription), Some("order.created"), b"{}").await;
        finished_deliveries(&env, id, Duration::from_secs(15)).await;
    }

    let page = eventually(
        Duration::from_secs(15),
        "delivery, queue and purge metrics",
        || async {
            let page = reqwest::get(format!("http://{addr}/metrics"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            let purged = sample(
                &page,
                "hookrelay_purged_rows_total",
                &[("table", "attempts")],
            )?;
            // A delivery is counted finished after its state is committed, which is what
            // `finished_deliveries` waited for: poll for the counts too.
            let finished = ["succeeded", "failed"]
                .iter()
                .map(|status| {
                    sample(
                        &page,
                        "hookrelay_deliveries_finished_total",
                        &[("status", status)],
                    )
                })
                .sum::<Option<f64>>()?;
            let depth = total(&page, "hookrelay_queue_depth", &[("queue", "ready")]);
            // Rows are counted batch by batch, the run once it has finished.
            let runs = sample(&page, "hookrelay_purge_runs_total", &[("result", "purged")])?;
            (purged >= old_attempts as f64 && finished >= 2.0 && depth.is_some() && runs >= 1.0)
                .then_some(page)
        },
    )
    .await;

    assert_eq!(
        sample(
            &page,
            "hookrelay_attempts_total",
            &[("outcome", "Success"), ("destination", "http")]
        ),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        sample(
            &page,
            "hookrelay_attempts_total",
            &[("outcome", "Failure"), ("destination", "http")]
        ),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        sample(
            &page,
            "hookrelay_deliveries_finished_total",
            &[("status", "succeeded")]
        ),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        sample(
            &page,
            "hookrelay_deliveries_finished_total",
            &[("status", "failed")]
        ),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, "hookrelay_attempt_duration_seconds_count", &[]),
        Some(2.0),
        "{page}"
    );
    assert!(
        sample(
            &page,
            "hookrelay_attempt_duration_seconds_bucket",
            &[("le", "+Inf")]
        )
        .is_some(),
        "{page}"
    );
    for queue in ["ready", "in_flight", "scheduled"] {
        assert!(
            total(&page, "hookrelay_queue_depth", &[("queue", queue)]).is_some(),
            "{queue}: {page}"
        );
    }
    assert!(
        sample(
            &page,
            "hookrelay_purged_rows_total",
            &[("table", "webhooks")]
        )
        .is_some(),
        "{page}"
    );
    assert!(
        sample(&page, "hookrelay_purge_runs_total", &[("result", "purged")])
            .is_some_and(|n| n >= 1.0),
        "{page}"
    );
    worker.stop().await;
}
