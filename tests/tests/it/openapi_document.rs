//! `/openapi.json` and `/docs` (CONTRACT §8): the document is OpenAPI 3.1 and lists every
//! route the api serves with its methods — the list is read from the route table in
//! `api/src/routes.rs`, not from the document — and Swagger UI is served from the binary
//! with no script or stylesheet from anywhere else. The subscription schemas say which
//! fields take `null` and which are always present, as the api behaves.

use std::collections::{BTreeMap, BTreeSet};

use hookrelay_tests::TestEnv;
use hookrelay_tests::api::json;
use serde_json::Value;

/// The routes in `api/src/routes.rs`: each `resource(&["/path", "/path/"], [...])` and the
/// `on(Method::<METHOD>, …)` routes it lists, by the resource's first path.
fn route_table() -> BTreeMap<String, BTreeSet<String>> {
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../api/src/routes.rs"))
            .expect("read api/src/routes.rs");
    let mut routes = BTreeMap::new();
    for chunk in source
        .split("resource(")
        .skip(1)
        .filter_map(|c| c.trim_start().strip_prefix("&["))
    {
        let paths = &chunk[..chunk.find(']').expect("a closing ]")];
        let path = paths.split('"').nth(1).expect("a path literal");
        // `{file:.*}` (a segment with a regex) is `{file}` in OpenAPI.
        let path = match (path.find(':'), path.ends_with('}')) {
            (Some(colon), true) => format!("{}}}", &path[..colon]),
            _ => path.to_owned(),
        };
        let methods: BTreeSet<String> = ["get", "post", "put", "patch", "delete"]
            .into_iter()
            .filter(|m| {
                let listed = &chunk[..chunk.find(")]").unwrap_or(chunk.len())];
                listed.contains(&format!("Method::{}", m.to_ascii_uppercase()))
            })
            .map(str::to_owned)
            .collect();
        // A resource without routes only answers 405 (Swagger UI's other methods).
        if !methods.is_empty() {
            routes.insert(path, methods);
        }
    }
    assert!(
        routes.len() >= 12,
        "parsed too few routes from routes.rs: {routes:?}"
    );
    routes
}

/// The operations of one path item.
fn methods(item: &Value) -> BTreeSet<String> {
    item.as_object()
        .map(|o| {
            o.keys()
                .filter(|k| {
                    ["get", "post", "put", "patch", "delete", "head", "options"]
                        .contains(&k.as_str())
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn openapi_document_lists_every_served_route_with_its_methods() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    // Open: no Authorization header.
    let (status, doc) = json(
        api.client
            .get(api.url("/openapi.json"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    let version = doc["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3.1"), "{version}");
    let paths = doc["paths"].as_object().expect("paths");

    let served = route_table();
    for (path, expected) in &served {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is missing from the document"));
        assert_eq!(&methods(item), expected, "methods of {path}");
    }
    let documented: BTreeSet<&String> = paths.keys().collect();
    let served_paths: BTreeSet<&String> = served.keys().collect();
    assert_eq!(
        documented, served_paths,
        "the document lists only what is served"
    );

    // Authentication as CONTRACT §2 says: open routes have no security requirement; nor
    // has a source's inbound URL (§12), which its own verification guards.
    let open = [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/{file}",
        "/in/{token}",
    ];
    for (path, item) in paths {
        for method in methods(item) {
            let operation = &item[&method];
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            assert_eq!(
                secured,
                !open.contains(&path.as_str()),
                "security of {method} {path}"
            );
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {path} responses"
            );
        }
    }
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(
        (scheme["type"].as_str(), scheme["scheme"].as_str()),
        (Some("http"), Some("bearer"))
    );
    // Bodies the contract defines are described, not left as bare JSON.
    for schema in [
        "Subscription",
        "Attempt",
        "WebhookStatus",
        "IngestAccepted",
        "ErrorDetail",
        "ValidationErrors",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema}"
        );
    }
    let created = &paths["/subscriptions"]["post"]["responses"]["201"]["content"]["application/json"]
        ["schema"];
    assert_eq!(
        created["$ref"], "#/components/schemas/Subscription",
        "{created}"
    );
}

/// Whether an OpenAPI 3.1 schema admits `null`: `"type": [.., "null"]`, or a `oneOf` /
/// `anyOf` with a `{"type": "null"}` branch.
fn nullable(schema: &Value) -> bool {
    let null_type = |s: &Value| match &s["type"] {
        Value::String(t) => t == "null",
        Value::Array(types) => types.iter().any(|t| t == "null"),
        _ => false,
    };
    null_type(schema)
        || ["oneOf", "anyOf"]
            .iter()
            .filter_map(|k| schema[*k].as_array())
            .flatten()
            .any(null_type)
}

/// A component schema's properties that admit `null`, and its `required` list.
fn nulls_and_required(doc: &Value, name: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let schema = &doc["components"]["schemas"][name];
    let properties = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{name} has properties: {schema}"));
    let nulls = properties
        .iter()
        .filter(|(_, p)| nullable(p))
        .map(|(k, _)| k.clone())
        .collect();
    let required = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect();
    (nulls, required)
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn openapi_subscription_schemas_mark_null_only_where_the_api_takes_it() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let (_, doc) = json(api.get("/openapi.json").await).await;
    let url = "https://example.com/";
    let sub = api
        .create_subscription(&serde_json::json!({"target_url": url}))
        .await;
    let path = format!("/subscriptions/{}", sub["id"].as_str().expect("id"));

    // Request bodies: a property is nullable exactly when sending `null` for it succeeds.
    let (post_nulls, post_required) = nulls_and_required(&doc, "NewSubscriptionBody");
    let (patch_nulls, patch_required) = nulls_and_required(&doc, "SubscriptionChangesBody");
    assert_eq!(
        post_nulls,
        names(&[
            "secret",
            "events",
            "description",
            "tenant_id",
            "name",
            "timeout_ms",
            "retry_schedule",
            "rate_limit"
        ])
    );
    // `target_url` is required for HTTP destinations only (CONTRACT §15), so no field is
    // required of every body.
    assert_eq!(post_required, names(&[]));
    assert_eq!(
        patch_nulls,
        names(&[
            "events",
            "description",
            "name",
            "timeout_ms",
            "retry_schedule",
            "rate_limit"
        ])
    );
    assert_eq!(patch_required, names(&[]));
    let properties = doc["components"]["schemas"]["NewSubscriptionBody"]["properties"]
        .as_object()
        .expect("properties");
    for field in properties.keys().filter(|f| *f != "target_url") {
        let body = serde_json::json!({"target_url": url, field.as_str(): null});
        let status = api.post_json("/subscriptions", &body).await.status();
        let expected = if post_nulls.contains(field) { 201 } else { 422 };
        assert_eq!(status, expected, "POST {body}");
    }
    // `tenant_id` is set on creation only; PATCH ignores it like any unknown field.
    let patchable = doc["components"]["schemas"]["SubscriptionChangesBody"]["properties"]
        .as_object()
        .expect("properties");
    for field in patchable.keys() {
        let body = serde_json::json!({field.as_str(): null});
        let status = api.patch_json(&path, &body).await.status();
        let expected = if patch_nulls.contains(field) {
            200
        } else {
            422
        };
        assert_eq!(status, expected, "PATCH {body}");
    }

    // The response: every field is always present (required); those that can be null
    // (all null here) are nullable.
    let (response_nulls, required) = nulls_and_required(&doc, "Subscription");
    let (_, got) = json(api.get(&path).await).await;
    let fields: BTreeSet<String> = got
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    assert_eq!(required, fields, "{got}");
    assert_eq!(
        response_nulls,
        names(&[
            "target_url",
            "events",
            "description",
            "tenant_id",
            "name",
            "timeout_ms",
            "retry_schedule",
            "rate_limit",
            "last_success_at",
            "last_failure_at",
            "disabled_reason"
        ])
    );
    // `target_url` is null for destinations other than HTTP; this one is HTTP.
    for field in response_nulls.iter().filter(|f| *f != "target_url") {
        assert!(got[field.as_str()].is_null(), "{field} in {got}");
    }
}

#[tokio::test]
async fn openapi_response_schemas_require_every_field_they_always_send() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let (_, doc) = json(api.get("/openapi.json").await).await;
    // Serialised from structs without skipped fields: every property is always present,
    // null or not, so every property is required.
    for name in ["Subscription", "Attempt", "WebhookStatus", "DeliveryView"] {
        let properties: BTreeSet<String> = doc["components"]["schemas"][name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} has properties"))
            .keys()
            .cloned()
            .collect();
        let (_, required) = nulls_and_required(&doc, name);
        assert_eq!(required, properties, "{name}");
    }
}

/// Every `src="…"` and `href="…"` in an HTML page.
fn references(html: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attr| {
            html.split(attr)
                .skip(1)
                .filter_map(|rest| rest.split('"').next().map(str::to_owned))
        })
        .collect()
}

fn is_external(url: &str) -> bool {
    let url = url.trim().to_ascii_lowercase();
    url.starts_with("http://") || url.starts_with("https://") || url.starts_with("//")
}

/// GET `path`: 200, HTML, Swagger UI.
async fn swagger_page(api: &hookrelay_tests::TestApi, path: &str) -> String {
    let page = api.client.get(api.url(path)).send().await.expect("sent");
    assert_eq!(page.status(), 200, "GET {path}");
    let content_type = page
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/html"),
        "{path}: {content_type}"
    );
    let html = page.text().await.expect("a page");
    assert!(html.contains("swagger-ui"), "{path} looks like Swagger UI");
    html
}

#[tokio::test]
async fn openapi_swagger_ui_is_served_from_the_binary() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;

    // Like every route, the wrong method is a 405 (CONTRACT §2).
    for path in ["/openapi.json", "/docs", "/docs/", "/docs/index.html"] {
        let (status, body) = json(api.client.post(api.url(path)).send().await.expect("sent")).await;
        assert_eq!(
            (status, &body["detail"]),
            (405, &Value::from("Method Not Allowed")),
            "POST {path}"
        );
    }
    let (status, body) = json(
        api.client
            .get(api.url("/docs/no-such-file.js"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!((status, &body["detail"]), (404, &Value::from("Not Found")));

    // The page answers at /docs itself (no redirect to follow) and at /docs/, and its
    // relative asset paths resolve under /docs/ from both.
    let html = swagger_page(&api, "/docs/").await;
    let at_docs = swagger_page(&api, "/docs").await;
    assert!(
        at_docs.contains(r#"<base href="/docs/">"#),
        "/docs names /docs/ as its base: {at_docs}"
    );
    let refs = references(&html);
    assert!(refs.iter().any(|r| r.ends_with(".js")), "scripts: {refs:?}");
    for reference in &refs {
        assert!(
            !is_external(reference),
            "/docs/ loads {reference} from elsewhere"
        );
        // Each asset the page loads is served by the api itself.
        let url = api.url(&format!("/docs/{}", reference.trim_start_matches("./")));
        let asset = api.client.get(&url).send().await.expect("sent");
        assert_eq!(asset.status(), 200, "{url}");
        if reference.ends_with(".js") {
            let script = asset.text().await.expect("a script");
            assert!(
                !script.contains("src=\"http"),
                "{reference} pulls in a remote script"
            );
        }
    }
    let initializer = api
        .client
        .get(api.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .expect("sent");
    assert_eq!(initializer.status(), 200);
    let initializer = initializer.text().await.expect("a script");
    assert!(initializer.contains("/openapi.json"), "{initializer}");
}
