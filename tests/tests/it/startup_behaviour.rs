//! Start-up of the real binaries (CONTRACT §1, §5, §14): a SIGTERM while a process is
//! still waiting for its dependencies stops it at once with status 0, and processes that
//! race to create a fresh database log nothing alarming about it.

use std::collections::BTreeMap;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use hookrelay_tests::{TestEnv, eventually};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// How long a process may take to reach the point a test waits for.
const START: Duration = Duration::from_secs(20);

/// A hookrelay binary with its log lines (stdout and stderr, JSON) collected as they come.
struct Process {
    child: tokio::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Process {
    fn spawn(binary: &str, vars: &BTreeMap<String, String>) -> Self {
        let mut child = tokio::process::Command::new(hookrelay_tests::binary(binary))
            .env_clear()
            .envs(vars)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} starts: {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        tokio::spawn(collect(stdout, Arc::clone(&lines)));
        tokio::spawn(collect(stderr, Arc::clone(&lines)));
        Self { child, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("not poisoned").clone()
    }

    /// Waits until a line contains `needle`.
    async fn wait_for(&self, needle: &str) {
        eventually(START, &format!("a log line with {needle:?}"), || async {
            self.lines()
                .iter()
                .any(|line| line.contains(needle))
                .then_some(())
        })
        .await;
    }

    /// SIGTERM, then the exit status, which must come within `within`.
    async fn terminate(&mut self, within: Duration) -> ExitStatus {
        let pid = self.child.id().expect("still running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("no exit within {within:?} of SIGTERM: {:?}", self.lines()))
            .expect("wait for the process")
    }
}

async fn collect(stream: impl AsyncRead + Unpin, lines: Arc<Mutex<Vec<String>>>) {
    let mut reader = BufReader::new(stream).lines();
    while let Ok(Some(line)) = reader.next_line().await {
        lines.lock().expect("not poisoned").push(line);
    }
}

#[tokio::test]
async fn sigterm_while_waiting_for_postgres_exits_promptly_with_status_0() {
    let mut env = TestEnv::new().await;
    // Nothing listens on port 1: start-up keeps retrying for the whole minute.
    env.set(
        "DATABASE_URL",
        Some("postgres://postgres@127.0.0.1:1/hookrelay"),
    )
    .set("STARTUP_TIMEOUT", Some("60s"));
    for binary in ["hookrelay-api", "hookrelay-worker"] {
        let mut process = Process::spawn(binary, env.vars());
        process.wait_for("dependency not ready yet").await;
        let status = process.terminate(Duration::from_secs(3)).await;
        assert_eq!(
            status.code(),
            Some(0),
            "{binary}: {status}, {:?}",
            process.lines()
        );
        process.wait_for("stopped during start-up").await;
    }
}

/// A database that no test created yet, dropped again at the end.
struct FreshDatabase {
    name: String,
    url: String,
}

impl FreshDatabase {
    fn new() -> Self {
        let name = format!("hookrelay_fresh_{}", uuid::Uuid::new_v4().simple());
        let url = format!("{}/{name}", hookrelay_tests::postgres_server());
        Self { name, url }
    }

    async fn drop_now(self) {
        let admin_url = format!("{}/postgres", hookrelay_tests::postgres_server());
        let mut admin = AsyncPgConnection::establish(&admin_url)
            .await
            .expect("Postgres is reachable");
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .await
            .expect("drop the fresh database");
    }
}

#[tokio::test]
async fn processes_racing_to_create_the_database_log_no_warning() {
    let mut env = TestEnv::new().await;
    let fresh = FreshDatabase::new();
    env.set("DATABASE_URL", Some(&fresh.url));
    // Several at once, so that their CREATE DATABASE statements really overlap.
    let mut processes: Vec<Process> = (0..4)
        .map(|_| Process::spawn("hookrelay-api", env.vars()))
        .collect();
    for process in &processes {
        process.wait_for("hookrelay-api listening").await;
    }
    let mut alarming = Vec::new();
    for process in &mut processes {
        let status = process.terminate(Duration::from_secs(10)).await;
        assert_eq!(status.code(), Some(0), "{:?}", process.lines());
        alarming.extend(process.lines().into_iter().filter(|line| {
            line.contains("\"WARN\"")
                || line.contains("\"ERROR\"")
                || line.contains("Failed to create database")
        }));
    }
    fresh.drop_now().await;
    assert!(alarming.is_empty(), "{alarming:#?}");
}
