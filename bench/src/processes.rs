//! The processes under test, each a child that is killed when dropped:
//! - a private `redis-server` on a free port with persistence off, so the benchmark
//!   neither fills nor depends on anyone else's Redis;
//! - the release `hookrelay-api` and `hookrelay-worker` binaries (siblings of this one in
//!   `target/release`), separate processes so that each RSS is its own;
//! - the ceiling server (this binary's hidden `ceiling-server` command).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, SimpleAsyncConnection as _};
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

    /// CPU time used so far, user and system together (`utime` + `stime` of
    /// /proc/<pid>/stat). Per request, it is a steadier figure than a rate on a machine
    /// where other work competes for the cores.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        process_cpu_time(&format!("/proc/{}/stat", self.pid()?))
    }

    /// "RSS 14.2 MiB (peak 15.0 MiB)".
    pub fn memory(&self) -> anyhow::Result<String> {
        let (rss, peak) = self.memory_kib()?;
        Ok(format!(
            "RSS {:.1} MiB (peak {:.1} MiB)",
            rss as f64 / 1024.0,
            peak as f64 / 1024.0
        ))
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

/// `utime` + `stime` of the process whose stat(5) file is `path`.
pub fn process_cpu_time(path: &str) -> anyhow::Result<Duration> {
    let stat =
        std::fs::read_to_string(path).context("Failed to read /proc/<pid>/stat (Linux only)")?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |index: usize| -> anyhow::Result<u64> {
        fields
            .get(index)
            .and_then(|v| v.parse().ok())
            .context("unexpected /proc/<pid>/stat")
    };
    // utime and stime are fields 14 and 15 of stat(5), counted in clock ticks of
    // 1/100 s (USER_HZ on Linux).
    Ok(Duration::from_millis(10 * (ticks(11)? + ticks(12)?)))
}

/// CPU time this process (the load client) has used so far.
pub fn own_cpu_time() -> anyhow::Result<Duration> {
    process_cpu_time("/proc/self/stat")
}

/// CPU time every process on the machine has used so far: user, nice, system, irq and
/// softirq of the `cpu` line of /proc/stat (in USER_HZ ticks), not idle, iowait or steal.
/// Less the benchmark's own processes, what is left is what other work took from the
/// cores during a run.
pub fn machine_cpu_time() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").context("Failed to read /proc/stat")?;
    let ticks: Vec<u64> = stat
        .lines()
        .find_map(|line| line.strip_prefix("cpu "))
        .context("no cpu line in /proc/stat")?
        .split_whitespace()
        .map(|v| v.parse().context("unexpected /proc/stat"))
        .collect::<anyhow::Result<_>>()?;
    let busy: u64 = [0, 1, 2, 5, 6]
        .iter()
        .map(|&i| ticks.get(i).copied().unwrap_or_default())
        .sum();
    Ok(Duration::from_millis(10 * busy))
}

/// The CPU time of each of `servers` so far, to pass to [`cpu_per`] later.
pub fn cpu_times(servers: &[(&str, &Service)]) -> anyhow::Result<Vec<Duration>> {
    servers.iter().map(|(_, s)| s.cpu_time()).collect()
}

/// The CPU time each of `servers` spent since `before` (from [`cpu_times`]).
pub fn cpu_since(
    servers: &[(&str, &Service)],
    before: &[Duration],
) -> anyhow::Result<Vec<Duration>> {
    servers
        .iter()
        .zip(before)
        .map(|((_, server), before)| Ok(server.cpu_time()?.saturating_sub(*before)))
        .collect()
}

/// "CPU per <unit>: api 31 µs, redis 15 µs" since `before`.
pub fn cpu_per(
    servers: &[(&str, &Service)],
    before: &[Duration],
    count: u64,
    unit: &str,
) -> anyhow::Result<String> {
    let spent = cpu_since(servers, before)?;
    Ok(describe_cpu(servers, &spent, count, unit))
}

/// "CPU per <unit>: api 31 µs, redis 15 µs" for `spent` (one figure per server) over
/// `count` units.
pub fn describe_cpu(
    servers: &[(&str, &Service)],
    spent: &[Duration],
    count: u64,
    unit: &str,
) -> String {
    let parts: Vec<String> = servers
        .iter()
        .zip(spent)
        .map(|((name, _), spent)| format!("{name} {:.1} µs", micros_per(*spent, count)))
        .collect();
    format!("CPU per {unit}: {}", parts.join(", "))
}

/// `spent` per one of `count`, in microseconds.
pub fn micros_per(spent: Duration, count: u64) -> f64 {
    spent.as_secs_f64() * 1e6 / count.max(1) as f64
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

/// A release binary of this workspace, next to this one.
fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} not found: build it first with `cargo build --release --workspace --bins`",
            path.display()
        );
    }
    Ok(path)
}

/// A database of its own for one benchmark run, on the server of `$DATABASE_URL` (else
/// postgres://postgres@127.0.0.1:5432): the processes create it at start, `drop` removes
/// it. Runs never share tables, so one run's rows (and, where autovacuum is off, their
/// dead versions) cannot slow the next.
pub struct Database {
    pub name: String,
    pub url: String,
}

impl Database {
    fn fresh() -> anyhow::Result<Self> {
        let server = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let mut url = url::Url::parse(&server).context("DATABASE_URL is not a URL")?;
        let name = format!("hookrelay_bench_{}", uuid::Uuid::new_v4().simple());
        url.set_path(&format!("/{name}"));
        Ok(Self {
            name,
            url: url.into(),
        })
    }

    /// Runs `scenario` with a fresh database, then drops the database whatever the
    /// outcome (the scenario's processes are stopped by then: they are dropped with it).
    pub async fn around<T>(
        scenario: impl AsyncFnOnce(&Database) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let database = Self::fresh()?;
        let result = scenario(&database).await;
        database.drop().await?;
        result
    }

    /// Drops the database (after the processes using it have been stopped).
    async fn drop(self) -> anyhow::Result<()> {
        let mut admin = url::Url::parse(&self.url)?;
        admin.set_path("/postgres");
        let mut conn = AsyncPgConnection::establish(admin.as_str())
            .await
            .context("Failed to connect to Postgres to drop the benchmark database")?;
        conn.batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ))
        .await
        .with_context(|| format!("Failed to drop database {}", self.name))
    }
}

/// What the api and worker under test share: their Redis, key prefix and database.
pub struct Deployment<'a> {
    pub redis: &'a Service,
    /// `REDIS_URL`: `redis`'s, unless [`Deployment::on_cluster`] set a cluster's.
    pub redis_url: String,
    /// Variables both processes get on top of the ones above (`REDIS_CLUSTER`,
    /// `QUEUE_PARTITIONS`).
    pub shared_env: Vec<(&'static str, String)>,
    pub database: &'a Database,
    /// `REDIS_KEY_PREFIX`, fresh for each deployment.
    pub prefix: String,
    /// `ALLOW_PRIVATE_TARGETS`: the delivery benchmark's sink is on 127.0.0.1.
    pub allow_private_targets: bool,
    /// `API_KEYS` of the api: with a key, authentication is on and this is its one admin
    /// key; without, the api runs with `AUTH_DISABLED=true`.
    pub admin_key: Option<String>,
}

impl<'a> Deployment<'a> {
    pub fn new(redis: &'a Service, database: &'a Database) -> Self {
        Self {
            redis,
            redis_url: format!("redis://{}", redis.addr),
            shared_env: Vec::new(),
            database,
            prefix: format!("bench-{}", uuid::Uuid::new_v4().simple()),
            allow_private_targets: false,
            admin_key: None,
        }
    }

    /// The same deployment on a Redis Cluster whose seed nodes `url` lists.
    #[must_use]
    pub fn on_cluster(mut self, url: String) -> Self {
        self.redis_url = url;
        self.shared_env.push(("REDIS_CLUSTER", "true".into()));
        self
    }

    /// `binary` with this deployment's environment, told by `listen` where to serve
    /// `/healthz` (a free local address), its log in a file in the temp directory.
    async fn start(
        &self,
        binary: &str,
        listen: fn(SocketAddr) -> (&'static str, String),
        extra_env: &[(&str, String)],
    ) -> anyhow::Result<Service> {
        let port = free_port()?;
        let log_path = std::env::temp_dir().join(format!("hookrelay-bench-{binary}-{port}.log"));
        let log = std::fs::File::create(&log_path)?;
        let mut child = Command::new(sibling_binary(binary)?)
            .envs([listen(local(port))])
            .env("REDIS_URL", &self.redis_url)
            .envs(self.shared_env.iter().map(|(k, v)| (k, v)))
            .env("REDIS_KEY_PREFIX", &self.prefix)
            .env("DATABASE_URL", &self.database.url)
            .env(
                "ALLOW_PRIVATE_TARGETS",
                self.allow_private_targets.to_string(),
            )
            .env("RUST_LOG", "warn")
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("Failed to start {binary}"))?;
        wait_until_up(binary, &mut child, async || healthy(local(port)).await)
            .await
            .with_context(|| format!("see {}", log_path.display()))?;
        Ok(Service {
            addr: local(port),
            child,
        })
    }

    /// The release api: authentication off, or on with `admin_key` as its `API_KEYS`.
    pub async fn api(&self) -> anyhow::Result<Service> {
        let auth = match &self.admin_key {
            Some(key) => ("API_KEYS", key.clone()),
            None => ("AUTH_DISABLED", "true".into()),
        };
        self.start(
            "hookrelay-api",
            |addr| ("PORT", addr.port().to_string()),
            &[auth, ("HOST", "127.0.0.1".into())],
        )
        .await
    }

    /// The release worker; its address is that of its `/metrics` and `/healthz`.
    pub async fn worker(&self, extra_env: &[(&str, String)]) -> anyhow::Result<Service> {
        self.start(
            "hookrelay-worker",
            |addr| ("METRICS_ADDR", addr.to_string()),
            extra_env,
        )
        .await
    }

    /// The release worker with `WORKER_CONCURRENCY` = `concurrency` and nothing else set.
    pub async fn worker_of(&self, concurrency: usize) -> anyhow::Result<Service> {
        self.worker(&[("WORKER_CONCURRENCY", concurrency.to_string())])
            .await
    }
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
