//! Sources (`/sources`, `POST /in/<token>`) through the api and the real worker binary:
//! every preset, signed in the test the way its provider documents it, accepted and
//! delivered byte for byte with its content type; every bad input refused with the right
//! status and recorded in the rejections; client addresses behind trusted and untrusted
//! peers; rate limits across two api processes; event types and fan-out; management
//! (masked secrets, PATCH, pause, rotate-path, delete); Slack's challenge; providers'
//! delivery ids.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use hookrelay_tests::api::json;
use hookrelay_tests::worker::WorkerProcess;
use hookrelay_tests::{Receiver, TestApi, TestEnv, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);

type Sha256Mac = Hmac<sha2::Sha256>;

/// HMAC of `message` under `key`, computed here from the providers' documented
/// algorithms (not with the code under test).
fn mac<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(key: &str, message: &[u8]) -> String {
    hex::encode(mac::<Sha256Mac>(key.as_bytes(), message))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

async fn create_source(api: &TestApi, body: &Value) -> Value {
    let (status, created) = json(api.post_json("/sources", body).await).await;
    assert_eq!(status, 201, "{created}");
    created
}

fn path_of(source: &Value) -> String {
    source["ingest_path"]
        .as_str()
        .unwrap_or_else(|| panic!("ingest_path in {source}"))
        .to_owned()
}

/// An inbound request as a provider sends it: no API key, raw bytes.
struct Sent {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Sent {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn detail(&self) -> String {
        self.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

async fn send(api: &TestApi, path: &str, headers: &[(&str, String)], body: &[u8]) -> Sent {
    let mut request = api.client.post(api.url(path)).body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    let response = request.send().await.expect("the api answers");
    Sent {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("a body").to_vec(),
    }
}

async fn rejections(api: &TestApi, source: &Value, at_least: usize) -> Vec<Value> {
    let id = source["id"].as_str().expect("an id");
    eventually(WAIT, "the rejections to be recorded", || async {
        let (status, list) = json(
            api.get(&format!("/sources/{id}/rejections?limit=100"))
                .await,
        )
        .await;
        assert_eq!(status, 200, "{list}");
        let list = list.as_array().cloned().unwrap_or_default();
        (list.len() >= at_least).then_some(list)
    })
    .await
}

/// One preset: how the source verifies, and a request signed as its provider signs.
struct Preset {
    verification: Value,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    forward: Vec<&'static str>,
}

fn presets() -> Vec<Preset> {
    let t = now();
    let json_body = br#"{ "zen": "Keep it logically awesome.",  "hook_id": 1 }"#.to_vec();
    let standard_secret = format!("whsec_{}", BASE64.encode(b"standard webhooks key"));
    let standard_signature = standardwebhooks::Webhook::new(&standard_secret)
        .expect("a whsec_ secret")
        .sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", t, &json_body)
        .expect("signs");
    let form =
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&command=%2Fweather&text=94070".to_vec();
    let xml = b"<?xml version=\"1.0\"?><order id=\"7\"/>".to_vec();
    let binary = vec![0u8, 159, 146, 150, 255, 10, 13];
    vec![
        Preset {
            verification: json!({"type": "github", "secret": "It's a Secret to Everybody"}),
            content_type: Some("application/json"),
            headers: vec![
                (
                    "X-Hub-Signature-256",
                    format!(
                        "sha256={}",
                        sha256_hex("It's a Secret to Everybody", &json_body)
                    ),
                ),
                ("X-GitHub-Event", "push".into()),
                ("X-GitHub-Delivery", uuid::Uuid::new_v4().to_string()),
            ],
            body: json_body.clone(),
            forward: vec!["x-github-event", "x-github-delivery"],
        },
        Preset {
            verification: json!({"type": "shopify", "secret": "shpss_secret"}),
            content_type: Some("application/json"),
            headers: vec![
                (
                    "X-Shopify-Hmac-Sha256",
                    BASE64.encode(mac::<Sha256Mac>(b"shpss_secret", &json_body)),
                ),
                ("X-Shopify-Topic", "orders/create".into()),
            ],
            body: json_body.clone(),
            forward: vec!["x-shopify-topic"],
        },
        Preset {
            verification: json!({"type": "stripe", "secret": "whsec_stripe_endpoint_secret"}),
            content_type: Some("application/json; charset=utf-8"),
            headers: vec![(
                "Stripe-Signature",
                format!(
                    "t={t},v1={},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
                    sha256_hex(
                        "whsec_stripe_endpoint_secret",
                        &concat(&[t.to_string().as_bytes(), b".", &json_body])
                    )
                ),
            )],
            body: json_body.clone(),
            forward: vec![],
        },
        Preset {
            verification: json!({"type": "slack", "secret": "8f742231b10e8888abcd99yyyzzz85a5"}),
            content_type: Some("application/x-www-form-urlencoded"),
            headers: vec![
                ("X-Slack-Request-Timestamp", t.to_string()),
                (
                    "X-Slack-Signature",
                    format!(
                        "v0={}",
                        sha256_hex(
                            "8f742231b10e8888abcd99yyyzzz85a5",
                            &concat(&[b"v0:", t.to_string().as_bytes(), b":", &form])
                        )
                    ),
                ),
            ],
            body: form,
            forward: vec![],
        },
        Preset {
            verification: json!({"type": "standard_webhooks", "secret": standard_secret}),
            content_type: Some("application/json"),
            headers: vec![
                ("webhook-id", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W".into()),
                ("webhook-timestamp", t.to_string()),
                ("webhook-signature", standard_signature),
            ],
            body: json_body.clone(),
            forward: vec![],
        },
        Preset {
            verification: json!({"type": "hmac", "header": "X-Signature", "algorithm": "sha1",
                                 "encoding": "hex", "prefix": "sha1=", "secret": "legacy"}),
            content_type: Some("application/xml"),
            headers: vec![(
                "X-Signature",
                format!(
                    "sha1={}",
                    hex::encode(mac::<Hmac<sha1::Sha1>>(b"legacy", &xml))
                ),
            )],
            body: xml,
            forward: vec![],
        },
        Preset {
            verification: json!({"type": "hmac", "header": "X-Hmac", "algorithm": "sha512",
                                 "encoding": "base64", "secret": "wide"}),
            content_type: Some("application/octet-stream"),
            headers: vec![(
                "X-Hmac",
                BASE64.encode(mac::<Hmac<sha2::Sha512>>(b"wide", &binary)),
            )],
            body: binary,
            forward: vec![],
        },
        Preset {
            verification: json!({"type": "bearer", "token": "t0ken"}),
            content_type: Some("text/plain"),
            headers: vec![("Authorization", "Bearer t0ken".into())],
            body: b"plain words".to_vec(),
            forward: vec![],
        },
        Preset {
            verification: json!({"type": "basic", "username": "relay", "password": "pa55"}),
            content_type: None,
            headers: vec![(
                "Authorization",
                format!("Basic {}", BASE64.encode("relay:pa55")),
            )],
            body: b"no content type at all".to_vec(),
            forward: vec![],
        },
        Preset {
            verification: json!({"type": "api_key", "header": "X-Api-Key", "key": "k3y"}),
            content_type: Some("application/json"),
            headers: vec![("X-Api-Key", "k3y".into())],
            body: b"[1, 2, 3]".to_vec(),
            forward: vec![],
        },
        Preset {
            verification: json!({"type": "none"}),
            content_type: Some("text/csv"),
            headers: vec![],
            body: b"a,b\n1,2\n".to_vec(),
            forward: vec![],
        },
    ]
}

#[tokio::test]
async fn every_preset_signed_as_its_provider_signs_is_delivered_byte_for_byte() {
    let env = TestEnv::new().await;
    let mut receiver = Receiver::ok().await;
    let api = env.spawn_api().await;
    let _worker = WorkerProcess::spawn(&env);
    let subscription = api
        .create_subscription(&json!({"target_url": receiver.url}))
        .await;
    let secret = subscription["secret"]
        .as_str()
        .expect("a secret")
        .to_owned();
    for preset in presets() {
        let kind = preset.verification["type"].clone();
        let source = create_source(
            &api,
            &json!({"name": format!("{kind}"), "verification": preset.verification,
                    "subscription_id": subscription["id"], "forward_headers": preset.forward,
                    "event_type": {"header": "X-GitHub-Event"}}),
        )
        .await;
        let mut headers = preset.headers.clone();
        if let Some(content_type) = preset.content_type {
            headers.push(("Content-Type", content_type.into()));
        }
        let sent = send(&api, &path_of(&source), &headers, &preset.body).await;
        assert_eq!(sent.status, 202, "{kind}: {}", sent.detail());
        let webhook_id = sent.json()["webhook_id"]
            .as_str()
            .expect("an id")
            .to_owned();

        let got = receiver.next(WAIT).await;
        assert_eq!(
            got.body.as_ref(),
            preset.body.as_slice(),
            "{kind}: byte for byte"
        );
        assert_eq!(got.header("content-type"), preset.content_type, "{kind}");
        assert_eq!(
            got.header("webhook-id"),
            Some(webhook_id.as_str()),
            "{kind}"
        );
        for name in &preset.forward {
            let sent_value = preset
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str());
            assert_eq!(got.header(name), sent_value, "{kind}: {name} forwarded");
        }
        if kind == "github" {
            assert_eq!(
                got.header("x-event-type"),
                Some("push"),
                "event type from the header"
            );
        }
        if std::str::from_utf8(&preset.body).is_ok() {
            standardwebhooks::Webhook::new(&secret)
                .expect("a whsec_ secret")
                .verify(&got.body, &got.header_map())
                .unwrap_or_else(|e| {
                    panic!("{kind}: the delivery is signed over the raw body: {e:?}")
                });
        }
    }
}

/// One refused request: what it shows, what is sent, and what the answer must be.
struct Case {
    what: &'static str,
    headers: Vec<(&'static str, String)>,
    payload: Vec<u8>,
    status: u16,
    says: &'static str,
}

#[tokio::test]
async fn bad_requests_are_refused_naming_the_check_and_recorded() {
    let mut env = TestEnv::new().await;
    env.set("MAX_PAYLOAD_BYTES", Some("2048"));
    let api = env.spawn_api().await;
    let subscription = api
        .create_subscription(&json!({"target_url": "http://127.0.0.1:9/nowhere"}))
        .await;
    let secret = "github-secret";
    let github = create_source(
        &api,
        &json!({"name": "gh", "verification": {"type": "github", "secret": secret},
                "subscription_id": subscription["id"]}),
    )
    .await;
    let path = path_of(&github);
    let body = br#"{"action": "opened"}"#;
    let signature = format!("sha256={}", sha256_hex(secret, body));
    let sig = |value: &str| vec![("X-Hub-Signature-256", value.to_owned())];

    let cases = [
        Case {
            what: "altered by one byte",
            headers: sig(&signature),
            payload: br#"{"action": "opened "}"#.to_vec(),
            status: 401,
            says: "does not match",
        },
        Case {
            what: "another secret",
            headers: sig(&format!("sha256={}", sha256_hex("not-the-secret", body))),
            payload: body.to_vec(),
            status: 401,
            says: "does not match",
        },
        Case {
            what: "no signature",
            headers: vec![],
            payload: body.to_vec(),
            status: 401,
            says: "X-Hub-Signature-256",
        },
        Case {
            what: "not hex",
            headers: sig(&format!("sha256={}", "zz".repeat(32))),
            payload: body.to_vec(),
            status: 401,
            says: "X-Hub-Signature-256",
        },
        Case {
            what: "repeated header",
            headers: vec![
                ("X-Hub-Signature-256", signature.clone()),
                ("X-Hub-Signature-256", signature.clone()),
            ],
            payload: body.to_vec(),
            status: 401,
            says: "X-Hub-Signature-256",
        },
        Case {
            what: "over MAX_PAYLOAD_BYTES",
            headers: sig(&format!("sha256={}", sha256_hex(secret, &[b'x'; 2049]))),
            payload: vec![b'x'; 2049],
            status: 413,
            says: "",
        },
    ];
    for case in &cases {
        let what = case.what;
        let sent = send(&api, &path, &case.headers, &case.payload).await;
        assert_eq!(sent.status, case.status, "{what}: {}", sent.detail());
        assert!(
            sent.detail().contains(case.says),
            "{what}: {}",
            sent.detail()
        );
        assert!(!sent.detail().contains(secret), "{what}: never the secret");
    }
    // A correctly signed empty body is a webhook like any other.
    let empty = send(
        &api,
        &path,
        &sig(&format!("sha256={}", sha256_hex(secret, b""))),
        b"",
    )
    .await;
    assert_eq!(empty.status, 202, "{}", empty.detail());

    // Timestamps outside the tolerance: Stripe (a request replayed later), Slack and
    // Standard Webhooks, stale or from the future.
    let stripe = create_source(
        &api,
        &json!({"name": "stripe", "verification": {"type": "stripe", "secret": "sk"},
                "subscription_id": subscription["id"]}),
    )
    .await;
    let stripe_at = |t: i64| {
        let signed = sha256_hex("sk", &concat(&[t.to_string().as_bytes(), b".", body]));
        vec![("Stripe-Signature", format!("t={t},v1={signed}"))]
    };
    let replayed = send(&api, &path_of(&stripe), &stripe_at(now() - 301), body).await;
    assert_eq!(replayed.status, 401);
    assert!(
        replayed.detail().contains("tolerance"),
        "{}",
        replayed.detail()
    );
    let fresh = send(&api, &path_of(&stripe), &stripe_at(now() - 5), body).await;
    assert_eq!(fresh.status, 202, "{}", fresh.detail());

    let slack = create_source(
        &api,
        &json!({"name": "slack", "verification": {"type": "slack", "secret": "sl"},
                "subscription_id": subscription["id"]}),
    )
    .await;
    let t = now() - 600;
    let slack_signature = format!(
        "v0={}",
        sha256_hex(
            "sl",
            &concat(&[b"v0:", t.to_string().as_bytes(), b":", body])
        )
    );
    let stale = send(
        &api,
        &path_of(&slack),
        &[
            ("X-Slack-Request-Timestamp", t.to_string()),
            ("X-Slack-Signature", slack_signature),
        ],
        body,
    )
    .await;
    assert_eq!(stale.status, 401, "{}", stale.detail());

    let standard_secret = format!("whsec_{}", BASE64.encode(b"k"));
    let standard = create_source(
        &api,
        &json!({"name": "sw", "verification": {"type": "standard_webhooks", "secret": standard_secret},
                "subscription_id": subscription["id"]}),
    )
    .await;
    for t in [now() - 301, now() + 301] {
        let signature = standardwebhooks::Webhook::new(&standard_secret)
            .expect("a secret")
            .sign("msg_1", t, body)
            .expect("signs");
        let sent = send(
            &api,
            &path_of(&standard),
            &[
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", t.to_string()),
                ("webhook-signature", signature),
            ],
            body,
        )
        .await;
        assert_eq!(sent.status, 401, "timestamp {t}: {}", sent.detail());
    }

    // Every refusal is in its source's rejections, newest first, with the address.
    let recorded = rejections(&api, &github, cases.len()).await;
    assert_eq!(recorded.len(), cases.len(), "{recorded:?}");
    let statuses: Vec<i64> = recorded
        .iter()
        .filter_map(|r| r["status"].as_i64())
        .collect();
    assert_eq!(statuses, [413, 401, 401, 401, 401, 401]);
    for rejection in &recorded {
        assert_eq!(rejection["remote_addr"], "127.0.0.1");
        let reason = rejection["reason"].as_str().expect("a reason");
        assert!(!reason.is_empty() && !reason.contains(secret), "{reason}");
        assert!(
            rejection["received_at"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );
    }
    let id = github["id"].as_str().expect("an id");
    let (_, two) = json(api.get(&format!("/sources/{id}/rejections?limit=2")).await).await;
    assert_eq!(two.as_array().map(Vec::len), Some(2));
    assert_eq!(rejections(&api, &stripe, 1).await.len(), 1);
    assert_eq!(rejections(&api, &slack, 1).await.len(), 1);
    assert_eq!(rejections(&api, &standard, 2).await.len(), 2);

    let metrics = api.metrics_page().await;
    for outcome in ["accepted", "unverified", "too_large"] {
        assert!(
            metrics.contains(&format!(
                "hookrelay_inbound_requests_total{{outcome=\"{outcome}\"}}"
            )),
            "{outcome} in {metrics}"
        );
    }
    assert!(metrics.contains("hookrelay_inbound_verification_seconds"));
}

#[tokio::test]
async fn client_addresses_come_from_trusted_proxies_only() {
    let mut env = TestEnv::new().await;
    let direct = env.spawn_api().await;
    let subscription = direct
        .create_subscription(&json!({"target_url": "http://127.0.0.1:9/nowhere"}))
        .await;
    let source = create_source(
        &direct,
        &json!({"name": "allowlisted", "verification": {"type": "none"},
                "ip_allowlist": ["198.51.100.0/24"], "subscription_id": subscription["id"]}),
    )
    .await;
    let path = path_of(&source);
    let from = |forwarded: &str| vec![("X-Forwarded-For", forwarded.to_owned())];

    // Without TRUSTED_PROXIES the socket peer is the client, whatever it forwards.
    let spoofed = send(&direct, &path, &from("198.51.100.7"), b"{}").await;
    assert_eq!(spoofed.status, 403, "{}", spoofed.detail());
    assert!(
        spoofed.detail().contains("127.0.0.1"),
        "{}",
        spoofed.detail()
    );

    env.set("TRUSTED_PROXIES", Some("127.0.0.1, 10.0.0.0/8"));
    let proxied = env.spawn_api().await;
    for (forwarded, status) in [
        ("198.51.100.7", 202),
        ("198.51.100.7, 10.1.2.3", 202),
        ("203.0.113.5, 198.51.100.7", 202),
        ("198.51.100.7, 203.0.113.5", 403),
        ("::ffff:198.51.100.9", 202),
        ("2001:db8::1", 403),
    ] {
        let sent = send(&proxied, &path, &from(forwarded), b"{}").await;
        assert_eq!(
            sent.status,
            status,
            "X-Forwarded-For: {forwarded}: {}",
            sent.detail()
        );
    }
    let alone = send(&proxied, &path, &[], b"{}").await;
    assert_eq!(
        alone.status, 403,
        "a trusted peer without the header is the client"
    );
    let recorded = rejections(&proxied, &source, 4).await;
    let addresses: Vec<&str> = recorded
        .iter()
        .filter_map(|r| r["remote_addr"].as_str())
        .collect();
    assert_eq!(
        addresses,
        ["127.0.0.1", "2001:db8::1", "203.0.113.5", "127.0.0.1"]
    );

    // An IPv6 peer against IPv4 ranges.
    env.set("TRUSTED_PROXIES", None).set("HOST", Some("::1"));
    let six = env.spawn_api().await;
    let v4_only = send(&six, &path, &[], b"{}").await;
    assert_eq!(v4_only.status, 403, "::1 is not in 198.51.100.0/24");
    let id = source["id"].as_str().expect("an id");
    let (status, _) = json(
        six.patch_json(&format!("/sources/{id}"), &json!({"ip_allowlist": ["::1"]}))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(send(&six, &path, &[], b"{}").await.status, 202);
}

#[tokio::test]
async fn a_rate_limit_holds_across_api_processes() {
    let env = TestEnv::new().await;
    let (first, second) = (env.spawn_api().await, env.spawn_api().await);
    let subscription = first
        .create_subscription(&json!({"target_url": "http://127.0.0.1:9/nowhere"}))
        .await;
    let source = create_source(
        &first,
        &json!({"name": "limited", "verification": {"type": "none"},
                "rate_limit": {"requests": 3, "per_seconds": 60},
                "subscription_id": subscription["id"]}),
    )
    .await;
    let path = path_of(&source);
    let mut accepted = 0;
    let mut refused = Vec::new();
    for n in 0..8 {
        let api = if n % 2 == 0 { &first } else { &second };
        let sent = send(api, &path, &[], b"{}").await;
        match sent.status {
            202 => accepted += 1,
            429 => refused.push(sent),
            other => panic!("unexpected {other}: {}", sent.detail()),
        }
    }
    assert_eq!(accepted, 3, "3 per minute, both processes together");
    assert_eq!(refused.len(), 5);
    for sent in &refused {
        let retry_after: u64 = sent
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in seconds");
        assert!((1..=60).contains(&retry_after), "{retry_after}");
    }
    let recorded = rejections(&first, &source, 5).await;
    assert!(recorded.iter().all(|r| r["status"] == 429), "{recorded:?}");
}

#[tokio::test]
async fn event_types_come_from_the_body_and_fan_out_as_for_ingest() {
    let env = TestEnv::new().await;
    let (mut invoices, mut everything) = (Receiver::ok().await, Receiver::ok().await);
    let api = env.spawn_api().await;
    let _worker = WorkerProcess::spawn(&env);
    api.create_subscription(&json!({"target_url": invoices.url, "events": ["invoice.*"]}))
        .await;
    api.create_subscription(&json!({"target_url": everything.url}))
        .await;
    let source = create_source(
        &api,
        &json!({"name": "typed", "verification": {"type": "none"},
                "event_type": {"json_pointer": "/data/type"}}),
    )
    .await;
    let path = path_of(&source);
    let paid = br#"{"data": {"type": "invoice.paid"}}"#;
    for body in [
        &paid[..],
        b"type=invoice.paid",
        br#"{"data": {"type": 42}}"#,
    ] {
        let sent = send(&api, &path, &[], body).await;
        assert_eq!(sent.status, 202, "{}", sent.detail());
    }
    let got = invoices.next(WAIT).await;
    assert_eq!(got.body.as_ref(), paid);
    assert_eq!(got.header("x-event-type"), Some("invoice.paid"));
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let got = everything.next(WAIT).await;
        bodies.push((
            got.body.to_vec(),
            got.header("x-event-type").map(str::to_owned),
        ));
    }
    bodies.sort();
    assert_eq!(
        bodies,
        [
            (b"type=invoice.paid".to_vec(), None),
            (
                br#"{"data": {"type": "invoice.paid"}}"#.to_vec(),
                Some("invoice.paid".into())
            ),
            (br#"{"data": {"type": 42}}"#.to_vec(), None),
        ],
        "not JSON, or not a string: no event type"
    );
    invoices
        .assert_quiet_for(
            Duration::from_millis(500),
            "without an event type only catch-all subscriptions get it",
        )
        .await;
}

#[tokio::test]
async fn sources_are_managed_with_their_secrets_never_shown() {
    let env = TestEnv::new().await;
    let mut receiver = Receiver::ok().await;
    let api = env.spawn_api().await;
    let _worker = WorkerProcess::spawn(&env);
    let subscription = api
        .create_subscription(&json!({"target_url": receiver.url}))
        .await;
    let secret = "gh-management-secret";
    let source = create_source(
        &api,
        &json!({"name": "gh", "verification": {"type": "github", "secret": secret},
                "subscription_id": subscription["id"]}),
    )
    .await;
    let id = source["id"].as_str().expect("an id").to_owned();
    assert_eq!(
        source["verification"],
        json!({"type": "github", "secret": "********"})
    );
    assert_eq!(source["is_active"], true);
    assert_eq!(source["forward_headers"], json!([]));
    for shown in [
        json(api.get(&format!("/sources/{id}")).await).await.1,
        json(api.get("/sources").await).await.1[0].clone(),
    ] {
        assert!(!shown.to_string().contains(secret), "{shown}");
    }
    let body = br#"{"zen": "Design for failure."}"#;
    let signed = |delivery: &str| {
        vec![
            (
                "X-Hub-Signature-256",
                format!("sha256={}", sha256_hex(secret, body)),
            ),
            ("X-GitHub-Delivery", delivery.to_owned()),
        ]
    };

    // A PATCH that sends the masked verification back keeps the secret.
    let (status, patched) = json(
        api.patch_json(
            &format!("/sources/{id}"),
            &json!({"name": "renamed", "verification": source["verification"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "renamed");
    let first = send(&api, &path_of(&source), &signed("d-1"), body).await;
    assert_eq!(first.status, 202, "{}", first.detail());
    // GitHub's delivery id is an idempotency key: a retry of it queues nothing new.
    let again = send(&api, &path_of(&source), &signed("d-1"), body).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.json()["webhook_id"], first.json()["webhook_id"]);
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    receiver.next(WAIT).await;
    receiver
        .assert_quiet_for(
            Duration::from_millis(500),
            "a repeated delivery id was delivered again",
        )
        .await;

    // Paused: 404, and recorded.
    let (status, _) = json(
        api.patch_json(&format!("/sources/{id}"), &json!({"is_active": false}))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    let paused = send(&api, &path_of(&source), &signed("d-2"), body).await;
    assert_eq!(
        (paused.status, paused.detail().as_str()),
        (404, "Source not found")
    );
    assert_eq!(rejections(&api, &source, 1).await[0]["status"], 404);
    api.patch_json(&format!("/sources/{id}"), &json!({"is_active": true}))
        .await;

    // A new path: the old one is gone at once.
    let (status, rotated) = json(
        api.post_json(&format!("/sources/{id}/rotate-path"), &json!({}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    assert_ne!(rotated["ingest_path"], source["ingest_path"]);
    assert_eq!(
        send(&api, &path_of(&source), &signed("d-3"), body)
            .await
            .status,
        404
    );
    assert_eq!(
        send(&api, &path_of(&rotated), &signed("d-4"), body)
            .await
            .status,
        202
    );

    // Bad definitions are 422s naming the field.
    for (bad, loc) in [
        (
            json!({"name": "x", "verification": {"type": "carrier_pigeon"}}),
            json!(["body", "verification"]),
        ),
        (
            json!({"name": "x", "verification": {"type": "none"}, "forward_headers": ["webhook-signature"]}),
            json!(["body", "forward_headers", 0]),
        ),
        (
            json!({"name": "x", "verification": {"type": "none"}, "ip_allowlist": ["10.0.0.1/8"]}),
            json!(["body", "ip_allowlist", 0]),
        ),
    ] {
        let (status, errors) = json(api.post_json("/sources", &bad).await).await;
        assert_eq!(status, 422, "{bad}");
        assert!(
            errors["detail"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["loc"] == loc)),
            "{errors}"
        );
    }
    let (status, _) = json(api.post_json("/sources", &json!({"name": "x", "verification": {"type": "none"}, "subscription_id": uuid::Uuid::new_v4()})).await).await;
    assert_eq!(status, 404, "an unknown subscription");

    // Slack's url_verification is answered with its challenge, and nothing is queued.
    let slack = create_source(
        &api,
        &json!({"name": "slack", "verification": {"type": "slack", "secret": "sl"},
                "subscription_id": subscription["id"]}),
    )
    .await;
    let challenge = br#"{"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"}"#;
    let t = now();
    let answered = send(
        &api,
        &path_of(&slack),
        &[
            ("X-Slack-Request-Timestamp", t.to_string()),
            (
                "X-Slack-Signature",
                format!(
                    "v0={}",
                    sha256_hex(
                        "sl",
                        &concat(&[b"v0:", t.to_string().as_bytes(), b":", challenge])
                    )
                ),
            ),
        ],
        challenge,
    )
    .await;
    assert_eq!(answered.status, 200);
    assert_eq!(
        answered.body,
        b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );

    // Deleted: 404 on both sides.
    assert_eq!(api.delete(&format!("/sources/{id}")).await.status(), 204);
    assert_eq!(api.get(&format!("/sources/{id}")).await.status(), 404);
    assert_eq!(
        send(&api, &path_of(&rotated), &signed("d-5"), body)
            .await
            .status,
        404
    );
    // d-4 arrived (it was accepted before the source went).
    receiver.next(WAIT).await;
    receiver
        .assert_quiet_for(
            Duration::from_millis(300),
            "a request to a deleted source was delivered",
        )
        .await;
}
