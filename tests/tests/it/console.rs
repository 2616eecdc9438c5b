//! The console in a real browser (headless Chromium) against the real api and worker:
//! signing in and out, the pages an operator works through (a webhook reaching
//! `delivered` without a reload, a failure's response body, replays single and bulk with
//! their dry run, a secret rotation), what a tenant key and a read-only key may see and do,
//! and CSRF. Screenshots of each main page go to `target/console-screenshots/`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use hookrelay_tests::api::json;
use hookrelay_tests::browser::{Browser, Page};
use hookrelay_tests::worker::{finished_deliveries, spawn_worker};
use hookrelay_tests::{API_KEY, Receiver, Reply, TestApi, TestEnv};
use serde_json::{Value, json};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

/// A receiver answering the status held in the returned cell: 500 with a JSON error body,
/// or 200 after a second (so a page can be open while a delivery is under way).
async fn switchable_receiver(first: u16) -> (Receiver, Arc<AtomicU16>) {
    let answer = Arc::new(AtomicU16::new(first));
    let replies = Arc::clone(&answer);
    let receiver = Receiver::start(move |_, _| {
        let status = replies.load(Ordering::SeqCst);
        if status >= 300 {
            Reply::status(status).body(r#"{"error": "database is locked"}"#)
        } else {
            Reply::status(status).delayed(Duration::from_secs(1))
        }
    })
    .await;
    (receiver, answer)
}

async fn sign_in(page: &Page, api: &TestApi, key: &str) {
    page.goto(&api.url("/console")).await.expect("console");
    page.wait_for("#api_key", WAIT)
        .await
        .expect("the sign-in form");
    page.fill("#api_key", key).await.expect("type the key");
    page.click_and_wait_navigation("body.signin button[type=submit]")
        .await
        .expect("sign in");
}

/// Ingests `{"order": 42}` as `order.created` for one subscription; the webhook id.
async fn ingest_to(api: &TestApi, subscription: &str) -> Uuid {
    api.ingest_accepted(
        &format!("/ingest/{subscription}"),
        &[("X-Event-Type", "order.created")],
        r#"{"order": 42}"#,
    )
    .await
}

fn id_at_end(url: &str) -> String {
    url.rsplit('/')
        .next()
        .and_then(|last| last.split('?').next())
        .expect("an id at the end of the URL")
        .to_owned()
}

#[tokio::test]
async fn an_operator_works_through_the_console() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let (receiver, answer) = switchable_receiver(200).await;
    let browser = Browser::launch().await.expect("chromium");
    let page = browser.page().await.expect("a tab");
    page.accept_dialogs().await.expect("confirmations accepted");

    // Not signed in: every page leads to the sign-in form. A wrong key is refused there.
    sign_in(&page, &api, "not-a-key").await;
    page.wait_for_text(".error", "Invalid API key", WAIT)
        .await
        .expect("a wrong key is refused");
    page.screenshot("console-sign-in")
        .await
        .expect("screenshot");
    sign_in(&page, &api, API_KEY).await;
    page.wait_for_text("h1", "Overview", WAIT)
        .await
        .expect("overview");
    let session = page
        .cookies()
        .await
        .expect("cookies")
        .into_iter()
        .find(|c| c.name == "hookrelay_console")
        .expect("the session cookie");
    assert!(session.http_only, "{session:?}");
    assert_eq!(session.same_site.as_deref(), Some("Strict"), "{session:?}");
    assert!(
        !session.secure,
        "plain http here, so not Secure: {session:?}"
    );
    assert_ne!(
        session.value, API_KEY,
        "the cookie holds a session id, never the key"
    );

    // A subscription made in the console's form.
    page.goto(&api.url("/console/subscriptions"))
        .await
        .expect("list");
    page.wait_for_text(".empty", "No subscriptions yet", WAIT)
        .await
        .expect("the empty state says what to do");
    page.fill("#new-target_url", &receiver.url)
        .await
        .expect("url");
    page.fill("#new-name", "Billing service")
        .await
        .expect("name");
    page.fill("#new-events", "order.*").await.expect("events");
    page.click_and_wait_navigation("details.panel form button[type=submit]")
        .await
        .expect("create");
    page.wait_for_text(".notice", "Subscription created", WAIT)
        .await
        .expect("created");
    let subscription = id_at_end(&page.url().await.expect("url"));
    let (_, stored) = json(api.get(&format!("/subscriptions/{subscription}")).await).await;
    assert_eq!(stored["target_url"], json!(receiver.url));
    assert_eq!(stored["events"], json!(["order.*"]));

    // A webhook's page follows it to `delivered` by itself: the receiver holds the first
    // answer back, so the page opens before the delivery ends; a marker set on the loaded
    // page survives, so the page was never reloaded.
    answer.store(200, Ordering::SeqCst);
    let webhook = ingest_to(&api, &subscription).await;
    page.goto(&api.url(&format!("/console/webhooks/{webhook}")))
        .await
        .expect("webhook page");
    page.evaluate_string("(window.notReloaded = 'yes')")
        .await
        .expect("marker");
    page.wait_for_text("#webhook-status", "delivered", WAIT)
        .await
        .expect("the page shows the delivery");
    assert_eq!(
        page.evaluate_string("window.notReloaded")
            .await
            .expect("marker"),
        "yes"
    );
    page.screenshot("console-webhook-delivered")
        .await
        .expect("screenshot");

    // A failing delivery shows the receiver's answer; replaying it once the receiver is
    // well again delivers it.
    answer.store(500, Ordering::SeqCst);
    let (_, failing) = json(
        api.patch_json(
            &format!("/subscriptions/{subscription}"),
            &json!({"retry_schedule": []}),
        )
        .await,
    )
    .await;
    assert_eq!(failing["retry_schedule"], json!([]));
    let failed = ingest_to(&api, &subscription).await;
    finished_deliveries(&env, failed, WAIT).await;
    page.goto(&api.url(&format!("/console/webhooks/{failed}")))
        .await
        .expect("webhook page");
    page.wait_for_text("#webhook-status", "failed", WAIT)
        .await
        .expect("failed");
    page.wait_for_text("pre.body", "database is locked", WAIT)
        .await
        .expect("the response body is shown");
    page.screenshot("console-webhook-failed")
        .await
        .expect("screenshot");
    answer.store(200, Ordering::SeqCst);
    page.click_and_wait_navigation("form[action$='/replay'].actions button")
        .await
        .expect("replay");
    page.wait_for_text("#webhook-status", "delivered", WAIT)
        .await
        .expect("the replay delivers");

    // Bulk replay: three failures, the dry run counts them before anything starts, then
    // the replay's page shows it finish.
    answer.store(500, Ordering::SeqCst);
    let mut bulk = Vec::new();
    for _ in 0..3 {
        bulk.push(ingest_to(&api, &subscription).await);
    }
    for webhook in &bulk {
        finished_deliveries(&env, *webhook, WAIT).await;
    }
    answer.store(200, Ordering::SeqCst);
    page.goto(&api.url(&format!("/console/replays?subscription_id={subscription}")))
        .await
        .expect("replays");
    page.screenshot("console-replays")
        .await
        .expect("screenshot");
    page.click_and_wait_navigation("form[action$='/replays/dry-run'] button")
        .await
        .expect("dry run");
    page.wait_for_text("#dry-run-count", "matches 3 deliveries", WAIT)
        .await
        .expect("the dry run's count");
    page.screenshot("console-replay-dry-run")
        .await
        .expect("screenshot");
    let (_, listed) = json(api.get("/replays").await).await;
    assert_eq!(listed, json!([]), "a dry run stores nothing");
    page.click_and_wait_navigation("form[action='/console/replays'] button")
        .await
        .expect("start");
    page.wait_for_text("#replay-status", "done", WAIT)
        .await
        .expect("the replay finishes");
    page.wait_for_text("#replay-counts", "3 queued of 3 matched", WAIT)
        .await
        .expect("its counts");
    page.screenshot("console-replay").await.expect("screenshot");
    for webhook in &bulk {
        hookrelay_tests::eventually(WAIT, "the replayed webhook is delivered", || async {
            let (_, status) = json(api.get(&format!("/status/{webhook}")).await).await;
            (status["status"] == json!("delivered")).then_some(())
        })
        .await;
    }

    // Rotating the secret (after the confirmation) changes it.
    let before = stored["secret"].clone();
    page.goto(&api.url(&format!("/console/subscriptions/{subscription}")))
        .await
        .expect("subscription page");
    page.screenshot("console-subscription")
        .await
        .expect("screenshot");
    page.click_and_wait_navigation("form[action$='/rotate-secret'] button")
        .await
        .expect("rotate");
    page.wait_for_text(".notice", "Secret rotated", WAIT)
        .await
        .expect("rotated");
    assert!(
        page.dialogs()
            .iter()
            .any(|d| d.contains("Rotate the signing secret")),
        "the rotation asked first: {:?}",
        page.dialogs()
    );
    let (_, rotated) = json(api.get(&format!("/subscriptions/{subscription}")).await).await;
    assert_ne!(rotated["secret"], before);

    // The other main pages, with something on them.
    let (status, _) = json(
        api.post_json(
            "/schedules",
            &json!({"name": "daily report", "kind": "cron", "cron": "0 9 * * *",
                    "timezone": "Europe/Berlin", "event_type": "report.daily", "payload": {}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = json(
        api.post_json(
            "/sources",
            &json!({"name": "GitHub", "verification": {"type": "github", "secret": "s"},
                    "event_type": {"header": "X-GitHub-Event"}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201);
    api.create_tenant("Acme").await;
    // A webhook waiting for its time, so the overview's table of partitions has a row.
    let later = hookrelay_shared::time::format(
        &(hookrelay_shared::time::now() + chrono::Duration::hours(1)),
    );
    api.ingest_accepted("/ingest", &[("x-deliver-at", later.as_str())], "{}")
        .await;
    for (path, shows, name) in [
        ("/console", "Partitions holding work: 1", "console-overview"),
        (
            "/console/subscriptions",
            "Billing service",
            "console-subscriptions",
        ),
        ("/console/webhooks", "order.created", "console-webhooks"),
        ("/console/schedules", "daily report", "console-schedules"),
        ("/console/sources", "GitHub", "console-sources"),
        ("/console/tenants", "Acme", "console-tenants"),
        (
            "/console/api-keys",
            "No stored API keys",
            "console-api-keys",
        ),
        (
            "/console/dead-letters",
            "No dead letters",
            "console-dead-letters",
        ),
    ] {
        page.goto(&api.url(path)).await.expect("page");
        page.wait_for_text("main", shows, WAIT).await.expect(path);
        page.screenshot(name).await.expect("screenshot");
    }
    page.goto(&api.url("/console/sources"))
        .await
        .expect("sources");
    page.click_and_wait_navigation("td a[href^='/console/sources/']")
        .await
        .expect("a source's page");
    page.wait_for_text("#inbound-url", "/in/", WAIT)
        .await
        .expect("its inbound URL");
    page.screenshot("console-source").await.expect("screenshot");

    // Signing out ends the session: the console asks for a key again.
    page.click_and_wait_navigation("form.who button")
        .await
        .expect("sign out");
    page.wait_for_text(".notice", "signed out", WAIT)
        .await
        .expect("signed out");
    page.goto(&api.url("/console/subscriptions"))
        .await
        .expect("console");
    page.wait_for("#api_key", WAIT)
        .await
        .expect("the sign-in form again");
}

#[tokio::test]
async fn a_tenant_key_sees_its_tenant_only_and_a_read_key_cannot_write() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let ours = api.create_tenant("ours").await;
    let theirs = api.create_tenant("theirs").await;
    let sub = |tenant: &str, name: &str| json!({"target_url": "http://127.0.0.1:9/hook", "name": name, "tenant_id": tenant});
    let our_sub = api.create_subscription(&sub(&ours, "our endpoint")).await;
    let their_sub = api
        .create_subscription(&sub(&theirs, "their endpoint"))
        .await;
    let writer = api
        .create_key(&json!({"name": "ours", "tenant_id": ours}))
        .await;
    let reader = api
        .create_key(&json!({"name": "ours-read", "tenant_id": ours, "permissions": ["read"]}))
        .await;
    let secret = |key: &Value| key["key"].as_str().expect("the new key").to_owned();

    let browser = Browser::launch().await.expect("chromium");
    let page = browser.page().await.expect("a tab");
    page.accept_dialogs().await.expect("confirmations accepted");
    sign_in(&page, &api, &secret(&writer)).await;
    page.goto(&api.url("/console/subscriptions"))
        .await
        .expect("list");
    page.wait_for_text("main", "our endpoint", WAIT)
        .await
        .expect("its own subscription");
    let html = page.html().await.expect("html");
    assert!(
        !html.contains("their endpoint"),
        "another tenant's subscription shown"
    );
    assert!(
        !html.contains("/console/tenants") && !html.contains("/console/dead-letters"),
        "a tenant key gets no admin sections"
    );
    page.screenshot("console-tenant-portal")
        .await
        .expect("screenshot");
    page.goto(&api.url(&format!(
        "/console/subscriptions/{}",
        their_sub["id"].as_str().expect("id")
    )))
    .await
    .expect("their page");
    page.wait_for_text("h1", "404", WAIT)
        .await
        .expect("another tenant's subscription does not exist here");
    page.goto(&api.url("/console/tenants"))
        .await
        .expect("tenants");
    page.wait_for_text("h1", "403", WAIT)
        .await
        .expect("tenants are for admin keys");

    // A POST without the session's CSRF token is refused, and changes nothing.
    let our_id = our_sub["id"].as_str().expect("id").to_owned();
    let delete = api.url(&format!("/console/subscriptions/{our_id}/delete"));
    assert_eq!(page.fetch_post(&delete, "").await.expect("fetch"), 403);
    assert_eq!(
        page.fetch_post(&delete, "csrf=forged")
            .await
            .expect("fetch"),
        403
    );
    let (status, _) = json(api.get(&format!("/subscriptions/{our_id}")).await).await;
    assert_eq!(status, 200, "still there");

    // A read-only key: no write buttons, and a POST with a valid token is still refused.
    let browser = Browser::launch().await.expect("chromium");
    let page = browser.page().await.expect("a tab");
    sign_in(&page, &api, &secret(&reader)).await;
    page.goto(&api.url(&format!("/console/subscriptions/{our_id}")))
        .await
        .expect("our page");
    page.wait_for_text("h1", "our endpoint", WAIT)
        .await
        .expect("readable");
    let html = page.html().await.expect("html");
    for action in ["/delete", "/rotate-secret", "/test", "/active"] {
        assert!(
            !html.contains(&format!("{our_id}{action}")),
            "a read-only key sees no {action} button"
        );
    }
    let token = page
        .evaluate_string("document.querySelector('form.who input[name=csrf]').value")
        .await
        .expect("the session's token");
    assert_eq!(
        page.fetch_post(&delete, &format!("csrf={token}"))
            .await
            .expect("fetch"),
        403
    );
    let (status, _) = json(api.get(&format!("/subscriptions/{our_id}")).await).await;
    assert_eq!(status, 200, "still there");

    // Deleting the key ends its sessions.
    let reader_id = reader["id"].as_str().expect("id");
    let deleted = api.delete(&format!("/api-keys/{reader_id}")).await;
    assert_eq!(deleted.status(), 204);
    hookrelay_tests::eventually(WAIT, "the session ends with its key", || async {
        let signed_out = page.goto(&api.url("/console")).await.is_ok()
            && page
                .url()
                .await
                .is_ok_and(|u| u.contains("/console/sign-in"));
        signed_out.then_some(())
    })
    .await;
}

#[tokio::test]
async fn console_responses_carry_the_security_headers() {
    let mut env = TestEnv::new().await;
    env.set("TRUSTED_PROXIES", Some("127.0.0.1/32"));
    let api = env.spawn_api().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let page = client
        .get(api.url("/console/subscriptions"))
        .send()
        .await
        .expect("sent");
    assert_eq!(page.status(), 303, "not signed in");
    assert_eq!(
        page.headers()["location"],
        "/console/sign-in?next=%2Fconsole%2Fsubscriptions"
    );
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert_eq!(page.headers()["x-frame-options"], "DENY");

    // The cookie is Secure when the request came over https through a trusted proxy.
    let signed_in = client
        .post(api.url("/console/sign-in"))
        .header("X-Forwarded-Proto", "https")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "api_key={API_KEY}&next=https%3A%2F%2Felsewhere.example%2F"
        ))
        .send()
        .await
        .expect("sent");
    assert_eq!(signed_in.status(), 303);
    assert_eq!(
        signed_in.headers()["location"],
        "/console",
        "never sent to another site"
    );
    let cookie = signed_in.headers()["set-cookie"].to_str().expect("ascii");
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/console"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }

    // Assets are served from the binary under their content hash, cached for a year.
    let body = client
        .get(api.url("/console/sign-in"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("html");
    let css = body
        .split('"')
        .find(|s| s.starts_with("/console/assets/") && s.ends_with("console.css"))
        .expect("the stylesheet's URL");
    let asset = client.get(api.url(css)).send().await.expect("sent");
    assert_eq!(asset.status(), 200);
    assert_eq!(asset.headers()["content-type"], "text/css");
    assert_eq!(
        asset.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );

    // An operator who embeds the console names who may frame it.
    let mut env = TestEnv::new().await;
    env.set(
        "CONSOLE_FRAME_ANCESTORS",
        Some("https://portal.example.com"),
    );
    let embedded = env.spawn_api().await;
    let page = client
        .get(embedded.url("/console/sign-in"))
        .send()
        .await
        .expect("sent");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii");
    assert!(
        csp.ends_with("frame-ancestors https://portal.example.com"),
        "{csp}"
    );
    assert!(!page.headers().contains_key("x-frame-options"));
}

#[tokio::test]
async fn an_operator_sends_to_a_redis_stream_from_the_console_form() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let mut redis = env.redis().await;
    let stream = hookrelay_tests::brokers::unique("hookrelay-console");
    let () = redis::cmd("XGROUP")
        .arg(&["CREATE", stream.as_str(), "readers", "$", "MKSTREAM"][..])
        .query_async(&mut redis)
        .await
        .expect("the stream");
    let browser = Browser::launch().await.expect("chromium");
    let page = browser.page().await.expect("a tab");
    sign_in(&page, &api, API_KEY).await;
    page.goto(&api.url("/console/subscriptions"))
        .await
        .expect("subscriptions");
    page.wait_for("#new-destination_type", WAIT)
        .await
        .expect("the destination select");
    // One fieldset at a time: HTTP's until another type is chosen.
    let hidden = |kind: &str| {
        format!(
            "getComputedStyle(document.querySelector('#new-destination_type').form\
             .querySelector('fieldset[data-destination={kind}]')).display === 'none'"
        )
    };
    assert_eq!(
        page.evaluate_string(&hidden("redis")).await.expect("js"),
        "true"
    );
    assert_eq!(
        page.evaluate_string(&hidden("http")).await.expect("js"),
        "false"
    );
    page.evaluate_string(
        "(() => { const s = document.querySelector('#new-destination_type'); s.value = 'redis'; \
         s.dispatchEvent(new Event('change', {bubbles: true})); return s.value; })()",
    )
    .await
    .expect("choose redis");
    assert_eq!(
        page.evaluate_string(&hidden("redis")).await.expect("js"),
        "false"
    );
    let url = hookrelay_tests::redis_url();
    page.fill("#new-redis-url", &url).await.expect("url");
    page.fill("#new-redis-stream", &stream)
        .await
        .expect("stream");
    page.fill("#new-name", "Orders to Redis")
        .await
        .expect("name");
    page.click_and_wait_navigation("details.panel form button[type=submit]")
        .await
        .expect("create");
    page.wait_for_text(".notice", "Subscription created", WAIT)
        .await
        .expect("created");
    let locator = format!("{url}/{stream}");
    assert!(
        page.html().await.expect("html").contains(&locator),
        "the page shows where deliveries go"
    );
    // The edit form has the type chosen and its fields filled.
    assert_eq!(
        page.evaluate_string("document.querySelector('#destination_type').value")
            .await
            .expect("js"),
        "redis"
    );
    assert_eq!(
        page.evaluate_string("document.querySelector('#redis-stream').value")
            .await
            .expect("js"),
        stream
    );
    page.evaluate_string("document.querySelectorAll('details.panel').forEach(d => d.open = true)")
        .await
        .expect("open the edit form");
    page.screenshot("console-subscription-redis")
        .await
        .expect("screenshot");

    let id = id_at_end(&page.url().await.expect("url"));
    ingest_to(&api, &id).await;
    hookrelay_tests::eventually(WAIT, "the entry in the stream", || {
        let mut redis = redis.clone();
        let stream = stream.clone();
        async move {
            let length: i64 = redis::cmd("XLEN")
                .arg(&stream)
                .query_async(&mut redis)
                .await
                .expect("XLEN");
            (length == 1).then_some(())
        }
    })
    .await;
    let () = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut redis)
        .await
        .expect("clean up");
}
