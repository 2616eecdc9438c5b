//! `GET /webhooks` end to end, with the real api and worker delivering to real
//! receivers: webhooks that succeed, fail (a per-subscription `retry_schedule` of one
//! short retry), stay retrying and have no subscriber, in the default space and in two
//! tenants; then every filter, paging, newest first, tenant isolation and the 422s.

use std::time::Duration;

use hookrelay_tests::api::{Caller, json};
use hookrelay_tests::worker::{finished_deliveries, spawn_worker};
use hookrelay_tests::{API_KEY, Receiver, Reply, TestEnv, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

/// Ingests `{}` with this event type, by fan-out or to one subscription; the webhook id.
async fn ingest(caller: &Caller<'_>, target: Option<&str>, event_type: &str) -> String {
    let path = target.map_or("/ingest".to_owned(), |s| format!("/ingest/{s}"));
    caller
        .ingest_accepted(&path, &[("x-event-type", event_type)], "{}")
        .await
        .to_string()
}

async fn subscription(caller: &Caller<'_>, url: &str, retry_schedule: &[&str]) -> String {
    caller
        .create_subscription_id(&json!({"target_url": url, "retry_schedule": retry_schedule}))
        .await
}

async fn search(caller: &Caller<'_>, query: &str) -> (u16, Value) {
    json(caller.get(&format!("/webhooks{query}")).await).await
}

/// The ids `GET /webhooks<query>` lists, in order.
async fn ids(caller: &Caller<'_>, query: &str) -> Vec<String> {
    let (status, body) = search(caller, query).await;
    assert_eq!(status, 200, "{query}: {body}");
    body.as_array()
        .expect("a list")
        .iter()
        .map(|w| w["webhook_id"].as_str().expect("webhook_id").to_owned())
        .collect()
}

/// Waits until every delivery of the webhook has finished.
async fn finish(env: &TestEnv, id: &str) {
    finished_deliveries(env, id.parse().expect("a UUID"), WAIT).await;
}

fn own(ids: &[&String]) -> Vec<String> {
    ids.iter().map(|id| (*id).clone()).collect()
}

#[tokio::test]
async fn webhooks_are_found_by_every_filter_newest_first() {
    let env = TestEnv::new().await;
    let ok = Receiver::ok().await;
    let failing = Receiver::start(|_, _| Reply::status(500)).await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let admin = api.as_key(API_KEY);
    let acme = api.create_tenant_key("acme").await;
    let globex = api.create_tenant_key("globex").await;
    let (tenant, key) = (acme.tenant_id, acme.key);
    let (empty_tenant, empty_key) = (globex.tenant_id, globex.key);
    let tenant_caller = api.as_key(&key);
    let empty_caller = api.as_key(&empty_key);

    let sub_ok = subscription(&admin, &ok.url, &[]).await;
    let sub_fail = subscription(&admin, &failing.url, &["50ms"]).await;
    let tenant_sub = subscription(&tenant_caller, &ok.url, &[]).await;

    // Oldest first: fan-out to both default subscriptions (one fails: failed), targeted
    // ok (delivered), targeted failing (failed), the tenant's (delivered), the empty
    // tenant's fan-out (no subscribers), and last one still retrying (delivering).
    let fan_out = ingest(&admin, None, "order.paid").await;
    finish(&env, &fan_out).await;
    let delivered = ingest(&admin, Some(&sub_ok), "order.shipped").await;
    finish(&env, &delivered).await;
    let failed = ingest(&admin, Some(&sub_fail), "order.paid").await;
    finish(&env, &failed).await;
    let in_tenant = ingest(&tenant_caller, None, "order.paid").await;
    finish(&env, &in_tenant).await;
    let no_subscribers = ingest(&empty_caller, None, "order.paid").await;
    let sub_slow = subscription(&admin, &failing.url, &["10m"]).await;
    let retrying = ingest(&admin, Some(&sub_slow), "order.refunded").await;
    for (id, expected) in [
        (&fan_out, "failed"),
        (&delivered, "delivered"),
        (&failed, "failed"),
        (&in_tenant, "delivered"),
        (&no_subscribers, "no_subscribers"),
    ] {
        assert_eq!(api.webhook_status(id).await["status"], expected, "{id}");
    }
    eventually(WAIT, "the retrying webhook's first attempt", || async {
        let status = api.webhook_status(&retrying).await;
        (status["total_attempts"] == 1 && status["status"] == "delivering").then_some(())
    })
    .await;
    let everything = [
        &retrying,
        &no_subscribers,
        &in_tenant,
        &failed,
        &delivered,
        &fan_out,
    ]
    .map(|id| id.to_string());
    let default_space = [&retrying, &failed, &delivered, &fan_out].map(|id| id.to_string());

    // No filter: every tenant's, newest first, each summary as stored.
    assert_eq!(ids(&admin, "").await, everything);
    let (_, list) = search(&admin, "").await;
    let summary = |id: &str| {
        list.as_array()
            .expect("a list")
            .iter()
            .find(|w| w["webhook_id"] == id)
            .cloned()
            .expect("listed")
    };
    let first = summary(&fan_out);
    assert_eq!(first["tenant_id"], Value::Null);
    assert_eq!(first["event_type"], "order.paid");
    assert_eq!(first["status"], "failed");
    assert_eq!(first["subscription_id"], Value::Null);
    assert_eq!(first["deliveries"], 2);
    let targeted = summary(&failed);
    assert_eq!(targeted["subscription_id"], json!(sub_fail));
    assert_eq!(targeted["deliveries"], 1);
    assert_eq!(
        targeted["received_at"],
        api.webhook_status(&failed).await["received_at"]
    );
    assert_eq!(summary(&in_tenant)["tenant_id"], json!(tenant));
    assert_eq!(summary(&no_subscribers)["deliveries"], 0);
    assert_eq!(summary(&retrying)["status"], "delivering");

    // Each filter alone, and together.
    assert_eq!(
        ids(&admin, "?status=failed").await,
        own(&[&failed, &fan_out])
    );
    assert_eq!(
        ids(&admin, "?status=delivered").await,
        own(&[&in_tenant, &delivered])
    );
    assert_eq!(ids(&admin, "?status=delivering").await, own(&[&retrying]));
    assert_eq!(
        ids(&admin, "?status=no_subscribers").await,
        own(&[&no_subscribers])
    );
    assert!(ids(&admin, "?status=queued").await.is_empty());
    let by_sub = |sub: &str| format!("?subscription_id={sub}");
    assert_eq!(
        ids(&admin, &by_sub(&sub_fail)).await,
        own(&[&failed, &fan_out])
    );
    assert_eq!(
        ids(&admin, &by_sub(&sub_ok)).await,
        own(&[&delivered, &fan_out])
    );
    assert_eq!(
        ids(&admin, &by_sub(&sub_ok.to_uppercase().replace('-', ""))).await,
        own(&[&delivered, &fan_out])
    );
    // The webhook's status, not the delivery's: the fan-out failed elsewhere.
    assert_eq!(
        ids(&admin, &format!("?status=failed&subscription_id={sub_ok}")).await,
        own(&[&fan_out])
    );
    assert!(
        ids(
            &admin,
            &format!("?status=delivered&subscription_id={sub_fail}")
        )
        .await
        .is_empty()
    );
    assert_eq!(
        ids(&admin, "?event_type=order.paid").await,
        own(&[&no_subscribers, &in_tenant, &failed, &fan_out])
    );
    assert!(ids(&admin, "?event_type=order").await.is_empty());
    let at = |id: &str| {
        summary(id)["received_at"]
            .as_str()
            .expect("received_at")
            .to_owned()
    };
    let since = format!("?since={}", at(&failed));
    assert_eq!(ids(&admin, &since).await, everything[..4].to_vec());
    let until = format!("?until={}", at(&failed));
    assert_eq!(ids(&admin, &until).await, everything[4..].to_vec());
    let window = format!(
        "?since={}&until={}&event_type=order.paid",
        at(&delivered),
        at(&no_subscribers)
    );
    assert_eq!(ids(&admin, &window).await, own(&[&in_tenant, &failed]));
    let all = format!(
        "?since={}&until={}&event_type=order.paid&status=failed&subscription_id={sub_fail}",
        at(&fan_out),
        at(&retrying)
    );
    assert_eq!(ids(&admin, &all).await, own(&[&failed, &fan_out]));
    // An offset other than Z names the same instant.
    let since_offset = at(&failed).replace('Z', "+00:00").replace('+', "%2B");
    assert_eq!(
        ids(&admin, &format!("?since={since_offset}")).await,
        everything[..4].to_vec()
    );

    // Paging.
    assert_eq!(ids(&admin, "?limit=2").await, everything[..2].to_vec());
    assert_eq!(
        ids(&admin, "?skip=2&limit=3").await,
        everything[2..5].to_vec()
    );
    assert_eq!(ids(&admin, "?skip=5").await, everything[5..].to_vec());
    assert!(ids(&admin, "?limit=0").await.is_empty());
    assert!(ids(&admin, "?skip=6").await.is_empty());

    // Tenants: a tenant key sees its own only, whatever it asks for; an admin key names
    // a space with ?tenant_id=.
    assert_eq!(ids(&tenant_caller, "").await, own(&[&in_tenant]));
    let theirs = format!("?tenant_id={empty_tenant}");
    assert_eq!(ids(&tenant_caller, &theirs).await, own(&[&in_tenant]));
    assert!(
        ids(&tenant_caller, &by_sub(&sub_ok)).await.is_empty(),
        "another space's subscription"
    );
    assert_eq!(
        ids(&empty_caller, "?event_type=order.paid").await,
        own(&[&no_subscribers])
    );
    assert_eq!(ids(&admin, &theirs).await, own(&[&no_subscribers]));
    assert_eq!(ids(&admin, "?tenant_id=default").await, default_space);
    assert_eq!(
        ids(&admin, "?tenant_id=default&status=delivered").await,
        own(&[&delivered])
    );
    let (status, body) = search(&admin, &format!("?tenant_id={}", Uuid::new_v4())).await;
    assert_eq!((status, body), (404, json!({"detail": "Tenant not found"})));
    assert_eq!(
        ids(&tenant_caller, &by_sub(&tenant_sub)).await,
        own(&[&in_tenant])
    );

    // 422s name the field.
    for (query, field) in [
        ("?status=lost", "status"),
        ("?status=", "status"),
        ("?subscription_id=nope", "subscription_id"),
        ("?since=yesterday", "since"),
        ("?until=2026-13-01T00:00:00Z", "until"),
        ("?limit=1001", "limit"),
        ("?skip=-1", "skip"),
        ("?tenant_id=acme", "tenant_id"),
    ] {
        let (status, body) = search(&admin, query).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["query", field]), "{query}");
    }
    let (status, _) = search(&admin, "?limit=1000").await;
    assert_eq!(status, 200);
    // A window that ends before it starts holds nothing.
    let (status, body) = search(
        &admin,
        "?since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z",
    )
    .await;
    assert_eq!((status, body), (200, json!([])));
}
