//! `POST /ingest` and `POST /ingest/{id}` end to end (CONTRACT §4), through HTTP against
//! the real api, Postgres and Redis: every error with its status and exact body, the
//! error order, the exact bytes in the stream, idempotency under a race, metrics.

use std::collections::HashMap;

use deadpool_redis::redis::{self, Value as RedisValue};
use hookrelay_shared::queue::{Entry, IngestedWebhook};
use hookrelay_tests::api::{TestApi, json, webhook_id};
use hookrelay_tests::worker::stream_entries;
use hookrelay_tests::{API_KEY, TestEnv};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

/// Sends `body` as-is to `path` with the given headers (and the test key).
async fn post(
    api: &TestApi,
    path: &str,
    headers: &[(&str, &[u8])],
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = api.request(Method::POST, path).body(body);
    for (name, value) in headers {
        request = request.header(
            *name,
            reqwest::header::HeaderValue::from_bytes(value).expect("a header value"),
        );
    }
    request.send().await.expect("POST sent")
}

/// A subscription to a closed port, active or not.
async fn subscription(api: &TestApi, active: bool) -> Uuid {
    api.create_subscription_id(
        &json!({"target_url": "http://127.0.0.1:9/hook", "is_active": active}),
    )
    .await
    .parse()
    .expect("a UUID")
}

/// Every webhook entry in this test's stream, oldest first.
async fn stream(env: &TestEnv) -> Vec<IngestedWebhook> {
    stream_entries::<HashMap<String, RedisValue>>(env)
        .await
        .into_iter()
        .map(
            |(_, mut fields)| match Entry::decode(&mut fields).expect("a well-formed entry") {
                Entry::Webhook(webhook) => webhook,
                Entry::Retry(job) => panic!("unexpected retry entry {job:?}"),
            },
        )
        .collect()
}

/// Sends `chunks` with `Transfer-Encoding: chunked` (no `Content-Length`), so the api
/// only learns the size while reading; returns the status code.
async fn chunked_status(api: &TestApi, path: &str, chunks: &[&str]) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = api.base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {API_KEY}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for chunk in chunks {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    // The server may close as soon as it has answered; what was read is enough.
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[tokio::test]
async fn ingest_each_error_has_its_status_and_body() {
    let mut env = TestEnv::new().await;
    env.set("MAX_PAYLOAD_BYTES", Some("64"));
    let api = env.spawn_api().await;
    let active = subscription(&api, true).await;
    let paused = subscription(&api, false).await;
    let unknown = Uuid::new_v4();
    let invalid_json = json!({"detail": "Invalid JSON body received."});
    let header_error = |name: &str| json!({"detail": [{"loc": ["header", name], "msg": "Header must be 1 to 255 visible ASCII characters", "type": "value_error"}]});

    // 401: no key, a wrong key.
    let bare = api
        .client
        .post(api.url("/ingest"))
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        json(bare).await,
        (401, json!({"detail": "Not authenticated"}))
    );
    let wrong = api
        .client
        .post(api.url("/ingest"))
        .bearer_auth("nope")
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        json(wrong).await,
        (401, json!({"detail": "Invalid API key"}))
    );

    // 422: the path.
    let (status, body) = json(post(&api, "/ingest/not-a-uuid", &[], "{}").await).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["path", "subscription_id"]));
    assert!(
        body["detail"][0]["msg"]
            .as_str()
            .expect("msg")
            .contains("valid UUID"),
        "{body}"
    );

    // 404, 409.
    let not_found = json!({"detail": "Subscription not found"});
    assert_eq!(
        json(post(&api, &format!("/ingest/{unknown}"), &[], "{}").await).await,
        (404, not_found.clone())
    );
    assert_eq!(
        json(post(&api, &format!("/ingest/{paused}"), &[], "{}").await).await,
        (409, json!({"detail": "Subscription is inactive"}))
    );

    // 413: declared, and streamed without a length.
    let big = format!("[\"{}\"]", "x".repeat(100));
    let (status, body) = json(post(&api, "/ingest", &[], big.clone()).await).await;
    assert_eq!((status, body["detail"].is_string()), (413, true), "{body}");
    assert_eq!(
        chunked_status(&api, "/ingest", &[&big[..50], &big[50..]]).await,
        413
    );
    assert_eq!(chunked_status(&api, "/ingest", &["[1,", "2]"]).await, 202);
    // Exactly at the limit is fine.
    let at_limit = format!("\"{}\"", "y".repeat(62));
    assert_eq!(post(&api, "/ingest", &[], at_limit).await.status(), 202);

    // 400: empty, whitespace, not UTF-8, not JSON, two values.
    for body in [
        &b""[..],
        b"  \n",
        b"\xff\xfe{}",
        b"{\"a\": \"\xe9\"}",
        b"{\"a\":",
        b"hello",
        b"{} {}",
    ] {
        for path in ["/ingest".to_owned(), format!("/ingest/{active}")] {
            assert_eq!(
                json(post(&api, &path, &[], body.to_vec()).await).await,
                (400, invalid_json.clone()),
                "{body:?} to {path}"
            );
        }
    }

    // 422: the headers.
    for bad in [&b""[..], b"has space", b"caf\xc3\xa9", &[b'a'; 256]] {
        assert_eq!(
            json(post(&api, "/ingest", &[("x-event-type", bad)], "{}").await).await,
            (422, header_error("x-event-type"))
        );
        assert_eq!(
            json(post(&api, "/ingest", &[("idempotency-key", bad)], "{}").await).await,
            (422, header_error("idempotency-key"))
        );
    }
    assert_eq!(
        post(&api, "/ingest", &[("x-event-type", &[b'a'; 255])], "{}")
            .await
            .status(),
        202
    );

    // Nothing refused reached the stream: only the three accepted bodies.
    assert_eq!(stream(&env).await.len(), 3);
}

#[tokio::test]
async fn ingest_errors_come_in_the_documented_order() {
    let mut env = TestEnv::new().await;
    env.set("MAX_PAYLOAD_BYTES", Some("16"));
    let api = env.spawn_api().await;
    let paused = subscription(&api, false).await;
    let unknown = Uuid::new_v4();
    let too_big_and_bad = "x".repeat(32);
    let status = async |path: String, headers: &[(&str, &[u8])], body: &str, key: Option<&str>| {
        let mut request = api.client.post(api.url(&path)).body(body.to_owned());
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        for (name, value) in headers {
            request = request.header(
                *name,
                reqwest::header::HeaderValue::from_bytes(value).expect("header"),
            );
        }
        request.send().await.expect("sent").status().as_u16()
    };
    let bad_header: &[(&str, &[u8])] = &[("x-event-type", b"a b")];
    // 401 before everything.
    assert_eq!(
        status("/ingest/nope".into(), bad_header, &too_big_and_bad, None).await,
        401
    );
    // Path 422 before header 422 and everything after.
    let (code, body) =
        json(post(&api, "/ingest/nope", bad_header, too_big_and_bad.clone()).await).await;
    assert_eq!(
        (code, body["detail"][0]["loc"].clone()),
        (422, json!(["path", "subscription_id"]))
    );
    // Header 422 before 404 / 409 / 413 / 400.
    assert_eq!(
        status(
            format!("/ingest/{unknown}"),
            bad_header,
            &too_big_and_bad,
            Some(API_KEY)
        )
        .await,
        422
    );
    // 404 before 413 and 400; 409 likewise.
    assert_eq!(
        status(
            format!("/ingest/{unknown}"),
            &[],
            &too_big_and_bad,
            Some(API_KEY)
        )
        .await,
        404
    );
    assert_eq!(
        status(
            format!("/ingest/{paused}"),
            &[],
            &too_big_and_bad,
            Some(API_KEY)
        )
        .await,
        409
    );
    // 413 before 400.
    assert_eq!(
        status("/ingest".into(), &[], &too_big_and_bad, Some(API_KEY)).await,
        413
    );
    assert_eq!(
        status("/ingest".into(), &[], "nope", Some(API_KEY)).await,
        400
    );
}

#[tokio::test]
async fn ingest_the_stream_holds_the_exact_bytes_sent() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let target = subscription(&api, true).await;
    let bodies: [&[u8]; 5] = [
        b"{\"b\":1,\"a\":2}",
        b"  {\n\t\"z\" : [ 1 ,2 ] ,  \"a\":{ }\r\n}  \n",
        "{\"emoji\": \"\u{1F600}\", \"caf\u{e9}\": \"\\u00e9\", \"n\": 1.0e+2}".as_bytes(),
        b"\"just a string\"",
        b"[null,true,false,-0,1E400]",
    ];
    let mut sent = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let (path, event): (String, Option<&[u8]>) = if i % 2 == 0 {
            ("/ingest".into(), Some(b"order.created"))
        } else {
            (format!("/ingest/{target}"), None)
        };
        let headers: Vec<(&str, &[u8])> = event.map(|e| ("x-event-type", e)).into_iter().collect();
        let response = post(&api, &path, &headers, body.to_vec()).await;
        let (status, answer) = json(response).await;
        assert_eq!(status, 202, "{answer}");
        sent.push((webhook_id(&answer), body.to_vec(), i % 2 == 1));
    }

    let stored = stream(&env).await;
    assert_eq!(stored.len(), bodies.len());
    for (id, body, targeted) in &sent {
        let webhook = stored
            .iter()
            .find(|webhook| webhook.webhook_id == *id)
            .unwrap_or_else(|| panic!("{id} is not in the stream"));
        assert_eq!(webhook.body.as_ref(), body.as_slice(), "bytes of {id}");
        if *targeted {
            assert_eq!(
                (webhook.subscription_id, webhook.event_type.as_deref()),
                (Some(target), None)
            );
        } else {
            assert_eq!(
                (webhook.subscription_id, webhook.event_type.as_deref()),
                (None, Some("order.created"))
            );
        }
        // v7 ids sort by time.
        assert_eq!(id.get_version_num(), 7);
    }
    let ids: Vec<_> = sent.iter().map(|(id, ..)| *id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

#[tokio::test]
async fn ingest_racing_requests_with_one_idempotency_key_make_one_webhook() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let requests = (0..20).map(|i| {
        post(
            &api,
            "/ingest",
            &[("idempotency-key", b"order-42")],
            format!("{{\"try\": {i}}}"),
        )
    });
    let responses = futures::future::join_all(requests).await;
    let mut ids = Vec::new();
    let mut replayed = 0;
    for response in responses {
        assert_eq!(response.status(), 202);
        if response
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.as_bytes())
            == Some(b"true")
        {
            replayed += 1;
        }
        ids.push(webhook_id(&response.json().await.expect("JSON")));
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1, "one webhook id for every request");
    assert_eq!(replayed, 19);
    assert_eq!(stream(&env).await.len(), 1, "one stream entry");

    // A later repeat replays too, even with another body; another key is a new webhook.
    let again = post(&api, "/ingest", &[("idempotency-key", b"order-42")], "[]").await;
    assert_eq!(
        again
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    assert_eq!(webhook_id(&again.json().await.expect("JSON")), ids[0]);
    let other = post(&api, "/ingest", &[("idempotency-key", b"order-43")], "[]").await;
    assert!(other.headers().get("idempotent-replayed").is_none());
    assert_ne!(webhook_id(&other.json().await.expect("JSON")), ids[0]);
    assert_eq!(stream(&env).await.len(), 2);

    // The key is remembered for 24 hours.
    let mut redis = env.redis().await;
    let ttl: i64 = redis::cmd("TTL")
        .arg(env.keys().origin(ids[0]).idempotency(None, "order-42"))
        .query_async(&mut redis)
        .await
        .expect("TTL");
    assert!((86_000..=86_400).contains(&ttl), "{ttl}");
}

#[tokio::test]
async fn ingest_is_counted_in_the_metrics() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    // The first scrape installs the recorder if nothing has yet.
    api.metrics_page().await;
    assert_eq!(post(&api, "/ingest", &[], "{}").await.status(), 202);
    assert_eq!(post(&api, "/ingest", &[], "").await.status(), 400);
    let text = api.metrics_page().await;
    for line in [
        "hookrelay_ingest_total{route=\"fan_out\",outcome=\"accepted\"}",
        "hookrelay_ingest_total{route=\"fan_out\",outcome=\"rejected\"}",
        "hookrelay_ingest_duration_seconds_count{route=\"fan_out\"}",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}
