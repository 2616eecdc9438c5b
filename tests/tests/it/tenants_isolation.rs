//! Every route against tenant keys, walked from `/openapi.json` (whose operations and
//! their `security` are generated from the route table, `api/src/routes.rs`; the
//! `openapi_document` test holds the document to that table). So a route added later is
//! walked too, and a route that forgot its check fails here:
//!
//! - every operation but the open ones needs a key (401 without one), names exactly one
//!   permission (or `admin`: all of them), and answers 403 to a key lacking it — and, for
//!   `all_tenants` and `admin` routes, to a tenant key with every permission;
//! - two tenants, each with a subscription, a delivered webhook with attempts and keys:
//!   each tenant's key gets 404 for every resource of the other tenant (never 403), lists
//!   show only its own, and what it creates is its own whatever the body says.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use hookrelay_tests::api::{Caller, TenantKey, json};
use hookrelay_tests::worker::{attempts, spawn_worker};
use hookrelay_tests::{Receiver, TestApi, TestEnv, eventually};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

const OPEN: &[&str] = &[
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "GET /openapi.json",
    "GET /docs",
    "GET /docs/{file}",
    "POST /in/{token}",
];

/// One tenant's world.
struct Tenant {
    id: String,
    /// A key of the tenant with every permission.
    key: String,
    key_id: String,
    subscription: String,
    webhook: String,
    replay: String,
    schedule: String,
    source: String,
}

async fn tenant(api: &TestApi, name: &str, target_url: &str) -> Tenant {
    let TenantKey {
        tenant_id: id,
        key_id,
        key,
    } = api.create_tenant_key(name).await;
    let caller = api.as_key(&key);
    let subscription = caller
        .create_subscription(&json!({"target_url": target_url}))
        .await;
    assert_eq!(subscription["tenant_id"], json!(id));
    let subscription = subscription["id"].as_str().expect("id").to_owned();
    let webhook = caller
        .ingest_accepted(&format!("/ingest/{subscription}"), &[], "{}")
        .await;
    let (status, replay) = json(
        caller
            .post_json("/replays", &body_for("POST", "/replays").expect("a body"))
            .await,
    )
    .await;
    assert_eq!(status, 202, "{replay}");
    let (status, schedule) = json(
        caller
            .post_json(
                "/schedules",
                &body_for("POST", "/schedules").expect("a body"),
            )
            .await,
    )
    .await;
    assert_eq!(status, 201, "{schedule}");
    let (status, source) = json(
        caller
            .post_json("/sources", &body_for("POST", "/sources").expect("a body"))
            .await,
    )
    .await;
    assert_eq!(status, 201, "{source}");
    assert_eq!(source["tenant_id"], json!(id));
    Tenant {
        id,
        key_id,
        key,
        subscription,
        webhook: webhook.to_string(),
        replay: replay["id"].as_str().expect("id").to_owned(),
        schedule: schedule["id"].as_str().expect("id").to_owned(),
        source: source["id"].as_str().expect("id").to_owned(),
    }
}

/// Each operation of the document with the scopes it needs (`None`: open).
fn operations(doc: &Value) -> BTreeMap<(String, String), Option<Vec<String>>> {
    let mut found = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let scopes = operation["security"].as_array().map(|requirements| {
                assert_eq!(requirements.len(), 1, "{method} {path}");
                requirements[0]["bearer"]
                    .as_array()
                    .expect("bearer scopes")
                    .iter()
                    .map(|s| s.as_str().expect("a scope").to_owned())
                    .collect::<Vec<_>>()
            });
            found.insert((method.to_uppercase(), path.clone()), scopes);
        }
    }
    found
}

/// `template` with each `{param}` replaced from `ids`; panics on a parameter this test
/// does not know yet (add it, with a resource of each tenant, when adding a route).
fn fill(template: &str, ids: &BTreeMap<&str, String>) -> String {
    let mut path = template.to_owned();
    while let Some(start) = path.find('{') {
        let end = path[start..].find('}').expect("a closing brace") + start;
        let name = &path[start + 1..end];
        let value = ids
            .get(name)
            .unwrap_or_else(|| panic!("no value for {{{name}}} in {template}: extend this test"));
        path.replace_range(start..=end, value);
    }
    path
}

/// A body the route accepts, where it takes one.
fn body_for(method: &str, path: &str) -> Option<Value> {
    match (method, path) {
        ("POST", "/subscriptions") => Some(json!({"target_url": "https://example.com/hook"})),
        ("PATCH", "/subscriptions/{subscription_id}") => Some(json!({"description": "x"})),
        ("POST", "/api-keys") => Some(json!({"name": "k", "permissions": ["read"]})),
        ("POST", "/tenants") => Some(json!({"name": "t"})),
        ("PATCH", "/tenants/{tenant_id}") => Some(json!({"name": "t"})),
        ("POST", p) if p.starts_with("/ingest") => Some(json!({})),
        // Its webhooks were delivered: only a replay that includes those is a 2xx.
        ("POST", "/webhooks/{webhook_id}/replay") => Some(json!({"include_succeeded": true})),
        ("POST", "/replays") => {
            let since = chrono::Utc::now() - chrono::Duration::hours(1);
            Some(json!({"since": hookrelay_shared::time::format(&since)}))
        }
        ("POST", "/schedules") => Some(json!({"name": "daily", "event_type": "report.due",
            "payload": {}, "kind": "cron", "cron": "0 9 * * *"})),
        ("PATCH", "/schedules/{schedule_id}") => Some(json!({"description": "x"})),
        ("POST", "/sources") => {
            Some(json!({"name": "github", "verification": {"type": "github", "secret": "s"}}))
        }
        ("PATCH", "/sources/{source_id}") => Some(json!({"name": "renamed"})),
        _ => None,
    }
}

async fn call(caller: &Caller<'_>, method: &str, template: &str, path: &str) -> (u16, Value) {
    let method = Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = caller.request(method.clone(), path);
    if let Some(body) = body_for(method.as_str(), template) {
        request = request.json(&body);
    }
    json(request.send().await.expect("sent")).await
}

#[tokio::test]
async fn every_route_needs_a_key_and_refuses_a_missing_permission() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let (_, doc) = json(api.get("/openapi.json").await).await;
    let operations = operations(&doc);
    let open: BTreeSet<String> = operations
        .iter()
        .filter(|(_, scopes)| scopes.is_none())
        .map(|((method, path), _)| format!("{method} {path}"))
        .collect();
    let expected: BTreeSet<String> = OPEN.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(open, expected, "the open routes");

    let tenant = api.create_tenant("acme").await;
    let all_tenants_key = api
        .create_key(&json!({"name": "tenant", "tenant_id": tenant}))
        .await;
    let tenant_key = api.as_key(all_tenants_key["key"].as_str().expect("key"));
    let mut lacking = BTreeMap::new();
    for permission in ["ingest", "read", "write"] {
        let others: Vec<_> = ["ingest", "read", "write"]
            .into_iter()
            .filter(|p| *p != permission)
            .collect();
        let created = api
            .create_key(&json!({"name": format!("no-{permission}"), "permissions": others}))
            .await;
        lacking.insert(permission, created["key"].as_str().expect("key").to_owned());
    }
    let placeholders: BTreeMap<&str, String> = [
        ("subscription_id", Uuid::new_v4().to_string()),
        ("webhook_id", Uuid::new_v4().to_string()),
        ("api_key_id", Uuid::new_v4().to_string()),
        ("tenant_id", Uuid::new_v4().to_string()),
        ("dead_letter_id", "1-0".to_owned()),
        ("replay_id", Uuid::new_v4().to_string()),
        ("schedule_id", Uuid::new_v4().to_string()),
        ("source_id", Uuid::new_v4().to_string()),
    ]
    .into_iter()
    .collect();

    let mut walked = 0;
    for ((method, template), scopes) in &operations {
        let Some(scopes) = scopes else { continue };
        walked += 1;
        let path = fill(template, &placeholders);
        let route = format!("{method} {template}");
        let anonymous = api
            .client
            .request(
                Method::from_bytes(method.as_bytes()).expect("a method"),
                api.url(&path),
            )
            .send()
            .await
            .expect("sent");
        assert_eq!(anonymous.status(), 401, "{route} without a key");

        // `admin`: every permission is needed, so a key lacking any one is refused.
        let permissions: Vec<&str> = if scopes.as_slice() == ["admin"] {
            vec!["ingest", "read", "write"]
        } else {
            let named: Vec<&str> = scopes
                .iter()
                .filter(|s| *s != "all_tenants")
                .map(String::as_str)
                .collect();
            assert_eq!(named.len(), 1, "{route} names one permission: {scopes:?}");
            named
        };
        for permission in permissions {
            let (status, body) =
                call(&api.as_key(&lacking[permission]), method, template, &path).await;
            assert_eq!(
                status, 403,
                "{route} with a key lacking {permission}: {body}"
            );
            assert!(body["detail"].is_string(), "{route}: {body}");
        }

        if scopes.iter().any(|s| s == "all_tenants" || s == "admin") {
            let (status, body) = call(&tenant_key, method, template, &path).await;
            assert_eq!(status, 403, "{route} with a tenant key: {body}");
        }
    }
    assert!(walked >= 20, "walked only {walked} routes");
}

#[tokio::test]
async fn each_tenant_key_sees_only_its_own_tenant_on_every_route() {
    let env = TestEnv::new().await;
    let receiver = Receiver::ok().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let a = tenant(&api, "acme", &receiver.url).await;
    let b = tenant(&api, "globex", &receiver.url).await;
    let default_sub = api
        .create_subscription(&json!({"target_url": receiver.url}))
        .await;
    for t in [&a, &b] {
        let webhook: Uuid = t.webhook.parse().expect("a UUID");
        eventually(Duration::from_secs(15), "the webhook's attempt", || async {
            (!attempts(&env, webhook).await.is_empty()).then_some(())
        })
        .await;
    }
    let (_, doc) = json(api.get("/openapi.json").await).await;
    let operations = operations(&doc);

    for (own, other) in [(&a, &b), (&b, &a)] {
        let caller = api.as_key(&own.key);
        let theirs: BTreeMap<&str, String> = [
            ("subscription_id", other.subscription.clone()),
            ("webhook_id", other.webhook.clone()),
            ("api_key_id", other.key_id.clone()),
            ("tenant_id", other.id.clone()),
            ("dead_letter_id", "1-0".to_owned()),
            ("replay_id", other.replay.clone()),
            ("schedule_id", other.schedule.clone()),
            ("source_id", other.source.clone()),
        ]
        .into_iter()
        .collect();
        let mine: BTreeMap<&str, String> = [
            ("subscription_id", own.subscription.clone()),
            ("webhook_id", own.webhook.clone()),
            ("api_key_id", own.key_id.clone()),
            ("replay_id", own.replay.clone()),
            ("schedule_id", own.schedule.clone()),
            ("source_id", own.source.clone()),
        ]
        .into_iter()
        .collect();

        for ((method, template), scopes) in &operations {
            let Some(scopes) = scopes else { continue };
            let route = format!("{method} {template}");
            if scopes.iter().any(|s| s == "all_tenants" || s == "admin") {
                // Walked by the permission test: 403 for every tenant key.
                continue;
            }
            if template.contains('{') {
                // The other tenant's resource does not exist for this key...
                let path = fill(template, &theirs);
                let (status, body) = call(&caller, method, template, &path).await;
                if template.ends_with("/attempts") {
                    // An unknown subscription has no attempts: `200 []`, as for any id.
                    assert_eq!((status, &body), (200, &json!([])), "{route}");
                } else {
                    assert_eq!(status, 404, "{route} with another tenant's id: {body}");
                }
                // ...and its own does (skipping deletions, which would end the walk).
                if method != "DELETE" {
                    let path = fill(template, &mine);
                    let (status, body) = call(&caller, method, template, &path).await;
                    assert!(
                        (200..300).contains(&status),
                        "{route} with its own id: {status} {body}"
                    );
                    if template.ends_with("/attempts") {
                        assert!(!body.as_array().expect("a list").is_empty(), "{route}");
                    }
                }
            } else if method == "GET" {
                // Lists show its own tenant only, whatever `?tenant_id=` asks for.
                for path in [
                    template.clone(),
                    format!("{template}?tenant_id={}", other.id),
                ] {
                    let (status, body) = call(&caller, method, template, &path).await;
                    assert_eq!(status, 200, "{route}: {body}");
                    let items = body.as_array().expect("a list");
                    assert!(!items.is_empty(), "{path} lists its own");
                    for item in items {
                        assert_eq!(item["tenant_id"], json!(own.id), "{path}: {item}");
                    }
                }
            } else {
                // Creations belong to its tenant, whatever the body says.
                let mut body = body_for(method, template).unwrap_or_else(|| json!({}));
                body["tenant_id"] = json!(other.id);
                let (status, created) = json(
                    caller
                        .request(
                            Method::from_bytes(method.as_bytes()).expect("a method"),
                            template,
                        )
                        .json(&body)
                        .send()
                        .await
                        .expect("sent"),
                )
                .await;
                assert!((200..300).contains(&status), "{route}: {status} {created}");
                if let Some(tenant) = created.get("tenant_id") {
                    assert_eq!(tenant, &json!(own.id), "{route} made {created}");
                }
            }
        }
    }

    // Nothing of either tenant, nor of the default space, was touched by the other.
    for t in [&a, &b] {
        assert_eq!(
            api.get(&format!("/subscriptions/{}", t.subscription))
                .await
                .status(),
            200
        );
        assert_eq!(
            api.get(&format!("/api-keys/{}", t.key_id)).await.status(),
            200
        );
        let (_, status) = json(api.get(&format!("/status/{}", t.webhook)).await).await;
        assert_eq!(status["subscription_id"], json!(t.subscription));
    }
    let (status, _) = json(
        api.as_key(&a.key)
            .get(&format!(
                "/subscriptions/{}",
                default_sub["id"].as_str().expect("id")
            ))
            .await,
    )
    .await;
    assert_eq!(status, 404, "the default space is outside every tenant");

    // An admin key sees everything, or one space with ?tenant_id=.
    let (_, all) = json(api.get("/subscriptions?limit=1000").await).await;
    let spaces: BTreeSet<String> = all
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| s["tenant_id"].to_string())
        .collect();
    assert_eq!(spaces.len(), 3, "{all}");
    let (_, defaults) = json(api.get("/subscriptions?tenant_id=default").await).await;
    assert_eq!(defaults, json!([default_sub]));
    let (_, only_a) = json(api.get(&format!("/subscriptions?tenant_id={}", a.id)).await).await;
    assert!(
        only_a
            .as_array()
            .expect("a list")
            .iter()
            .all(|s| s["tenant_id"] == json!(a.id))
    );
}
