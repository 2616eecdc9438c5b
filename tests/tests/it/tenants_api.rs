//! Tenants and stored API keys through the real api: the routes and their errors, what a
//! key's permissions and tenant let it do, expiry, deletion reaching every api process
//! within a second, `last_used_at`, and the auth-failure counter.

use std::time::Duration;

use hookrelay_tests::api::{json, text};
use hookrelay_tests::{TestEnv, assert_holds_for, eventually};
use reqwest::Method;
use serde_json::{Value, json};

/// The contract's second for a deleted key to be refused everywhere, plus slack for a
/// busy test machine.
const KEY_GONE_WITHIN: Duration = Duration::from_millis(1500);

fn id(value: &Value) -> &str {
    text(value, "id")
}

fn key(value: &Value) -> &str {
    text(value, "key")
}

#[tokio::test]
async fn tenants_are_created_listed_changed_and_deleted() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;

    let (status, tenant) = json(
        api.post_json(
            "/tenants",
            &json!({"name": "Acme", "metadata": {"plan": "pro"}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{tenant}");
    assert_eq!(tenant["name"], "Acme");
    assert_eq!(tenant["metadata"], json!({"plan": "pro"}));
    let mut fields: Vec<_> = tenant
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        ["created_at", "id", "metadata", "name", "updated_at"]
    );
    let path = format!("/tenants/{}", id(&tenant));

    let (status, got) = json(api.get(&path).await).await;
    assert_eq!((status, &got), (200, &tenant));
    let (status, list) = json(api.get("/tenants/?limit=10").await).await;
    assert_eq!((status, list), (200, json!([tenant.clone()])));

    let (status, changed) = json(api.patch_json(&path, &json!({"name": "Acme Inc"})).await).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (&changed["name"], &changed["metadata"]),
        (&json!("Acme Inc"), &json!({"plan": "pro"}))
    );

    let (status, errors) = json(
        api.post_json("/tenants", &json!({"name": "", "metadata": {"n": 1}}))
            .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(errors["detail"][0]["loc"], json!(["body", "name"]));
    assert_eq!(errors["detail"][1]["loc"], json!(["body", "metadata", "n"]));
    let (status, errors) = json(api.get("/tenants/not-a-uuid").await).await;
    assert_eq!(status, 422);
    assert_eq!(errors["detail"][0]["loc"], json!(["path", "tenant_id"]));

    assert_eq!(api.delete(&path).await.status(), 204);
    let (status, body) = json(api.get(&path).await).await;
    assert_eq!((status, body), (404, json!({"detail": "Tenant not found"})));
    assert_eq!(api.delete(&path).await.status(), 404);
}

#[tokio::test]
async fn a_stored_key_is_shown_once_and_kept_as_a_hash() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let created = api.create_key(&json!({"name": "ci"})).await;
    let secret = key(&created);
    assert!(
        secret.starts_with("hrk_") && secret.len() >= 4 + 43,
        "{secret}"
    );
    assert!(secret.starts_with(created["key_prefix"].as_str().expect("prefix")));
    assert_eq!(created["permissions"], json!(["ingest", "read", "write"]));
    assert_eq!(
        (
            &created["tenant_id"],
            &created["expires_at"],
            &created["last_used_at"]
        ),
        (&Value::Null, &Value::Null, &Value::Null)
    );

    let (status, listed) = json(api.get("/api-keys").await).await;
    assert_eq!(status, 200);
    let mut shown = created.clone();
    shown.as_object_mut().expect("object").remove("key");
    assert_eq!(listed, json!([shown.clone()]));
    let (_, got) = json(api.get(&format!("/api-keys/{}", id(&created))).await).await;
    assert_eq!(got, shown);

    // The table holds the digest, never the key.
    let mut conn = env.db.pool().get().await.expect("a connection");
    let rows: Vec<Vec<u8>> = diesel_async::RunQueryDsl::load(
        diesel::QueryDsl::select(
            hookrelay_shared::schema::api_keys::table,
            hookrelay_shared::schema::api_keys::key_hash,
        ),
        &mut conn,
    )
    .await
    .expect("read the hashes");
    use sha2::Digest as _;
    assert_eq!(rows, [sha2::Sha256::digest(secret.as_bytes()).to_vec()]);

    // A stored key with every permission and no tenant is an admin key.
    let (status, _) = json(api.as_key(secret).get("/tenants").await).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn permissions_decide_what_a_key_may_do() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let reader = api
        .create_key(&json!({"name": "reader", "permissions": ["read"]}))
        .await;
    let producer = api
        .create_key(&json!({"name": "producer", "permissions": ["ingest"]}))
        .await;
    let reader = api.as_key(key(&reader));
    let producer = api.as_key(key(&producer));
    let sub = api
        .create_subscription(&json!({"target_url": "https://example.com/hook"}))
        .await;

    assert_eq!(reader.get("/subscriptions").await.status(), 200);
    let (status, body) = json(
        reader
            .post_json(
                "/subscriptions",
                &json!({"target_url": "https://example.com/"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().expect("detail").contains("write"));
    assert_eq!(reader.ingest(&[], "{}").await.0, 403);

    assert_eq!(producer.ingest(&[], "{}").await.0, 202);
    let targeted = producer
        .request(Method::POST, &format!("/ingest/{}", id(&sub)))
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(targeted.status(), 202);
    assert_eq!(producer.get("/subscriptions").await.status(), 403);

    // 401 before 403 before 422: an invalid path with a forbidden key is still 403.
    assert_eq!(
        reader
            .request(Method::POST, "/ingest/not-a-uuid")
            .body("{}")
            .send()
            .await
            .expect("sent")
            .status(),
        403
    );

    let (status, errors) = json(
        api.post_json(
            "/api-keys",
            &json!({"name": "x", "permissions": ["read", "admin"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        errors["detail"][0]["loc"],
        json!(["body", "permissions", 1])
    );
    let (status, _) = json(
        reader
            .post_json(
                "/api-keys",
                &json!({"name": "wider", "permissions": ["read"]}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 403, "creating a key needs write");
}

#[tokio::test]
async fn tenant_keys_make_keys_of_their_own_tenant_and_never_wider_ones() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let tenant = api.create_tenant("acme").await;
    let other = api.create_tenant("globex").await;
    let manager = api
        .create_key(&json!({"name": "m", "tenant_id": tenant, "permissions": ["read", "write"]}))
        .await;
    assert_eq!(manager["tenant_id"], json!(tenant));
    let manager = api.as_key(key(&manager));

    // The body's tenant is ignored: the key belongs to the creator's tenant.
    let made = manager
        .create_key(&json!({"name": "r", "tenant_id": other, "permissions": ["read"]}))
        .await;
    assert_eq!(made["tenant_id"], json!(tenant));
    let (status, _) = json(
        manager
            .post_json(
                "/api-keys",
                &json!({"name": "w", "permissions": ["ingest"]}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 403, "a key cannot grant ingest it lacks");
    let (status, _) = json(
        manager
            .post_json("/api-keys", &json!({"name": "all"}))
            .await,
    )
    .await;
    assert_eq!(
        status, 403,
        "the default is every permission, wider than the creator"
    );

    // It sees its tenant's keys only, and /tenants not at all.
    let (_, listed) = json(manager.get("/api-keys").await).await;
    let tenants: Vec<_> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|k| k["tenant_id"].clone())
        .collect();
    assert_eq!(tenants, [json!(tenant), json!(tenant)]);
    let admin_key = api.create_key(&json!({"name": "admin"})).await;
    let (status, _) = json(manager.get(&format!("/api-keys/{}", id(&admin_key))).await).await;
    assert_eq!(status, 404);
    let (status, _) = json(
        manager
            .delete(&format!("/api-keys/{}", id(&admin_key)))
            .await,
    )
    .await;
    assert_eq!(status, 404);
    for path in ["/tenants", &format!("/tenants/{tenant}")] {
        assert_eq!(manager.get(path).await.status(), 403, "{path}");
    }
    assert_eq!(manager.get("/dead-letters").await.status(), 403);

    // Unknown tenant in a body (admin) or a list filter: 404 `Tenant not found`.
    let missing = uuid::Uuid::new_v4();
    let (status, body) = json(
        api.post_json("/api-keys", &json!({"name": "x", "tenant_id": missing}))
            .await,
    )
    .await;
    assert_eq!((status, body), (404, json!({"detail": "Tenant not found"})));
    let (status, body) = json(
        api.post_json(
            "/subscriptions",
            &json!({"target_url": "https://example.com/", "tenant_id": missing}),
        )
        .await,
    )
    .await;
    assert_eq!((status, body), (404, json!({"detail": "Tenant not found"})));
    let (status, _) = json(api.get(&format!("/api-keys?tenant_id={missing}")).await).await;
    assert_eq!(status, 404);
    let (status, errors) = json(api.get("/subscriptions?tenant_id=nope").await).await;
    assert_eq!(status, 422);
    assert_eq!(errors["detail"][0]["loc"], json!(["query", "tenant_id"]));
}

#[tokio::test]
async fn an_expired_key_is_refused_and_a_deleted_one_is_refused_by_every_api_process() {
    let env = TestEnv::new().await;
    let first = env.spawn_api().await;
    let second = env.spawn_api().await;

    let expires = chrono::Utc::now() + chrono::TimeDelta::seconds(2);
    let expiring = first
        .create_key(&json!({"name": "short", "expires_at": expires.to_rfc3339()}))
        .await;
    assert_eq!(
        second
            .as_key(key(&expiring))
            .get("/subscriptions")
            .await
            .status(),
        200,
        "a key created on one process works on another at once"
    );
    eventually(Duration::from_secs(10), "the key to expire", || async {
        let (status, body) = json(second.as_key(key(&expiring)).get("/subscriptions").await).await;
        (status == 401).then_some(body)
    })
    .await;
    let (_, body) = json(second.as_key(key(&expiring)).get("/subscriptions").await).await;
    assert_eq!(body, json!({"detail": "API key expired"}));

    let doomed = first.create_key(&json!({"name": "doomed"})).await;
    let caller = second.as_key(key(&doomed));
    assert_eq!(caller.get("/subscriptions").await.status(), 200);
    assert_eq!(
        first
            .delete(&format!("/api-keys/{}", id(&doomed)))
            .await
            .status(),
        204
    );
    eventually(
        KEY_GONE_WITHIN,
        "the other process to refuse the deleted key",
        || async { (caller.get("/subscriptions").await.status() == 401).then_some(()) },
    )
    .await;
    let (_, body) = json(first.as_key(key(&doomed)).get("/subscriptions").await).await;
    assert_eq!(body, json!({"detail": "Invalid API key"}));
}

#[tokio::test]
async fn last_used_at_is_written_once_a_minute_at_most() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let created = api.create_key(&json!({"name": "busy"})).await;
    let path = format!("/api-keys/{}", id(&created));
    let caller = api.as_key(key(&created));
    assert_eq!(caller.get("/subscriptions").await.status(), 200);
    let first = eventually(
        Duration::from_secs(10),
        "last_used_at to be written",
        || async {
            let (_, got) = json(api.get(&path).await).await;
            got["last_used_at"].as_str().map(str::to_owned)
        },
    )
    .await;
    for _ in 0..20 {
        assert_eq!(caller.get("/subscriptions").await.status(), 200);
    }
    // For two flush intervals the value does not move: the next write is a minute away.
    // Nothing announces a write that did not happen, so this watches the whole window.
    assert_holds_for(
        Duration::from_millis(2500),
        "last_used_at to stay as first written",
        || async {
            let (_, got) = json(api.get(&path).await).await;
            assert_eq!(got["last_used_at"], json!(first));
            true
        },
    )
    .await;
}

#[tokio::test]
async fn auth_failures_are_counted_by_reason() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let reader = api
        .create_key(&json!({"name": "r", "permissions": ["read"]}))
        .await;
    let expired = api
        .create_key(&json!({"name": "old", "expires_at": "2001-01-01T00:00:00Z"}))
        .await;
    let no_key = api
        .client
        .get(api.url("/subscriptions"))
        .send()
        .await
        .expect("sent");
    assert_eq!(no_key.status(), 401);
    assert_eq!(
        api.as_key("hrk_not-a-key")
            .get("/subscriptions")
            .await
            .status(),
        401
    );
    assert_eq!(
        api.as_key(key(&expired))
            .get("/subscriptions")
            .await
            .status(),
        401
    );
    assert_eq!(api.as_key(key(&reader)).ingest(&[], "{}").await.0, 403);

    let page = api.metrics_page().await;
    for reason in ["missing", "unknown", "expired", "forbidden"] {
        let line = format!("hookrelay_auth_failures_total{{reason=\"{reason}\"}} 1");
        assert!(page.contains(&line), "{line} missing from\n{page}");
    }
}
