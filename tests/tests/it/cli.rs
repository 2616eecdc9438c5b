//! The `hookrelay` CLI binary against the real api and worker: creating a subscription,
//! ingesting from a file and from stdin, status, replay, tail, JSON output, and exit codes
//! (1 with the API's detail, 2 for usage).

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use hookrelay_tests::proxy::Proxy;
use hookrelay_tests::worker::{finished_deliveries, spawn_worker};
use hookrelay_tests::{API_KEY, Receiver, Reply, TestApi, TestEnv, binary, eventually};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

/// `hookrelay <args>` against `api`, the key from the environment, `stdin` piped in. The
/// in-process api and worker share this test's runtime, so the CLI is awaited, never
/// waited for on the runtime's thread.
async fn cli(api: &TestApi, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(binary("hookrelay"))
        .args(args)
        .env("HOOKRELAY_URL", api.url(""))
        .env("HOOKRELAY_API_KEY", API_KEY)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the CLI starts");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or_default())
        .await
        .expect("stdin written");
    drop(input);
    child.wait_with_output().await.expect("the CLI ends")
}

fn ok_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn uuid_of(value: &Value, field: &str) -> Uuid {
    value[field]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{field} in {value}"))
}

#[tokio::test]
async fn an_operator_drives_the_service_from_the_cli() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let answer = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(200));
    let replies = std::sync::Arc::clone(&answer);
    let mut receiver = Receiver::start(move |_, _| {
        Reply::status(replies.load(std::sync::atomic::Ordering::SeqCst))
    })
    .await;

    let created = ok_json(
        &cli(
            &api,
            &[
                "subscriptions",
                "create",
                "--target-url",
                &receiver.url,
                "--event",
                "order.*",
                "--name",
                "billing",
                "-o",
                "json",
            ],
            None,
        )
        .await,
    );
    let subscription = uuid_of(&created, "id");
    assert_eq!(created["events"], json!(["order.*"]));

    // The table lists it, aligned under headers.
    let listed = cli(&api, &["subscriptions", "list"], None).await;
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{table}");
    assert!(
        table
            .lines()
            .next()
            .is_some_and(|h| h.contains("ID") && h.contains("TARGET")),
        "{table}"
    );
    assert!(
        table.contains(&subscription.to_string()) && table.contains("billing"),
        "{table}"
    );

    // Ingest from a file, then from stdin.
    let dir = std::env::temp_dir().join(format!("hookrelay-cli-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("order.json");
    std::fs::write(&file, br#"{"order": 1}"#).expect("payload");
    let from_file = ok_json(
        &cli(
            &api,
            &[
                "ingest",
                "--event-type",
                "order.created",
                file.to_str().expect("utf-8"),
                "-o",
                "json",
            ],
            None,
        )
        .await,
    );
    let first = uuid_of(&from_file, "webhook_id");
    let delivered = receiver.next(WAIT).await;
    assert_eq!(delivered.body, br#"{"order": 1}"#.to_vec());
    let from_stdin = ok_json(
        &cli(
            &api,
            &[
                "ingest",
                "--subscription",
                &subscription.to_string(),
                "-o",
                "json",
                "-",
            ],
            Some(br#"{"order": 2}"#),
        )
        .await,
    );
    let second = uuid_of(&from_stdin, "webhook_id");
    assert_eq!(receiver.next(WAIT).await.body, br#"{"order": 2}"#.to_vec());

    // Status, as JSON and as a table.
    finished_deliveries(&env, first, WAIT).await;
    let status = ok_json(&cli(&api, &["status", &first.to_string(), "-o", "json"], None).await);
    assert_eq!(status["status"], json!("delivered"));
    let shown = cli(&api, &["status", &second.to_string()], None).await;
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("deliveries:") && text.contains("recent attempts:"),
        "{text}"
    );

    // A replay of a failed webhook.
    answer.store(500, std::sync::atomic::Ordering::SeqCst);
    let patched = cli(
        &api,
        &[
            "subscriptions",
            "update",
            &subscription.to_string(),
            "--data",
            r#"{"retry_schedule": []}"#,
            "-o",
            "json",
        ],
        None,
    )
    .await;
    assert_eq!(ok_json(&patched)["retry_schedule"], json!([]));
    let failing = uuid_of(
        &ok_json(
            &cli(
                &api,
                &["ingest", "--event-type", "order.paid", "-o", "json"],
                Some(b"{}"),
            )
            .await,
        ),
        "webhook_id",
    );
    finished_deliveries(&env, failing, WAIT).await;
    receiver.drain();
    answer.store(200, std::sync::atomic::Ordering::SeqCst);
    let replayed = ok_json(&cli(&api, &["replay", &failing.to_string(), "-o", "json"], None).await);
    assert_eq!(replayed["deliveries"], json!([subscription]));
    receiver.next(WAIT).await;

    // tail shows a new delivery within a second of its being stored. It reaches the api
    // through a proxy, so the test can see its first answer come back: tail has its
    // baseline (what it will not print) before the webhook is ingested.
    let to_api = Proxy::start(api.base_url.trim_start_matches("http://").to_owned()).await;
    let tail = Command::new(binary("hookrelay"))
        .args(["tail", "--max", "1", "--interval", "200ms", "-o", "json"])
        .env("HOOKRELAY_URL", format!("http://127.0.0.1:{}", to_api.port))
        .env("HOOKRELAY_API_KEY", API_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tail starts");
    eventually(WAIT, "tail's first answer from the api", || async {
        (to_api.bytes_from_target() > 0).then_some(())
    })
    .await;
    let tailed = uuid_of(
        &ok_json(
            &cli(
                &api,
                &["ingest", "--event-type", "order.shipped", "-o", "json"],
                Some(b"{}"),
            )
            .await,
        ),
        "webhook_id",
    );
    finished_deliveries(&env, tailed, WAIT).await;
    let stored = Instant::now();
    assert!(
        stored.elapsed() < Duration::from_secs(2),
        "tail took {:?}",
        stored.elapsed()
    );
    let output = tokio::time::timeout(WAIT, tail.wait_with_output())
        .await
        .expect("tail exits after its line")
        .expect("tail's output");
    let printed: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    assert_eq!(uuid_of(&printed, "webhook_id"), tailed);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn errors_exit_1_with_the_apis_detail_and_usage_exits_2() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;

    let missing = cli(&api, &["status", &Uuid::new_v4().to_string()], None).await;
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("404") && stderr.contains("No delivery logs for given webhook_id"),
        "{stderr}"
    );

    let invalid = cli(
        &api,
        &["subscriptions", "create", "--target-url", "not a url"],
        None,
    )
    .await;
    assert_eq!(invalid.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&invalid.stderr);
    assert!(
        stderr.contains("422") && stderr.contains("target_url"),
        "{stderr}"
    );

    let unauthorized = Command::new(binary("hookrelay"))
        .args(["subscriptions", "list"])
        .env("HOOKRELAY_URL", api.url(""))
        .env_remove("HOOKRELAY_API_KEY")
        .output()
        .await
        .expect("ran");
    assert_eq!(unauthorized.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unauthorized.stderr).contains("401"));

    // The key from stdin, never on the command line.
    let mut child = Command::new(binary("hookrelay"))
        .args(["subscriptions", "list", "--api-key-stdin", "-o", "json"])
        .env("HOOKRELAY_URL", api.url(""))
        .env_remove("HOOKRELAY_API_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ran");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{API_KEY}\n").as_bytes())
        .await
        .expect("key written");
    assert_eq!(
        ok_json(&child.wait_with_output().await.expect("ran")),
        json!([])
    );

    let usage = cli(&api, &["subscriptions", "frobnicate"], None).await;
    assert_eq!(usage.status.code(), Some(2));
    let completions = cli(&api, &["completions", "bash"], None).await;
    assert!(completions.status.success());
    assert!(String::from_utf8_lossy(&completions.stdout).contains("hookrelay"));
}

/// Every path the CLI sends is one the api serves, with that method: the CLI declares its
/// paths once (`hookrelay_cli::paths`), the api its routes once (`routes::needs`).
#[test]
fn every_route_the_cli_calls_is_in_the_apis_route_table() {
    let served: std::collections::HashSet<(String, String)> = hookrelay_api::routes::needs()
        .into_iter()
        .map(|(path, method, _)| (method.as_str().to_owned(), path))
        .collect();
    let called = hookrelay_cli::paths::routes();
    assert!(!called.is_empty());
    let unknown: Vec<_> = called
        .iter()
        .filter(|(method, template)| {
            !served.contains(&((*method).to_owned(), (*template).to_owned()))
        })
        .collect();
    assert!(
        unknown.is_empty(),
        "the CLI calls routes the api does not serve: {unknown:?}"
    );
}
