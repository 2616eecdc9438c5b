//! Unit tests of `delivery`: outcome classification, retry timing, headers, truncation.

use super::*;

fn secs(s: &[u64]) -> Vec<Duration> {
    s.iter().map(|s| Duration::from_secs(*s)).collect()
}

fn at(micros: i64) -> DateTime<Utc> {
    time::from_micros(micros)
}

fn response(status: u16) -> Exchange {
    Exchange::Response {
        status,
        body: String::new(),
    }
}

#[test]
fn any_2xx_is_delivered() {
    for status in [200, 201, 202, 204, 299] {
        assert_eq!(
            decide(&response(status), 1, at(0), &secs(&[10]), None),
            DeliveryOutcome::Delivered
        );
    }
}

#[test]
fn failures_retry_after_the_scheduled_delay_from_the_finish() {
    let schedule = secs(&[10, 30]);
    let finished = at(1_000_000_000);
    let DeliveryOutcome::Retry { at: due, reason } =
        decide(&response(503), 1, finished, &schedule, None)
    else {
        panic!("a retry");
    };
    assert_eq!(due, finished + chrono::Duration::seconds(10));
    assert_eq!(reason, "HTTP 503");
    let DeliveryOutcome::Retry { at: due, .. } =
        decide(&response(500), 2, finished, &schedule, None)
    else {
        panic!("a retry");
    };
    assert_eq!(due, finished + chrono::Duration::seconds(30));
    assert_eq!(
        decide(&response(500), 3, finished, &schedule, None),
        DeliveryOutcome::Failed {
            reason: "HTTP 500".into()
        }
    );
}

#[test]
fn an_empty_schedule_means_the_first_failure_is_final() {
    assert!(matches!(
        decide(&response(404), 1, at(0), &[], None),
        DeliveryOutcome::Failed { .. }
    ));
}

#[test]
fn redirects_are_failures() {
    let DeliveryOutcome::Retry { reason, .. } = decide(&response(302), 1, at(0), &secs(&[1]), None)
    else {
        panic!("a retry");
    };
    assert!(reason.starts_with("HTTP 302"), "{reason}");
}

#[test]
fn a_2xx_whose_body_did_not_arrive_is_a_failed_attempt() {
    let report = AttemptReport {
        retry_after: None,
        target_url: "https://example.com/".into(),
        started_at: at(0),
        finished_at: at(3_000_000),
        duration: Duration::from_secs(3),
        exchange: Exchange::Incomplete {
            status: 200,
            body: "partial".into(),
            error: "timed out after 3s".into(),
        },
    };
    let outcome = decide(&report.exchange, 1, report.finished_at, &secs(&[10]), None);
    assert_eq!(
        outcome,
        DeliveryOutcome::Retry {
            at: at(13_000_000),
            reason: "timed out after 3s".into()
        }
    );
    let row = attempt_row(&report, Uuid::nil(), Uuid::nil(), 1, &outcome);
    assert_eq!(
        (
            row.outcome.as_str(),
            row.status_code,
            row.response_body.as_deref()
        ),
        ("Failed Attempt", Some(200), Some("partial"))
    );
}

#[test]
fn refused_targets_fail_at_once() {
    let refused = Exchange::Failed {
        error: "refused non-global address 127.0.0.1".into(),
        retryable: false,
    };
    assert_eq!(
        decide(&refused, 1, at(0), &secs(&[1, 2]), None),
        DeliveryOutcome::Failed {
            reason: "refused non-global address 127.0.0.1".into()
        }
    );
}

#[test]
fn durations_read_naturally() {
    assert_eq!(human_duration(Duration::from_secs(10)), "10s");
    assert_eq!(human_duration(Duration::from_millis(1500)), "1500ms");
}

#[test]
fn bodies_keep_at_most_the_limit() {
    assert_eq!(truncate_body(b"ok"), "ok");
    let long = vec![b'a'; RESPONSE_BODY_LIMIT + 10];
    assert_eq!(truncate_body(&long).len(), RESPONSE_BODY_LIMIT);
    // A two-byte character cut by the limit is dropped, not replaced.
    let mut cut = vec![b'a'; RESPONSE_BODY_LIMIT - 1];
    cut.extend_from_slice("é".as_bytes());
    let text = truncate_body(&cut);
    assert_eq!(text.len(), RESPONSE_BODY_LIMIT - 1);
    // Invalid bytes are replaced, still within the limit.
    let binary = vec![0xff; RESPONSE_BODY_LIMIT * 2];
    assert!(truncate_body(&binary).len() <= RESPONSE_BODY_LIMIT);
}

#[test]
fn stored_text_never_holds_nul() {
    assert_eq!(truncate_body(b"abc\0def"), "abc\u{FFFD}def");
    // Each one-byte NUL becomes three bytes; the limit still holds.
    let nuls = vec![0; RESPONSE_BODY_LIMIT];
    let text = truncate_body(&nuls);
    assert!(!text.contains('\0') && text.len() <= RESPONSE_BODY_LIMIT);
    let failed = Exchange::Failed {
        error: "request failed: bad header \0".into(),
        retryable: true,
    };
    let report = AttemptReport {
        retry_after: None,
        target_url: "https://example.com/".into(),
        started_at: at(0),
        finished_at: at(0),
        duration: Duration::ZERO,
        exchange: failed,
    };
    let outcome = decide(&report.exchange, 1, report.finished_at, &[], None);
    let row = attempt_row(&report, Uuid::nil(), Uuid::nil(), 1, &outcome);
    assert_eq!(
        row.error.as_deref(),
        Some("request failed: bad header \u{FFFD}")
    );
}

fn subscription(headers: serde_json::Value) -> Subscription {
    Subscription {
        id: Uuid::nil(),
        target_url: Some("https://example.com/hook".into()),
        destination: None,
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        events: None,
        description: None,
        headers,
        is_active: true,
        created_at: at(0),
        updated_at: at(0),
        tenant_id: None,
        name: None,
        http_method: "POST".into(),
        timeout_ms: None,
        retry_schedule: None,
        rate_limit: None,
        consecutive_failures: 0,
        last_success_at: None,
        last_failure_at: None,
        disabled_reason: None,
        disabled_at: None,
        previous_secret: None,
        previous_secret_expires_at: None,
    }
}

#[test]
fn headers_follow_the_contract_then_the_subscription() {
    let sub = subscription(
        serde_json::json!({"x-tenant": "acme", "webhook-id": "forged", "x-event-type": "custom", "Expect": "100-continue"}),
    );
    let body = Bytes::from_static(br#"{"test": 2432232314}"#);
    let request = AttemptRequest {
        webhook_id: Uuid::nil(),
        event_type: Some("order.created"),
        body: &body,
        envelope: None,
        subscription: &sub,
        attempt: 1,
    };
    let headers = build_headers(&request, 1_614_265_330);
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(get("content-type"), "application/json");
    assert_eq!(get("webhook-id"), Uuid::nil().to_string());
    assert_eq!(get("webhook-timestamp"), "1614265330");
    let key = signing::signing_key(&sub.secret);
    assert_eq!(
        get("webhook-signature"),
        signing::sign(&key, &Uuid::nil().to_string(), 1_614_265_330, &body)
    );
    assert_eq!(
        get("user-agent"),
        format!("hookrelay/{}", hookrelay_shared::VERSION)
    );
    assert_eq!(get("x-tenant"), "acme");
    // Subscription headers come last, but never replace what hookrelay sets (a row
    // written outside the api may hold names the api refuses).
    assert_eq!(get("x-event-type"), "order.created");
    assert!(headers.get("expect").is_none());
    let no_event = AttemptRequest {
        event_type: None,
        ..request
    };
    let sub_plain = subscription(serde_json::json!({}));
    let headers = build_headers(
        &AttemptRequest {
            subscription: &sub_plain,
            ..no_event
        },
        1,
    );
    assert!(headers.get("x-event-type").is_none());
}

#[test]
fn a_sourced_webhook_keeps_its_content_type_and_forwarded_headers() {
    let body = Bytes::from_static(b"a=1&b=2");
    let sub = subscription(serde_json::json!({"X-Team": "ops"}));
    let envelope = Envelope {
        content_type: Some("application/x-www-form-urlencoded".into()),
        headers: vec![
            ("X-GitHub-Event".into(), "push".into()),
            ("X-Team".into(), "from-provider".into()),
            ("Webhook-Signature".into(), "v1,forged".into()),
        ],
    };
    let request = AttemptRequest {
        webhook_id: Uuid::nil(),
        event_type: Some("push"),
        body: &body,
        envelope: Some(&envelope),
        subscription: &sub,
        attempt: 1,
    };
    let headers = build_headers(&request, 1_614_265_330);
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(
        get("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(get("x-github-event"), Some("push"));
    assert_eq!(
        get("x-team"),
        Some("ops"),
        "the subscription's own header wins"
    );
    let expected = signing::sign(
        &signing::signing_key(&sub.secret),
        &Uuid::nil().to_string(),
        1_614_265_330,
        b"a=1&b=2",
    );
    assert_eq!(get("webhook-signature"), Some(expected.as_str()));
    let bare = Envelope {
        content_type: None,
        headers: Vec::new(),
    };
    let headers = build_headers(
        &AttemptRequest {
            envelope: Some(&bare),
            ..request
        },
        1,
    );
    assert!(
        headers.get("content-type").is_none(),
        "none came in, none goes out"
    );
}

#[test]
fn attempt_rows_carry_the_outcome() {
    let report = AttemptReport {
        retry_after: None,
        target_url: "https://example.com/".into(),
        started_at: at(1_000_000),
        finished_at: at(1_250_000),
        duration: Duration::from_millis(250),
        exchange: response(503),
    };
    let outcome = decide(&report.exchange, 1, report.finished_at, &secs(&[10]), None);
    let row = attempt_row(&report, Uuid::nil(), Uuid::nil(), 1, &outcome);
    assert_eq!(row.outcome, "Failed Attempt");
    assert_eq!(row.status_code, Some(503));
    assert_eq!(row.error.as_deref(), Some("HTTP 503"));
    assert_eq!(row.duration_ms, 250);
    assert_eq!(row.next_retry_at, Some(at(11_250_000)));
    assert_eq!(row.timestamp, at(1_000_000));
}

#[test]
fn retry_after_is_seconds_or_a_date_capped_at_an_hour() {
    let now = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    assert_eq!(
        parse_retry_after("120", now),
        Some(Duration::from_secs(120))
    );
    assert_eq!(parse_retry_after(" 7200 ", now), Some(MAX_RETRY_AFTER));
    let in_90s = httpdate::fmt_http_date(now + Duration::from_secs(90));
    assert_eq!(
        parse_retry_after(&in_90s, now),
        Some(Duration::from_secs(90))
    );
    let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
    for ignored in [past.as_str(), "soon", "-5", "1.5", "", "0"] {
        assert_eq!(parse_retry_after(ignored, now), None, "{ignored:?}");
    }
}

#[test]
fn retry_after_delays_a_retry_only_beyond_the_schedule_and_410_is_final() {
    let schedule = secs(&[10, 20]);
    let due = |retry_after| match decide(&response(429), 1, at(0), &schedule, retry_after) {
        DeliveryOutcome::Retry { at: due, .. } => due,
        other => panic!("a retry, not {other:?}"),
    };
    assert_eq!(due(None), at(10_000_000));
    assert_eq!(due(Some(Duration::from_secs(3))), at(10_000_000));
    assert_eq!(due(Some(Duration::from_secs(60))), at(60_000_000));
    assert!(matches!(
        decide(
            &response(429),
            3,
            at(0),
            &schedule,
            Some(Duration::from_secs(5))
        ),
        DeliveryOutcome::Failed { .. }
    ));
    assert!(matches!(
        decide(&response(410), 1, at(0), &schedule, None),
        DeliveryOutcome::Failed { .. }
    ));
}

#[test]
fn bodiless_methods_sign_an_empty_body_and_a_rotation_signs_twice() {
    let mut sub = subscription(serde_json::json!({}));
    sub.http_method = "GET".into();
    let body = Bytes::from_static(b"{\"a\": 1}");
    let request = AttemptRequest {
        webhook_id: Uuid::nil(),
        event_type: None,
        body: &body,
        envelope: None,
        subscription: &sub,
        attempt: 1,
    };
    let headers = build_headers(&request, 1_614_265_330);
    let id = Uuid::nil().to_string();
    let key = signing::signing_key(&sub.secret);
    assert_eq!(
        headers["webhook-signature"].to_str().ok(),
        Some(signing::sign(&key, &id, 1_614_265_330, b"").as_str())
    );
    assert!(headers.get("content-type").is_none());

    let mut rotated = sub.clone();
    rotated.http_method = "POST".into();
    rotated.previous_secret = Some("whsec_b2xkLXNlY3JldA==".into());
    rotated.previous_secret_expires_at = Some(at(1_614_265_331_000_000));
    let request = AttemptRequest {
        subscription: &rotated,
        ..request
    };
    let old = signing::signing_key("whsec_b2xkLXNlY3JldA==");
    assert_eq!(
        build_headers(&request, 1_614_265_330)["webhook-signature"]
            .to_str()
            .ok(),
        Some(
            format!(
                "{} {}",
                signing::sign(&key, &id, 1_614_265_330, &body),
                signing::sign(&old, &id, 1_614_265_330, &body)
            )
            .as_str()
        )
    );
    // Once the grace period is over, only the new secret signs.
    assert_eq!(
        build_headers(&request, 1_614_265_331)["webhook-signature"]
            .to_str()
            .ok(),
        Some(signing::sign(&key, &id, 1_614_265_331, &body).as_str())
    );
}
