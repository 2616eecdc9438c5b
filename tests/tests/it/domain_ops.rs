//! The domain's write actions (`hookrelay_domain::<domain>::ops`) called directly, with no
//! HTTP in between, against this test's own Postgres database and Redis prefix: each one
//! commits, tells the caches and refuses with the domain's one `Refusal`, which the api's
//! handlers and the console both map the same way.

use hookrelay_domain::api_keys::{self, Permission, Permissions, Principal, Reach};
use hookrelay_domain::subscriptions::{self, NOT_FOUND};
use hookrelay_domain::{Refusal, schedules, sources, tenants};
use hookrelay_tests::TestEnv;
use serde_json::{Map, Value, json};
use uuid::Uuid;

fn body(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("a body is an object, not {other}"),
    }
}

fn tenant_key(tenant: Uuid, permissions: &[Permission]) -> Principal {
    Principal {
        reach: Reach::Tenant(tenant),
        permissions: permissions.iter().copied().collect(),
        key: None,
    }
}

#[tokio::test]
async fn deleting_a_tenant_removes_what_it_owns_and_every_cache_forgets_it() {
    let env = TestEnv::new().await;
    let services = env.services().await;
    let admin = Principal::ADMIN;
    let tenant = tenants::ops::create(&services, &body(json!({"name": "Acme"})))
        .await
        .expect("a tenant");
    assert!(
        services.tenants.cached(&tenant.id).is_some(),
        "cached at once"
    );

    let owned = json!({"target_url": "http://127.0.0.1:9/hook", "tenant_id": tenant.id});
    let subscription = subscriptions::ops::create(&services, &admin, &body(owned))
        .await
        .expect("a subscription of the tenant");
    assert_eq!(subscription.tenant_id, Some(tenant.id));
    let key = api_keys::ops::create(
        &services,
        &admin,
        &body(json!({"name": "producer", "tenant_id": tenant.id})),
    )
    .await
    .expect("a key of the tenant");
    let source = sources::ops::create(
        &services,
        &admin,
        &body(json!({"name": "github", "tenant_id": tenant.id, "verification": {"type": "none"}})),
    )
    .await
    .expect("a source of the tenant");
    assert!(services.subscriptions.cached(&subscription.id).is_some());
    assert!(
        services
            .credentials
            .cached(&key.api_key.key_prefix)
            .is_some()
    );
    assert!(services.sources.cached(&source.token).is_some());

    let removed = tenants::ops::delete(&services, tenant.id)
        .await
        .expect("deleted");
    assert_eq!(removed.subscriptions, [subscription.id]);
    assert_eq!(
        removed.key_prefixes,
        std::slice::from_ref(&key.api_key.key_prefix)
    );
    assert_eq!(removed.source_tokens, std::slice::from_ref(&source.token));
    assert!(services.tenants.cached(&tenant.id).is_none());
    assert!(services.subscriptions.cached(&subscription.id).is_none());
    assert!(
        services
            .credentials
            .cached(&key.api_key.key_prefix)
            .is_none()
    );
    assert!(services.sources.cached(&source.token).is_none());
    assert!(matches!(
        tenants::ops::delete(&services, tenant.id).await,
        Err(Refusal::NotFound(tenants::NOT_FOUND))
    ));
}

#[tokio::test]
async fn refusals_are_the_domains_own_whichever_front_end_asks() {
    let env = TestEnv::new().await;
    let services = env.services().await;
    let tenant = tenants::ops::create(&services, &body(json!({"name": "Acme"})))
        .await
        .expect("a tenant");

    // Every bad field at once, with its location.
    let Err(Refusal::Invalid(errors)) = subscriptions::ops::create(
        &services,
        &Principal::ADMIN,
        &body(json!({"target_url": "ftp://x", "timeout_ms": -1})),
    )
    .await
    else {
        panic!("an invalid body is refused with its field errors");
    };
    let locs: Vec<Value> = errors.iter().map(|e| Value::from(e.loc.clone())).collect();
    assert!(locs.contains(&json!(["body", "target_url"])), "{locs:?}");
    assert!(locs.contains(&json!(["body", "timeout_ms"])), "{locs:?}");

    // A tenant key reaches its tenant only: another tenant's subscription is not found.
    let other = subscriptions::ops::create(
        &services,
        &Principal::ADMIN,
        &body(json!({"target_url": "http://127.0.0.1:9/other"})),
    )
    .await
    .expect("a default-space subscription");
    let key = tenant_key(tenant.id, &Permission::ALL);
    assert!(matches!(
        subscriptions::ops::delete(&services, &key, other.id).await,
        Err(Refusal::NotFound(NOT_FOUND))
    ));
    assert!(
        services.subscriptions.cached(&other.id).is_some(),
        "untouched"
    );

    // A key never makes a key wider than itself.
    let reader = tenant_key(tenant.id, &[Permission::Read]);
    assert!(matches!(
        api_keys::ops::create(&services, &reader, &body(json!({"name": "wider"}))).await,
        Err(Refusal::Forbidden(_))
    ));
    let narrow = api_keys::ops::create(
        &services,
        &reader,
        &body(json!({"name": "narrow", "permissions": ["read"]})),
    )
    .await
    .expect("a key no wider than its maker");
    assert_eq!(
        narrow.api_key.tenant_id,
        Some(tenant.id),
        "a tenant key's own tenant"
    );
    assert_eq!(
        Permissions::from_names(&narrow.api_key.permissions),
        [Permission::Read].into_iter().collect()
    );

    // A state that does not allow the change is a conflict.
    let schedule = schedules::ops::create(
        &services,
        &key,
        &body(json!({"name": "nightly", "kind": "cron", "cron": "0 3 * * *", "payload": {}, "event_type": "report.nightly"})),
    )
    .await
    .expect("a schedule");
    schedules::ops::set_active(&services, &key, schedule.id, false)
        .await
        .expect("paused");
    assert!(matches!(
        schedules::ops::set_active(&services, &key, schedule.id, false).await,
        Err(Refusal::Conflict(_))
    ));

    // The test send goes through ingest's own checks: a paused subscription takes none.
    let paused = subscriptions::ops::update(
        &services,
        &key,
        subscriptions::ops::create(
            &services,
            &key,
            &body(json!({"target_url": "http://127.0.0.1:9/mine"})),
        )
        .await
        .expect("a subscription")
        .id,
        &body(json!({"is_active": false})),
    )
    .await
    .expect("paused");
    assert!(matches!(
        subscriptions::ops::send_test(&services, &key, paused.id).await,
        Err(Refusal::Conflict(_))
    ));
    let resumed = subscriptions::ops::update(
        &services,
        &key,
        paused.id,
        &body(json!({"is_active": true})),
    )
    .await
    .expect("resumed");
    assert_eq!(
        resumed.consecutive_failures, 0,
        "re-enabling restarts its health"
    );
    let webhook_id = subscriptions::ops::send_test(&services, &key, paused.id)
        .await
        .expect("queued");
    let queued: bool = deadpool_redis::redis::cmd("EXISTS")
        .arg(services.keys.origin(webhook_id).queued(webhook_id))
        .query_async(&mut env.redis().await)
        .await
        .expect("Redis answers");
    assert!(queued, "the test webhook sits in the queue");
}
