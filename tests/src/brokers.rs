//! The brokers and tools the destination tests (CONTRACT §15) deliver to, and reading
//! back what arrived with each one's own client.
//!
//! - The machine's RabbitMQ, NATS (JetStream), Mosquitto and Redis, which
//!   `scripts/services.sh` starts; each test makes queues, streams and topics of its own.
//! - Private servers a test may stop and start: [`PrivateServer`] (`nats-server`,
//!   `moto_server` for S3).
//! - Tools from `scripts/test.sh`'s virtualenv: [`tool`] finds `rq` and `moto_server`.
//! - [`verify`]: a message's metadata checked with the independent Standard Webhooks
//!   verifier, as a receiver would.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const NATS_URL: &str = "nats://127.0.0.1:4222";
pub const MQTT_URL: &str = "mqtt://127.0.0.1:1883";

/// A unique name for a test's queue, stream, topic or bucket.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// The program a tool variable names (set by `scripts/test.sh`), else `default` on the
/// `PATH`. `None` when it does not run: the test then fails under CI (`CI` set) and is
/// skipped, loudly, elsewhere.
pub fn tool(variable: &str, default: &str, version_flag: &str) -> Option<PathBuf> {
    let program = std::env::var(variable).unwrap_or_else(|_| default.into());
    let runs = std::process::Command::new(&program)
        .arg(version_flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if runs {
        return Some(PathBuf::from(program));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{program} ({variable}) is not installed; scripts/test.sh installs it"
    );
    eprintln!("SKIPPED: {program} ({variable}) is not installed (scripts/test.sh installs it)");
    None
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until something listens on `port`.
pub async fn wait_listening(port: u16, within: Duration) {
    crate::eventually(within, &format!("a server on port {port}"), || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
}

/// A server process of the test's own, killed on drop.
pub struct PrivateServer {
    pub port: u16,
    program: PathBuf,
    args: Vec<String>,
    child: Option<tokio::process::Child>,
}

impl PrivateServer {
    /// Starts `program args…` (where `{port}` in an argument is the server's port) and
    /// waits until it listens.
    pub async fn start(program: impl Into<PathBuf>, args: &[&str]) -> Self {
        let port = free_port();
        let mut server = Self {
            port,
            program: program.into(),
            args: args
                .iter()
                .map(|a| a.replace("{port}", &port.to_string()))
                .collect(),
            child: None,
        };
        server.restart().await;
        server
    }

    /// SIGKILL: the server is gone at once.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill the server");
        }
    }

    /// Starts it again on the same port.
    pub async fn restart(&mut self) {
        self.kill().await;
        let child = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", self.program.display()));
        self.child = Some(child);
        wait_listening(self.port, Duration::from_secs(20)).await;
    }
}

/// Checks a message's metadata and body with the Standard Webhooks verifier.
pub fn verify(secret: &str, body: &[u8], headers: &[(String, String)]) {
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            reqwest::header::HeaderValue::from_str(value).expect("a header value"),
        );
    }
    standardwebhooks::Webhook::new(secret)
        .expect("a whsec_ secret")
        .verify(body, &map)
        .expect("the independent verifier accepts the message");
}

/// The value of `name` among `headers`.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}
