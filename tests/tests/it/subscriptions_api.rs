//! `/subscriptions` end to end (CONTRACT §3), through HTTP against the real api,
//! Postgres and Redis.

use hookrelay_tests::api::{assert_timestamp, json};
use hookrelay_tests::{TestApi, TestEnv};
use serde_json::{Value, json};

#[tokio::test]
async fn the_whole_lifecycle_round_trips_byte_for_byte() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;

    let created = api
        .post_json(
            "/subscriptions",
            &json!({"target_url": "http://h.example:9911", "events": ["order.*"], "description": "orders",
                    "headers": {"X-Tenant": "a"}, "unknown_field": true}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created_bytes = created.bytes().await.expect("body");
    let sub: Value = serde_json::from_slice(&created_bytes).expect("JSON");
    assert_eq!(sub["target_url"], "http://h.example:9911/");
    assert_eq!(sub["events"], json!(["order.*"]));
    assert_eq!(sub["headers"], json!({"X-Tenant": "a"}));
    assert_eq!(sub["is_active"], true);
    assert!(
        sub["secret"]
            .as_str()
            .expect("secret")
            .starts_with("whsec_")
    );
    assert_timestamp(&sub["created_at"]);
    assert_timestamp(&sub["updated_at"]);
    assert!(sub.get("unknown_field").is_none());
    let id = sub["id"].as_str().expect("id").to_owned();
    assert_eq!(id, id.to_lowercase());

    // GET returns exactly what POST returned.
    let got = api.get(&format!("/subscriptions/{id}")).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.expect("body"), created_bytes);

    // Upper-case and unhyphenated ids name the same subscription.
    let loose = id.replace('-', "").to_uppercase();
    assert_eq!(
        api.get(&format!("/subscriptions/{loose}")).await.status(),
        200
    );

    // PATCH changes only what is present; events: null clears the filter.
    let (status, patched) = json(
        api.patch_json(
            &format!("/subscriptions/{id}"),
            &json!({"events": null, "is_active": false}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(patched["events"], Value::Null);
    assert_eq!(patched["is_active"], false);
    assert_eq!(patched["description"], "orders");
    assert_eq!(patched["secret"], sub["secret"]);
    assert_eq!(patched["created_at"], sub["created_at"]);
    assert_ne!(patched["updated_at"], sub["updated_at"]);
    let (_, again) = json(api.get(&format!("/subscriptions/{id}")).await).await;
    assert_eq!(again, patched);

    // DELETE, then it is gone.
    let deleted = api.delete(&format!("/subscriptions/{id}")).await;
    assert_eq!(deleted.status(), 204);
    assert!(deleted.bytes().await.expect("body").is_empty());
    let (status, body) = json(api.get(&format!("/subscriptions/{id}")).await).await;
    assert_eq!(
        (status, body),
        (404, json!({"detail": "Subscription not found"}))
    );
    let (status, _) = json(api.delete(&format!("/subscriptions/{id}")).await).await;
    assert_eq!(status, 404);
    let (status, _) = json(
        api.patch_json(&format!("/subscriptions/{id}"), &json!({}))
            .await,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn list_is_oldest_first_with_skip_and_limit() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let sub = api
            .create_subscription(&json!({"target_url": format!("https://example.com/{n}")}))
            .await;
        ids.push(sub["id"].clone());
    }
    for path in ["/subscriptions", "/subscriptions/"] {
        let (status, list) = json(api.get(path).await).await;
        assert_eq!(status, 200, "{path}");
        let listed: Vec<Value> = list
            .as_array()
            .expect("a list")
            .iter()
            .map(|s| s["id"].clone())
            .collect();
        assert_eq!(listed, ids, "{path}");
    }
    let (_, page) = json(api.get("/subscriptions?skip=1&limit=2").await).await;
    let listed: Vec<Value> = page
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(listed, ids[1..3]);
    let (_, empty) = json(api.get("/subscriptions?limit=0").await).await;
    assert_eq!(empty, json!([]));

    for query in ["limit=1001", "limit=-1", "skip=-1", "limit=abc"] {
        let (status, body) = json(api.get(&format!("/subscriptions?{query}")).await).await;
        assert_eq!(status, 422, "{query}");
        assert_eq!(body["detail"][0]["loc"][0], "query", "{query}: {body}");
    }
}

#[tokio::test]
async fn validation_errors_have_the_contract_shape() {
    let mut env = TestEnv::new().await;
    env.set("ALLOW_PRIVATE_TARGETS", Some("false"));
    let api = env.spawn_api().await;

    let cases = [
        (json!({}), vec!["body", "target_url"], "Field required"),
        (
            json!({"target_url": "not a url"}),
            vec!["body", "target_url"],
            "valid URL",
        ),
        (
            json!({"target_url": "ftp://example.com/"}),
            vec!["body", "target_url"],
            "valid URL",
        ),
        (
            json!({"target_url": null}),
            vec!["body", "target_url"],
            "valid string",
        ),
        (
            json!({"target_url": "http://localhost:8000/"}),
            vec!["body", "target_url"],
            "localhost",
        ),
        (
            json!({"target_url": "http://10.0.0.1/"}),
            vec!["body", "target_url"],
            "10.0.0.1",
        ),
        (
            json!({"target_url": "http://[::1]:80/"}),
            vec!["body", "target_url"],
            "::1",
        ),
        (
            json!({"target_url": "https://example.com/", "events": "order.created"}),
            vec!["body", "events"],
            "valid list",
        ),
        (
            json!({"target_url": "https://example.com/", "events": ["a*b"]}),
            vec!["body", "events"],
            "*",
        ),
        (
            json!({"target_url": "https://example.com/", "headers": {"Content-Type": "text/plain"}}),
            vec!["body", "headers"],
            "set by hookrelay",
        ),
        (
            json!({"target_url": "https://example.com/", "headers": {"webhook-signature": "x"}}),
            vec!["body", "headers"],
            "set by hookrelay",
        ),
        (
            json!({"target_url": "https://example.com/", "headers": {"User-Agent": "x"}}),
            vec!["body", "headers"],
            "set by hookrelay",
        ),
        (
            json!({"target_url": "https://example.com/", "headers": ["x"]}),
            vec!["body", "headers"],
            "dictionary",
        ),
        (
            json!({"target_url": "https://example.com/", "is_active": "yes"}),
            vec!["body", "is_active"],
            "boolean",
        ),
        (
            json!({"target_url": "https://example.com/", "secret": 5}),
            vec!["body", "secret"],
            "string",
        ),
        (json!([1, 2]), vec!["body"], "dictionary"),
    ];
    for (body, loc, msg) in cases {
        let (status, error) = json(api.post_json("/subscriptions", &body).await).await;
        assert_eq!(status, 422, "{body}");
        let first = &error["detail"][0];
        let got_loc: Vec<&str> = first["loc"]
            .as_array()
            .expect("loc")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(got_loc[..loc.len()], loc[..], "{body}: {error}");
        assert!(
            first["msg"].as_str().expect("msg").contains(msg),
            "{body}: {error}"
        );
        assert!(first["type"].is_string(), "{body}: {error}");
    }

    // Not JSON at all.
    let response = api
        .request(reqwest::Method::POST, "/subscriptions")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    let (status, error) = json(response).await;
    assert_eq!(status, 422);
    assert_eq!(error["detail"][0]["loc"][0], "body");

    // PATCH refuses nulls where a value is required, and bad path ids.
    let sub = api
        .create_subscription(&json!({"target_url": "https://example.com/"}))
        .await;
    let id = sub["id"].as_str().expect("id");
    for field in ["target_url", "secret", "is_active", "headers"] {
        let (status, error) = json(
            api.patch_json(&format!("/subscriptions/{id}"), &json!({field: null}))
                .await,
        )
        .await;
        assert_eq!(status, 422, "{field}: {error}");
        assert_eq!(error["detail"][0]["loc"], json!(["body", field]));
    }
    let (status, error) = json(api.get("/subscriptions/not-a-uuid").await).await;
    assert_eq!(status, 422);
    assert_eq!(
        error["detail"][0]["loc"],
        json!(["path", "subscription_id"])
    );
    assert!(
        error["detail"][0]["msg"]
            .as_str()
            .expect("msg")
            .contains("valid UUID")
    );

    // Nothing invalid was stored.
    let (_, list) = json(api.get("/subscriptions").await).await;
    assert_eq!(list.as_array().expect("list").len(), 1);
}

#[tokio::test]
async fn a_given_secret_is_kept_and_attempts_of_an_unknown_id_are_empty() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let sub = api
        .create_subscription(
            &json!({"target_url": "https://example.com/", "secret": "my-secret", "events": []}),
        )
        .await;
    assert_eq!(sub["secret"], "my-secret");
    assert_eq!(sub["events"], json!([]));
    let id = sub["id"].as_str().expect("id");
    let (status, attempts) = json(api.get(&format!("/subscriptions/{id}/attempts")).await).await;
    assert_eq!((status, attempts), (200, json!([])));
    let unknown = uuid::Uuid::new_v4();
    let (status, attempts) = json(
        api.get(&format!("/subscriptions/{unknown}/attempts?limit=100"))
            .await,
    )
    .await;
    assert_eq!((status, attempts), (200, json!([])));
    let (status, _) = json(
        api.get(&format!("/subscriptions/{id}/attempts?limit=101"))
            .await,
    )
    .await;
    assert_eq!(status, 422);
}

/// An api with one subscription to `https://example.com/`: the subscription and its path.
async fn one_subscription() -> (TestEnv, TestApi, Value, String) {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let sub = api
        .create_subscription(&json!({"target_url": "https://example.com/"}))
        .await;
    let path = format!("/subscriptions/{}", sub["id"].as_str().expect("id"));
    (env, api, sub, path)
}

/// Sends `fields` as a POST body (with a `target_url` added when it has none) and as a
/// PATCH of `path`. Both must be a 422 with exactly one error, at `loc`: that error, for
/// each method.
async fn refused_by_post_and_patch(
    api: &TestApi,
    path: &str,
    fields: &Value,
    loc: &Value,
) -> [(&'static str, Value); 2] {
    let mut body = fields.clone();
    if body.get("target_url").is_none() {
        body["target_url"] = json!("https://example.com/");
    }
    let post = json(api.post_json("/subscriptions", &body).await).await;
    let patch = json(api.patch_json(path, fields).await).await;
    [("POST", post), ("PATCH", patch)].map(|(method, (status, error))| {
        assert_eq!(status, 422, "{method} {fields}: {error}");
        assert_eq!(
            error["detail"].as_array().map(Vec::len),
            Some(1),
            "{method} {fields}: {error}"
        );
        let first = error["detail"][0].clone();
        assert_eq!(&first["loc"], loc, "{method} {fields}: {error}");
        (method, first)
    })
}

/// Postgres text and jsonb refuse U+0000, so a NUL anywhere in a stored string is a 422
/// naming the field (never a 500, and never a URL the parser quietly changed).
#[tokio::test]
async fn nul_characters_in_any_stored_string_are_a_422() {
    let (_env, api, sub, path) = one_subscription().await;

    let cases = [
        (
            json!({"target_url": "https://example.com/a\u{0}b"}),
            json!(["body", "target_url"]),
        ),
        (
            json!({"target_url": "\u{0}https://example.com/"}),
            json!(["body", "target_url"]),
        ),
        (
            json!({"target_url": "https://example.com/?q=\u{0}"}),
            json!(["body", "target_url"]),
        ),
        (json!({"secret": "a\u{0}b"}), json!(["body", "secret"])),
        (
            json!({"description": "a\u{0}b"}),
            json!(["body", "description"]),
        ),
        (
            json!({"events": ["ok", "a\u{0}b"]}),
            json!(["body", "events", 1]),
        ),
        (
            json!({"headers": {"x-a\u{0}": "v"}}),
            json!(["body", "headers", "x-a\u{0}"]),
        ),
        (
            json!({"headers": {"x-a": "v\u{0}"}}),
            json!(["body", "headers", "x-a"]),
        ),
    ];
    for (fields, loc) in cases {
        for (method, error) in refused_by_post_and_patch(&api, &path, &fields, &loc).await {
            assert!(
                error["msg"].as_str().expect("msg").contains("NUL"),
                "{method} {fields}: {error}"
            );
            assert_eq!(error["type"], "string_nul", "{method} {fields}: {error}");
        }
    }

    // Nothing was stored or changed.
    let (_, list) = json(api.get("/subscriptions").await).await;
    assert_eq!(list, json!([sub]));
}

/// CONTRACT §5 signs with the base64-decoded part after `whsec_`, so a `whsec_` secret
/// without a valid key there would be signed in a way no receiver can verify: a 422.
#[tokio::test]
async fn a_whsec_secret_must_hold_a_padded_base64_key() {
    let (_env, api, sub, path) = one_subscription().await;
    let url = "https://example.com/";

    for secret in ["whsec_", "whsec_YWJjZA", "whsec_notbase64!!", "whsec_YW Jj"] {
        let fields = json!({"secret": secret});
        let loc = json!(["body", "secret"]);
        for (method, error) in refused_by_post_and_patch(&api, &path, &fields, &loc).await {
            let msg = error["msg"].as_str().expect("msg");
            assert!(
                msg.contains("whsec_") && msg.contains("base64") && msg.contains("padding"),
                "{method} {secret}: {msg}"
            );
        }
    }
    let (_, list) = json(api.get("/subscriptions").await).await;
    assert_eq!(list, json!([sub]), "nothing invalid was stored");

    // A padded key, and secrets without the prefix, are accepted as before.
    for secret in ["whsec_YWJjZA==", "whsec-like but plain", "YWJjZA"] {
        let created = api
            .create_subscription(&json!({"target_url": url, "secret": secret}))
            .await;
        assert_eq!(created["secret"], secret);
        let (status, patched) = json(api.patch_json(&path, &json!({"secret": secret})).await).await;
        assert_eq!((status, &patched["secret"]), (200, &json!(secret)));
    }
}

/// Custom headers are sent as stored: one header per name ignoring case, none that change
/// how the request is sent, values an HTTP receiver gets exactly as stored.
#[tokio::test]
async fn custom_headers_are_refused_unless_sent_exactly_as_stored() {
    let (_env, api, sub, path) = one_subscription().await;

    let cases = [
        (json!({"X-A": "1", "x-a": "2"}), "x-a", "repeats X-A"),
        (
            json!({"X-Tenant": "1", "x-TENANT": "2"}),
            "x-TENANT",
            "case-insensitive",
        ),
        (
            json!({"expect": "100-continue"}),
            "expect",
            "cannot be overridden",
        ),
        (
            json!({"Expect": "100-continue"}),
            "Expect",
            "cannot be overridden",
        ),
        (json!({"x-a": "é"}), "x-a", "visible ASCII"),
        (json!({"x-a": "a\u{7f}"}), "x-a", "visible ASCII"),
        (json!({"x-a": "a\nb"}), "x-a", "visible ASCII"),
        (json!({"x-a": " v"}), "x-a", "start or end"),
        (json!({"x-a": "v "}), "x-a", "start or end"),
        (json!({"x-a": "v\t"}), "x-a", "start or end"),
    ];
    for (headers, name, msg) in cases {
        let fields = json!({"headers": headers});
        let loc = json!(["body", "headers", name]);
        for (method, error) in refused_by_post_and_patch(&api, &path, &fields, &loc).await {
            assert!(
                error["msg"].as_str().expect("msg").contains(msg),
                "{method} {headers}: {error}"
            );
            assert_eq!(error["type"], "value_error", "{method} {headers}: {error}");
        }
    }
    let (_, list) = json(api.get("/subscriptions").await).await;
    assert_eq!(list, json!([sub]), "nothing invalid was stored");

    // Spaces and tabs inside a value, and an empty value, are fine; names keep their case.
    let headers = json!({"X-Tenant": "a b\tc", "x-empty": "", "Authorization": "Bearer t"});
    let created = api
        .create_subscription(&json!({"target_url": "https://example.com/", "headers": headers}))
        .await;
    assert_eq!(created["headers"], headers);
    let (status, patched) = json(api.patch_json(&path, &json!({"headers": headers})).await).await;
    assert_eq!((status, &patched["headers"]), (200, &headers));
}
