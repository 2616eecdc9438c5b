//! The processes under test, each a child that is killed when dropped:
//! - a private `redis-server` on a free port with persistence off, so the benchmark
//!   neither fills nor depends on anyone else's Redis;
//! - the release `hookrelay-api` binary (the sibling of this one in `target/release`),
//!   a separate process so its RSS is its own;
//! - the ceiling server (this binary's hidden `ceiling-server` command).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// How long a child may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A child process listening on a local port.
pub struct Service {
    pub addr: SocketAddr,
    child: Child,
}

impl Service {
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the process has exited")
    }

    /// Resident memory now and at its peak, in KiB (`VmRSS`, `VmHWM` of /proc/<pid>/status).
    pub fn memory_kib(&self) -> anyhow::Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?))
            .context("Failed to read /proc/<pid>/status (Linux only)")?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|line| {
                    line.strip_prefix(name)?
                        .trim()
                        .strip_suffix("kB")?
                        .trim()
                        .parse()
                        .ok()
                })
                .with_context(|| format!("no {name} in /proc/<pid>/status"))
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Calls `probe` until it succeeds or `START_TIMEOUT` passes.
async fn wait_until_up(
    what: &str,
    child: &mut Child,
    probe: impl AsyncFn() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if probe().await {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited during start-up ({status})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{what} did not come up within {START_TIMEOUT:?}")
}

/// Starts `redis-server` on a free port, without persistence.
pub async fn redis() -> anyhow::Result<Service> {
    let port = free_port()?;
    let mut child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("Failed to start redis-server (is it on PATH? apt-get install redis-server)")?;
    wait_until_up("redis-server", &mut child, async || {
        let Ok(mut stream) = TcpStream::connect(local(port)).await else {
            return false;
        };
        let mut answer = [0u8; 5];
        stream.write_all(b"PING\r\n").await.is_ok()
            && stream.read_exact(&mut answer).await.is_ok()
            && &answer == b"+PONG"
    })
    .await?;
    Ok(Service {
        addr: local(port),
        child,
    })
}

/// The release api binary next to this one.
fn api_binary() -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name("hookrelay-api");
    if !path.exists() {
        bail!(
            "{} not found: build it first with `cargo build --release -p hookrelay-api`",
            path.display()
        );
    }
    Ok(path)
}

/// Starts the api against `redis` with authentication off and a fresh key prefix; its
/// log goes to a file in the temp directory.
pub async fn api(redis: &Service) -> anyhow::Result<Service> {
    let port = free_port()?;
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/hookrelay_bench".into());
    let log_path = std::env::temp_dir().join(format!("hookrelay-bench-api-{port}.log"));
    let log = std::fs::File::create(&log_path)?;
    let mut child = Command::new(api_binary()?)
        .env("AUTH_DISABLED", "true")
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("REDIS_URL", format!("redis://{}", redis.addr))
        .env(
            "REDIS_KEY_PREFIX",
            format!("bench-{}", uuid::Uuid::new_v4().simple()),
        )
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .context("Failed to start hookrelay-api")?;
    wait_until_up("hookrelay-api", &mut child, async || {
        healthy(local(port)).await
    })
    .await
    .with_context(|| format!("see {}", log_path.display()))?;
    Ok(Service {
        addr: local(port),
        child,
    })
}

/// `GET /healthz` answers 200.
async fn healthy(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return false;
    };
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut answer = Vec::new();
    stream.write_all(request.as_bytes()).await.is_ok()
        && stream.read_to_end(&mut answer).await.is_ok()
        && answer.starts_with(b"HTTP/1.1 200")
}

/// Starts the ceiling server (this binary, `ceiling-server`) and reads its port.
pub async fn ceiling() -> anyhow::Result<Service> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("ceiling-server")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("Failed to start the ceiling server")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    tokio::time::timeout(START_TIMEOUT, BufReader::new(stdout).read_line(&mut line))
        .await
        .context("the ceiling server did not say its port")??;
    let port: u16 = line
        .trim()
        .parse()
        .context("the ceiling server printed no port")?;
    Ok(Service {
        addr: local(port),
        child,
    })
}
