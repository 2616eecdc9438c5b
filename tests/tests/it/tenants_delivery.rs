//! Tenants through ingest and delivery, with the real api and worker: fan-out stays
//! inside the ingesting key's tenant (or the `X-Tenant-Id` an admin key names), targeted
//! ingest needs the subscription in reach, and deleting a tenant ends everything it had
//! under way — retrying deliveries, and webhooks still queued — as `failed` /
//! `subscription deleted`, with its keys refused and its id unknown.

use std::time::Duration;

use hookrelay_tests::api::{Caller, json};
use hookrelay_tests::worker::{attempts, finished_deliveries, spawn_worker};
use hookrelay_tests::{Receiver, Reply, TestApi, TestEnv, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

/// The webhook id of an ingest answer, asserting 202.
fn webhook_id(status: u16, body: &Value) -> Uuid {
    assert_eq!(status, 202, "{body}");
    hookrelay_tests::api::webhook_id(body)
}

/// Ingests `{}` for one subscription with `headers`; the status and JSON.
async fn targeted(
    caller: &Caller<'_>,
    subscription: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    caller
        .ingest_at(&format!("/ingest/{subscription}"), headers, "{}")
        .await
}

/// A tenant, a key of it with every permission, and one subscription to `url`.
async fn tenant(api: &TestApi, name: &str, url: &str) -> (String, String, String) {
    let tenant = api.create_tenant_key(name).await;
    let sub = api
        .as_key(&tenant.key)
        .create_subscription_id(&json!({"target_url": url}))
        .await;
    (tenant.tenant_id, tenant.key, sub)
}

/// The one subscription the webhook was delivered to.
async fn delivered_to(env: &TestEnv, id: Uuid) -> String {
    let rows = finished_deliveries(env, id, WAIT).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].status, "succeeded");
    rows[0].subscription_id.to_string()
}

#[tokio::test]
async fn fan_out_and_targeted_ingest_stay_inside_the_tenant() {
    let env = TestEnv::new().await;
    let receiver = Receiver::ok().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let (a, a_key, a_sub) = tenant(&api, "acme", &receiver.url).await;
    let (b, b_key, b_sub) = tenant(&api, "globex", &receiver.url).await;
    let default_sub = api
        .create_subscription_id(&json!({"target_url": receiver.url}))
        .await;
    let a_caller = api.as_key(&a_key);
    let b_caller = api.as_key(&b_key);

    // Fan-out: the tenant key's tenant; an X-Tenant-Id it sends is ignored.
    let (status, body) = a_caller.ingest(&[], "{}").await;
    assert_eq!(delivered_to(&env, webhook_id(status, &body)).await, a_sub);
    let (status, body) = a_caller.ingest(&[("x-tenant-id", &b)], "{}").await;
    assert_eq!(delivered_to(&env, webhook_id(status, &body)).await, a_sub);
    let (status, body) = b_caller.ingest(&[], "{}").await;
    assert_eq!(delivered_to(&env, webhook_id(status, &body)).await, b_sub);

    // An Idempotency-Key is per tenant: the same key in two tenants is two webhooks.
    let once = [("idempotency-key", "order-42")];
    let (status, body) = a_caller.ingest(&once, "{}").await;
    let in_a = webhook_id(status, &body);
    let (status, body) = b_caller.ingest(&once, "{}").await;
    let in_b = webhook_id(status, &body);
    assert_ne!(in_a, in_b);
    assert_eq!(delivered_to(&env, in_a).await, a_sub);
    assert_eq!(delivered_to(&env, in_b).await, b_sub);
    let (status, body) = b_caller.ingest(&once, "{}").await;
    assert_eq!(
        webhook_id(status, &body),
        in_b,
        "a repeat within the tenant"
    );

    // An admin key: the default space, or the tenant it names.
    let admin = api.as_key(hookrelay_tests::API_KEY);
    let (status, body) = admin.ingest(&[], "{}").await;
    assert_eq!(
        delivered_to(&env, webhook_id(status, &body)).await,
        default_sub
    );
    let (status, body) = admin.ingest(&[("x-tenant-id", &b)], "{}").await;
    assert_eq!(delivered_to(&env, webhook_id(status, &body)).await, b_sub);
    let (status, body) = admin
        .ingest(&[("x-tenant-id", &Uuid::new_v4().to_string())], "{}")
        .await;
    assert_eq!((status, body), (404, json!({"detail": "Tenant not found"})));
    let (status, body) = admin.ingest(&[("x-tenant-id", "acme")], "{}").await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["header", "x-tenant-id"]));

    // Targeted: only a subscription in reach.
    let (status, body) = targeted(&a_caller, &b_sub, &[]).await;
    assert_eq!(
        (status, body),
        (404, json!({"detail": "Subscription not found"}))
    );
    let (status, _) = targeted(&a_caller, &default_sub, &[]).await;
    assert_eq!(status, 404);
    let (status, _) = targeted(&admin, &b_sub, &[("x-tenant-id", &a)]).await;
    assert_eq!(status, 404, "X-Tenant-Id narrows an admin key's reach");
    let (status, body) = targeted(&admin, &b_sub, &[]).await;
    let id = webhook_id(status, &body);
    assert_eq!(delivered_to(&env, id).await, b_sub);
    // That webhook belongs to the subscription's tenant: B sees its status, A does not.
    assert_eq!(b_caller.get(&format!("/status/{id}")).await.status(), 200);
    let (status, body) = json(a_caller.get(&format!("/status/{id}")).await).await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"detail": "No delivery logs for given webhook_id"})
        )
    );
}

#[tokio::test]
async fn deleting_a_tenant_ends_its_deliveries_and_refuses_its_keys() {
    let mut env = TestEnv::new().await;
    // Long enough that the retrying delivery is still waiting when the tenant goes.
    env.set("RETRY_SCHEDULE", Some("30s,30s"));
    let mut failing = Receiver::start(|_, _| Reply::status(500)).await;
    let api = env.spawn_api().await;
    let other_api = env.spawn_api().await;
    let (retrying_tenant, retrying_key, retrying_sub) =
        tenant(&api, "retrying", &failing.url).await;
    let (queued_tenant, queued_key, queued_sub) = tenant(&api, "queued", &failing.url).await;

    // Webhooks queued while no worker runs: fanned out only after their tenant is gone.
    let queued = api.as_key(&queued_key);
    let (status, body) = targeted(&queued, &queued_sub, &[]).await;
    let queued_targeted = webhook_id(status, &body);
    let (status, body) = queued.ingest(&[], "{}").await;
    let queued_fan_out = webhook_id(status, &body);
    assert_eq!(
        api.delete(&format!("/tenants/{queued_tenant}"))
            .await
            .status(),
        204
    );

    // A delivery under way: attempted once, now waiting for its retry.
    let worker = spawn_worker(env.config()).await;
    let (status, body) = targeted(&api.as_key(&retrying_key), &retrying_sub, &[]).await;
    let under_way = webhook_id(status, &body);
    failing.next(WAIT).await;
    eventually(WAIT, "the first attempt to be logged", || async {
        (!attempts(&env, under_way).await.is_empty()).then_some(())
    })
    .await;
    assert_eq!(
        api.delete(&format!("/tenants/{retrying_tenant}"))
            .await
            .status(),
        204
    );

    for id in [under_way, queued_targeted] {
        let rows = finished_deliveries(&env, id, WAIT).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(
            (rows[0].status.as_str(), rows[0].error.as_deref()),
            ("failed", Some("subscription deleted")),
            "webhook {id}"
        );
    }
    let status = eventually(WAIT, "the queued fan-out to be resolved", || async {
        let (_, status) = json(api.get(&format!("/status/{queued_fan_out}")).await).await;
        (status["status"] != "queued").then_some(status)
    })
    .await;
    assert_eq!(status["status"], "no_subscribers", "{status}");
    assert_eq!(
        attempts(&env, under_way).await.len(),
        1,
        "no attempt after the delete"
    );

    // Its keys and its id are gone everywhere.
    for key in [&retrying_key, &queued_key] {
        eventually(
            Duration::from_millis(1500),
            "the tenant's key to be refused",
            || async {
                (other_api.as_key(key).get("/subscriptions").await.status() == 401).then_some(())
            },
        )
        .await;
    }
    let admin = other_api.as_key(hookrelay_tests::API_KEY);
    eventually(
        Duration::from_millis(1500),
        "the tenant to be unknown",
        || async {
            let (status, _) = admin
                .ingest(&[("x-tenant-id", &retrying_tenant)], "{}")
                .await;
            (status == 404).then_some(())
        },
    )
    .await;
    let (status, _) = json(api.get(&format!("/subscriptions/{retrying_sub}")).await).await;
    assert_eq!(status, 404);
    worker.stop().await;
}
