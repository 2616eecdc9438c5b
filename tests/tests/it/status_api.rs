//! `GET /status/{webhook_id}` end to end (CONTRACT §6): `queued` from the first moment,
//! 404 for unknown ids, and — with `webhooks`/`deliveries`/`attempts` rows written here
//! directly, as a worker would — the aggregate statuses and the full shape from Postgres.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel_async::RunQueryDsl;
use hookrelay_domain::webhooks::Attempt;
use hookrelay_domain::webhooks::Delivery;
use hookrelay_domain::webhooks::DeliveryStatus;
use hookrelay_domain::webhooks::NewWebhook;
use hookrelay_shared::schema::{attempts, deliveries, webhooks};
use hookrelay_shared::time;
use hookrelay_tests::TestEnv;
use hookrelay_tests::api::{TestApi, assert_timestamp, json};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

async fn status(api: &TestApi, id: Uuid) -> (u16, Value) {
    json(api.get(&format!("/status/{id}")).await).await
}

/// `t0` plus `ms` milliseconds.
fn at(t0: DateTime<Utc>, ms: i64) -> DateTime<Utc> {
    t0 + chrono::Duration::milliseconds(ms)
}

fn webhook(id: Uuid, targeted: Option<Uuid>, received_at: DateTime<Utc>) -> NewWebhook {
    NewWebhook {
        id,
        event_type: Some("order.created".into()),
        subscription_id: targeted,
        payload: b"{}".as_slice().into(),
        received_at,
        tenant_id: None,
        skip_subscription: None,
        envelope: None,
    }
}

fn delivery(
    webhook_id: Uuid,
    subscription_id: Uuid,
    status: DeliveryStatus,
    attempts: i32,
) -> Delivery {
    Delivery {
        webhook_id,
        subscription_id,
        target_url: format!("http://receiver.example/{subscription_id}"),
        status: status.as_str().into(),
        attempts,
        last_status_code: None,
        error: None,
        next_retry_at: None,
        updated_at: time::now(),
        received_at: time::now(),
    }
}

fn attempt(
    webhook_id: Uuid,
    subscription_id: Uuid,
    number: i32,
    timestamp: DateTime<Utc>,
    outcome: &str,
    code: i32,
) -> Attempt {
    Attempt {
        id: Uuid::now_v7(),
        webhook_id,
        subscription_id,
        target_url: format!("http://receiver.example/{subscription_id}"),
        timestamp,
        attempt_number: number,
        outcome: outcome.into(),
        status_code: Some(code),
        error: (code >= 300).then(|| format!("HTTP {code}")),
        duration_ms: 12,
        response_body: Some("ok".into()),
        next_retry_at: None,
    }
}

/// Writes the rows as a worker would have.
async fn seed(
    env: &TestEnv,
    webhook: NewWebhook,
    delivery_rows: Vec<Delivery>,
    attempt_rows: Vec<Attempt>,
) {
    let mut conn = env.db.pool().get().await.expect("a connection");
    diesel::insert_into(webhooks::table)
        .values(&webhook)
        .execute(&mut conn)
        .await
        .expect("insert webhook");
    if !delivery_rows.is_empty() {
        diesel::insert_into(deliveries::table)
            .values(&delivery_rows)
            .execute(&mut conn)
            .await
            .expect("insert deliveries");
    }
    if !attempt_rows.is_empty() {
        diesel::insert_into(attempts::table)
            .values(&attempt_rows)
            .execute(&mut conn)
            .await
            .expect("insert attempts");
    }
}

#[tokio::test]
async fn status_is_queued_right_after_ingest() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let sub = api
        .create_subscription(&json!({"target_url": "http://127.0.0.1:9/"}))
        .await;
    let sub_id = sub["id"].as_str().expect("id");

    let targeted = api
        .request(Method::POST, &format!("/ingest/{sub_id}"))
        .header("x-event-type", "order.created")
        .body("{}")
        .send()
        .await
        .expect("sent");
    let (code, accepted) = json(targeted).await;
    assert_eq!(code, 202);
    let id: Uuid = accepted["webhook_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let (code, mut body) = status(&api, id).await;
    assert_eq!(code, 200, "{body}");
    assert_timestamp(&body["received_at"]);
    body["received_at"] = Value::Null;
    assert_eq!(
        body,
        json!({
            "webhook_id": id, "event_type": "order.created", "received_at": null, "status": "queued", "deliver_at": null,
            "subscription_id": sub_id, "total_attempts": 0, "final_outcome": null, "last_attempt_at": null,
            "last_status_code": null, "error": null, "recent_attempts": [], "deliveries": []
        })
    );

    // Fan-out without an event type; upper-case unhyphenated ids work too.
    let (_, accepted) = json(
        api.request(Method::POST, "/ingest")
            .body("[]")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    let id = accepted["webhook_id"].as_str().expect("id").to_owned();
    let (code, body) = json(
        api.get(&format!("/status/{}", id.replace('-', "").to_uppercase()))
            .await,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        (&body["webhook_id"], &body["status"]),
        (&json!(id), &json!("queued"))
    );
    assert_eq!(
        (&body["event_type"], &body["subscription_id"]),
        (&Value::Null, &Value::Null)
    );
}

#[tokio::test]
async fn status_of_unknown_and_malformed_ids() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    assert_eq!(
        status(&api, Uuid::new_v4()).await,
        (
            404,
            json!({"detail": "No delivery logs for given webhook_id"})
        )
    );
    let (code, body) = json(api.get("/status/not-a-uuid").await).await;
    assert_eq!(code, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["path", "webhook_id"]));
}

#[tokio::test]
async fn status_aggregates_the_deliveries_from_postgres() {
    use DeliveryStatus::{Failed, Pending, Retrying, Succeeded};
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let t0 = time::now();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let cases = [
        (vec![], "no_subscribers"),
        (vec![(a, Succeeded)], "delivered"),
        (vec![(a, Succeeded), (b, Succeeded)], "delivered"),
        (vec![(a, Succeeded), (b, Failed)], "failed"),
        (vec![(a, Failed)], "failed"),
        (vec![(a, Succeeded), (b, Retrying)], "delivering"),
        (vec![(a, Pending)], "delivering"),
    ];
    for (rows, expected) in cases {
        let id = Uuid::now_v7();
        let rows: Vec<_> = rows
            .into_iter()
            .map(|(sub, s)| delivery(id, sub, s, 1))
            .collect();
        seed(&env, webhook(id, None, t0), rows, vec![]).await;
        let (code, body) = status(&api, id).await;
        assert_eq!(
            (code, body["status"].clone()),
            (200, json!(expected)),
            "{body}"
        );
    }
}

#[tokio::test]
async fn status_from_postgres_has_the_contract_shape() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let t0 = time::now();
    let id = Uuid::now_v7();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    // a: 24 failed attempts then a success; b: one failure, retrying.
    let mut rows: Vec<_> = (1..=24)
        .map(|n| attempt(id, a, n, at(t0, i64::from(n) * 10), "Failed Attempt", 500))
        .collect();
    rows.push(attempt(id, a, 25, at(t0, 250), "Success", 200));
    rows.push(attempt(id, b, 1, at(t0, 300), "Failed Attempt", 503));
    let mut retrying = delivery(id, b, DeliveryStatus::Retrying, 1);
    retrying.last_status_code = Some(503);
    retrying.error = Some("HTTP 503".into());
    retrying.next_retry_at = Some(at(t0, 10_300));
    let mut succeeded = delivery(id, a, DeliveryStatus::Succeeded, 25);
    succeeded.last_status_code = Some(200);
    seed(
        &env,
        webhook(id, None, t0),
        vec![succeeded, retrying.clone()],
        rows,
    )
    .await;

    let (code, body) = status(&api, id).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["webhook_id"], json!(id));
    assert_eq!(body["event_type"], "order.created");
    assert_eq!(body["received_at"], json!(time::format(&t0)));
    assert_eq!(body["status"], "delivering");
    assert_eq!(body["total_attempts"], 26);
    // Top-level fields come from the newest attempt: b's failure.
    assert_eq!(body["subscription_id"], json!(b));
    assert_eq!(body["final_outcome"], "Failed Attempt");
    assert_eq!(body["last_status_code"], 503);
    assert_eq!(body["error"], "HTTP 503");
    assert_eq!(body["last_attempt_at"], json!(time::format(&at(t0, 300))));

    let recent = body["recent_attempts"].as_array().expect("a list");
    assert_eq!(recent.len(), 20);
    let times: Vec<&str> = recent
        .iter()
        .map(|a| a["timestamp"].as_str().expect("timestamp"))
        .collect();
    let mut newest_first = times.clone();
    newest_first.sort_by(|x, y| y.cmp(x));
    assert_eq!(times, newest_first);
    assert_eq!(recent[1]["outcome"], "Success");
    let keys: Vec<&String> = recent[0].as_object().expect("object").keys().collect();
    for key in [
        "id",
        "webhook_id",
        "subscription_id",
        "target_url",
        "timestamp",
        "attempt_number",
        "outcome",
        "status_code",
        "error",
        "duration_ms",
        "response_body",
        "next_retry_at",
    ] {
        assert!(keys.iter().any(|k| *k == key), "attempt lacks {key}");
    }

    let deliveries = body["deliveries"].as_array().expect("a list");
    assert_eq!(deliveries.len(), 2);
    let of_b = deliveries
        .iter()
        .find(|d| d["subscription_id"] == json!(b))
        .expect("b's delivery");
    assert_eq!(
        of_b,
        &json!({"subscription_id": b, "target_url": retrying.target_url, "status": "retrying", "attempts": 1,
                "last_status_code": 503, "error": "HTTP 503", "next_retry_at": time::format(&at(t0, 10_300))})
    );
    assert_timestamp(&of_b["next_retry_at"]);
}

#[tokio::test]
async fn status_of_a_targeted_webhook_before_its_first_attempt_names_the_target() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let id = Uuid::now_v7();
    let target = Uuid::new_v4();
    seed(
        &env,
        webhook(id, Some(target), time::now()),
        vec![delivery(id, target, DeliveryStatus::Pending, 0)],
        vec![],
    )
    .await;
    let (_, body) = status(&api, id).await;
    assert_eq!(body["status"], "delivering");
    assert_eq!(body["subscription_id"], json!(target));
    assert_eq!(body["total_attempts"], 0);
    assert_eq!(body["final_outcome"], Value::Null);
}

/// A worker storing the webhook and deleting its `queued:` marker while status requests
/// keep coming: every answer is 200, first `queued`, then from Postgres.
#[tokio::test]
async fn status_never_flickers_to_404_while_a_worker_stores_the_webhook() {
    let env = TestEnv::new().await;
    let api = std::sync::Arc::new(env.spawn_api().await);
    for _ in 0..20 {
        let (_, accepted) = json(
            api.request(Method::POST, "/ingest")
                .body("{}")
                .send()
                .await
                .expect("sent"),
        )
        .await;
        let id: Uuid = accepted["webhook_id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid");
        let poller = tokio::spawn({
            let api = api.clone();
            async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                loop {
                    let (code, body) = status(&api, id).await;
                    assert_eq!(code, 200, "{body}");
                    if body["status"] != "queued" {
                        return body;
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "status stayed queued"
                    );
                }
            }
        });
        // What a worker does: store in Postgres, then delete the marker.
        seed(&env, webhook(id, None, time::now()), vec![], vec![]).await;
        let mut redis = env.redis().await;
        deadpool_redis::redis::cmd("DEL")
            .arg(env.keys().origin(id).queued(id))
            .query_async::<()>(&mut redis)
            .await
            .expect("DEL");
        let body = poller.await.expect("the poller saw no 404");
        assert_eq!(body["status"], "no_subscribers");
    }
}
