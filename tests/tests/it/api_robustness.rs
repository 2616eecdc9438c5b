//! The api under clients that misbehave (issue 8): a body that trickles in gets a timely
//! 408 while the api keeps answering others; a wrong method names the allowed ones; two
//! `Authorization` headers are refused rather than guessed between. Every refusal is a
//! `{"detail": …}` body (CONTRACT §2).

use std::time::{Duration, Instant};

use hookrelay_api::body::READ_TIMEOUT;
use hookrelay_tests::api::json;
use hookrelay_tests::{API_KEY, TestApi, TestEnv};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Sends `head` and then a body of `length` bytes one byte every 500 ms, until the api
/// answers; returns the answer (status line, headers, body) and how long it took. Says on
/// `trickling` once the first byte of the body is out.
async fn trickle(
    api: &TestApi,
    method_and_path: &str,
    length: usize,
    trickling: mpsc::UnboundedSender<()>,
) -> (String, Duration) {
    let address = api.base_url.trim_start_matches("http://");
    let stream = TcpStream::connect(address).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "{method_and_path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {API_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    );
    writer
        .write_all(head.as_bytes())
        .await
        .expect("send the head");
    let started = Instant::now();
    let sender = tokio::spawn(async move {
        // The pace is the misbehaviour under test: a byte on each tick, the first at once.
        let mut pace = tokio::time::interval(Duration::from_millis(500));
        for n in 0..length {
            pace.tick().await;
            if writer.write_all(b" ").await.is_err() {
                break;
            }
            if n == 0 {
                let _ = trickling.send(());
            }
        }
    });
    let mut answer = Vec::new();
    let limit = READ_TIMEOUT + Duration::from_secs(5);
    let read = tokio::time::timeout(limit, reader.read_to_end(&mut answer)).await;
    sender.abort();
    assert!(
        read.is_ok(),
        "no answer (or the connection stayed open) within {limit:?}"
    );
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_trickled_body_gets_a_408_in_time_and_the_api_keeps_answering() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let (trickling, mut under_way) = mpsc::unbounded_channel();
    let ingest = trickle(&api, "POST /ingest", 1000, trickling.clone());
    let subscriptions = trickle(&api, "POST /subscriptions", 1000, trickling);
    let health = async {
        // While both clients trickle, everyone else is served as usual.
        for _ in 0..2 {
            tokio::time::timeout(Duration::from_secs(10), under_way.recv())
                .await
                .expect("both clients trickling within 10 s")
                .expect("a trickling client");
        }
        let response = api.get("/healthz").await;
        (
            response.status().as_u16(),
            response.text().await.expect("a body"),
        )
    };
    let ((ingest, ingest_took), (subscriptions, subscriptions_took), health) =
        tokio::join!(ingest, subscriptions, health);
    assert_eq!(health.0, 200, "{health:?}");
    for (answer, took) in [(ingest, ingest_took), (subscriptions, subscriptions_took)] {
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{answer}"));
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}"
        );
        assert!(
            took >= READ_TIMEOUT && took < READ_TIMEOUT + Duration::from_secs(3),
            "answered after {took:?}"
        );
    }
}

#[tokio::test]
async fn a_wrong_method_answers_405_with_the_allowed_methods() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    for (method, path, allow) in [
        (reqwest::Method::PUT, "/subscriptions", "POST, GET"),
        (
            reqwest::Method::POST,
            "/subscriptions/00000000-0000-0000-0000-000000000000",
            "GET, PATCH, DELETE",
        ),
        (reqwest::Method::GET, "/ingest", "POST"),
        (reqwest::Method::DELETE, "/healthz", "GET"),
        (reqwest::Method::OPTIONS, "/status/x", "GET"),
    ] {
        let response = api
            .request(method.clone(), path)
            .send()
            .await
            .expect("sent");
        let header = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (status, body) = json(response).await;
        assert_eq!(
            (status, body, header.as_deref()),
            (
                405,
                serde_json::json!({"detail": "Method Not Allowed"}),
                Some(allow)
            ),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn two_authorization_headers_are_refused() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    for path in [
        "/subscriptions",
        "/status/00000000-0000-0000-0000-000000000000",
    ] {
        let response = api
            .client
            .get(api.url(path))
            .header("authorization", format!("Bearer {API_KEY}"))
            .header("authorization", "Bearer another-key")
            .send()
            .await
            .expect("sent");
        let (status, body) = json(response).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("Authorization")),
            "{body}"
        );
    }
    // One is still fine.
    assert_eq!(api.get("/subscriptions").await.status(), 200);
}
