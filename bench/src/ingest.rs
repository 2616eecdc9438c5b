//! The ingest scenarios. No worker runs: the figures are the api's alone (Redis keeps
//! every entry, which is why the benchmark brings its own private `redis-server`).
//!
//! - `ingest`: the ceiling server at full speed; the api at full speed (its peak); the api
//!   at a fixed rate — half its peak unless `--rate` says otherwise — in open loop; the
//!   api's RSS before and after.
//! - `ingest --keys`: the same with authentication on, each api run made once with an
//!   `API_KEYS` (admin) key and once with a stored tenant key that has only `ingest`
//!   (created over the api first), in `--rounds` rounds whose first key alternates, so
//!   that the machine's drift between runs falls on both keys alike. Prints both keys'
//!   figures and the tenant key's difference from the admin key's.
//! - `soak`: a fixed number of ingests as fast as possible, with the api's RSS every
//!   tenth of the way.

use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use hookrelay_shared::keys::Keys;
use hyper::{Method, StatusCode};
use redis::streams::StreamRangeReply;

use crate::cli::{IngestOptions, KeyRounds, SoakOptions};
use crate::load::{self, Pace, Report, Target};
use crate::processes::{
    self, Database, Deployment, Service, cpu_since, cpu_times, describe_cpu, machine_cpu_time,
    micros_per, own_cpu_time,
};

/// Run before each measurement and thrown away: connections, caches and the allocator
/// settle first.
const WARM_UP: Duration = Duration::from_secs(1);

/// A JSON object of exactly `size` bytes (at least the skeleton's).
pub fn body(size: usize) -> Bytes {
    let skeleton = r#"{"type":"order.created","data":{"id":12345,"pad":""}}"#;
    let pad = "x".repeat(size.saturating_sub(skeleton.len()));
    Bytes::from(format!(
        r#"{{"type":"order.created","data":{{"id":12345,"pad":"{pad}"}}}}"#
    ))
}

fn target(service: &Service, path: &'static str, body: &Bytes) -> Target {
    Target::new(service.addr, path, body.clone())
}

/// A warm-up, then the measured closed-loop run; with the CPU time each of `servers`
/// spent per answered request during the measured run.
async fn closed_loop(
    target: &Target,
    connections: usize,
    duration: Duration,
    servers: &[(&str, &Service)],
) -> anyhow::Result<(Report, String)> {
    let run = measured(target, connections, Pace::ClosedLoop(duration), servers).await?;
    let cpu = describe_cpu(servers, &run.cpu, run.report.ok, "request");
    Ok((run.report, cpu))
}

/// What one measured run found.
pub struct Measured {
    pub report: Report,
    /// The CPU time each server spent during the run.
    pub cpu: Vec<Duration>,
    /// The CPU time every other process on the machine spent meanwhile (neither the
    /// servers nor this load client): work that competed with the run for the cores.
    pub others: Duration,
}

/// A closed-loop warm-up, then the measured run at `pace`, with the CPU time each of
/// `servers` and every other process spent during it.
pub async fn measured(
    target: &Target,
    connections: usize,
    pace: Pace,
    servers: &[(&str, &Service)],
) -> anyhow::Result<Measured> {
    load::run(
        target,
        connections,
        Pace::ClosedLoop(WARM_UP),
        StatusCode::ACCEPTED,
    )
    .await?;
    let before = cpu_times(servers)?;
    let (machine, client) = (machine_cpu_time()?, own_cpu_time()?);
    let report = load::run(target, connections, pace, StatusCode::ACCEPTED).await?;
    let cpu = cpu_since(servers, &before)?;
    let ours = cpu.iter().sum::<Duration>() + own_cpu_time()?.saturating_sub(client);
    let others = machine_cpu_time()?
        .saturating_sub(machine)
        .saturating_sub(ours);
    Ok(Measured {
        report,
        cpu,
        others,
    })
}

/// "other processes 0.04 cores": what `others` took, on average, during `elapsed`.
pub fn describe_others(others: Duration, elapsed: Duration) -> String {
    format!(
        "other processes {:.2} cores",
        others.as_secs_f64() / elapsed.as_secs_f64().max(1e-9)
    )
}

pub async fn run(options: IngestOptions) -> anyhow::Result<()> {
    Database::around(async |database| measure(&options, database).await).await
}

async fn measure(options: &IngestOptions, database: &Database) -> anyhow::Result<()> {
    let body = body(options.body_bytes);
    println!(
        "ingest benchmark: {} connections, {} s per run, {}-byte body, {} cores",
        options.connections,
        options.duration.as_secs(),
        body.len(),
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    let ceiling = if options.ceiling {
        let server = processes::ceiling().await?;
        let (report, cpu) = closed_loop(
            &target(&server, "/ingest", &body),
            options.connections,
            options.duration,
            &[("server", &server)],
        )
        .await?;
        println!("ceiling, bare HTTP 202        {}", report.summary());
        println!("                              {cpu}");
        Some(report)
    } else {
        None
    };

    let redis = processes::redis().await?;
    let mut deployment = Deployment::new(&redis, database);
    if let Some(rounds) = options.keys {
        let admin_key = format!("bench-admin-{}", uuid::Uuid::new_v4().simple());
        deployment.admin_key = Some(admin_key.clone());
        let api = deployment.api().await?;
        println!("api started, API_KEYS set     {}", api.memory()?);
        let callers = Callers::create(&api, &deployment, admin_key, &body).await?;
        compare_keys(options, rounds, &api, &redis, &callers, ceiling.as_ref()).await?;
        println!("api after the runs            {}", api.memory()?);
        return Ok(());
    }
    let api = deployment.api().await?;
    println!("api started                   {}", api.memory()?);
    let ingest = target(&api, "/ingest", &body);
    let (peak, cpu) = closed_loop(
        &ingest,
        options.connections,
        options.duration,
        &[("api", &api), ("redis", &redis)],
    )
    .await?;
    println!("api POST /ingest, peak        {}", peak.summary());
    println!("                              {cpu}");
    if let Some(ceiling) = &ceiling {
        println!(
            "                              {:.0}% of the ceiling",
            100.0 * peak.requests_per_second() / ceiling.requests_per_second()
        );
    }

    let rate = options
        .rate
        .unwrap_or(peak.requests_per_second() / 2.0)
        .max(1.0);
    let paced = load::run(
        &ingest,
        options.connections,
        Pace::OpenLoop {
            rate,
            duration: options.duration,
        },
        StatusCode::ACCEPTED,
    )
    .await?;
    println!("api at {rate:>7.0} req/s, open loop {}", paced.summary());
    println!("api after the runs            {}", api.memory()?);
    Ok(())
}

/// The two callers `--keys` compares: their keys, and the `POST /ingest` they send.
struct Callers {
    ingest: Target,
    admin_key: String,
    tenant_key: String,
}

impl Callers {
    /// With the admin key, creates a tenant and a key of that tenant with only `ingest`;
    /// then checks, on one ingest each, that the admin key's webhooks go to the default
    /// space and the tenant key's to its tenant (the stream entry's `ten`).
    async fn create(
        api: &Service,
        deployment: &Deployment<'_>,
        admin_key: String,
        body: &Bytes,
    ) -> anyhow::Result<Self> {
        let tenant = created(
            api,
            &admin_key,
            "/tenants",
            serde_json::json!({"name": "bench", "metadata": {"by": "hookrelay-bench"}}),
        )
        .await?;
        let tenant_id = tenant["id"]
            .as_str()
            .context("a created tenant without an id")?
            .to_owned();
        let key = created(
            api,
            &admin_key,
            "/api-keys",
            serde_json::json!({
                "name": "bench ingest",
                "tenant_id": tenant_id,
                "permissions": ["ingest"],
            }),
        )
        .await?;
        let tenant_key = key["key"]
            .as_str()
            .context("a created API key without its key")?
            .to_owned();
        println!(
            "tenant {tenant_id}, its key {}… with permissions {}",
            key["key_prefix"].as_str().unwrap_or_default(),
            key["permissions"]
        );
        let callers = Self {
            ingest: target(api, "/ingest", body),
            admin_key,
            tenant_key,
        };
        let keys = Keys::new(&deployment.prefix);
        let mut redis = redis::Client::open(format!("redis://{}", deployment.redis.addr))?
            .get_multiplexed_async_connection()
            .await
            .context("Failed to connect to the benchmark's redis-server")?;
        for (caller, expected) in [(Caller::Admin, ""), (Caller::Tenant, tenant_id.as_str())] {
            let tenant =
                ingested_tenant(api, &callers.ingest, callers.key(caller), &mut redis, &keys)
                    .await?;
            if tenant != expected {
                bail!(
                    "a webhook ingested with the {} went to tenant {tenant:?}, not {expected:?}",
                    caller.label().trim_end()
                );
            }
        }
        Ok(callers)
    }

    fn key(&self, caller: Caller) -> &str {
        match caller {
            Caller::Admin => &self.admin_key,
            Caller::Tenant => &self.tenant_key,
        }
    }

    fn target(&self, caller: Caller) -> Target {
        self.ingest.clone().with_key(self.key(caller))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Admin,
    Tenant,
}

impl Caller {
    /// Padded to one width, for the columns.
    const fn label(self) -> &'static str {
        match self {
            Self::Admin => "admin key ",
            Self::Tenant => "tenant key",
        }
    }
}

/// POSTs `body` to `path` with `key`, expecting 201; the created object.
async fn created(
    api: &Service,
    key: &str,
    path: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let (status, answer) = load::call(api.addr, Some(key), Method::POST, path, Some(body)).await?;
    if status != StatusCode::CREATED {
        bail!("POST {path}: {status} {}", String::from_utf8_lossy(&answer));
    }
    Ok(serde_json::from_slice(&answer)?)
}

/// Ingests once as `target` with `key` and reads the `ten` field (the tenant, empty for
/// the default space) of the stream's newest entry, which must be that webhook's.
async fn ingested_tenant(
    api: &Service,
    target: &Target,
    key: &str,
    redis: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
) -> anyhow::Result<String> {
    let (status, answer) = load::call(
        api.addr,
        Some(key),
        Method::POST,
        &target.path,
        Some(serde_json::from_slice(&target.body)?),
    )
    .await?;
    if status != StatusCode::ACCEPTED {
        bail!(
            "POST /ingest: {status} {}",
            String::from_utf8_lossy(&answer)
        );
    }
    let accepted: serde_json::Value = serde_json::from_slice(&answer)?;
    let webhook_id: uuid::Uuid = accepted["webhook_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .context("a 202 without a webhook id")?;
    let newest: StreamRangeReply = redis::cmd("XREVRANGE")
        .arg(keys.origin(webhook_id).stream())
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(redis)
        .await
        .context("XREVRANGE failed")?;
    let entry = newest.ids.first().context("the stream is empty")?;
    if entry.get::<String>("id").as_deref() != accepted["webhook_id"].as_str() {
        bail!("the stream's newest entry is not the webhook just ingested");
    }
    entry
        .get("ten")
        .context("a stream entry without a `ten` field")
}

/// One caller's runs of one kind, added up.
pub struct Totals {
    pub report: Report,
    /// CPU time per server (api, redis), over every run.
    pub cpu: Vec<Duration>,
    /// CPU time of other processes, over every run.
    pub others: Duration,
    /// Each run's figures, in order (one run per round).
    runs: Vec<RunFigures>,
}

/// The figures of one run that are compared round by round.
#[derive(Debug, Clone, Copy)]
struct RunFigures {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Totals {
    pub fn new() -> Self {
        Self {
            report: Report::empty(),
            cpu: Vec::new(),
            others: Duration::ZERO,
            runs: Vec::new(),
        }
    }

    pub fn add(&mut self, run: &Measured) -> anyhow::Result<()> {
        self.report.add(&run.report)?;
        self.cpu.resize(run.cpu.len(), Duration::ZERO);
        for (total, spent) in self.cpu.iter_mut().zip(&run.cpu) {
            *total += *spent;
        }
        self.others += run.others;
        self.runs.push(RunFigures {
            rate: run.report.requests_per_second(),
            p50_ms: run.report.percentile_ms(0.50),
            p99_ms: run.report.percentile_ms(0.99),
        });
        Ok(())
    }

    fn cpu_per_request(&self, server: usize) -> f64 {
        micros_per(
            self.cpu.get(server).copied().unwrap_or_default(),
            self.report.ok,
        )
    }

    /// "36120–37410 req/s over 4 runs": the range of the runs' rates.
    pub fn rate_range(&self) -> String {
        let rates = self.runs.iter().map(|r| r.rate);
        let low = rates.clone().fold(f64::INFINITY, f64::min);
        let high = rates.fold(0.0, f64::max);
        format!("{low:.0}–{high:.0} req/s over {} runs", self.runs.len())
    }
}

/// `(b - a) / a` in per cent.
fn percent(a: f64, b: f64) -> f64 {
    if a == 0.0 {
        f64::NAN
    } else {
        100.0 * (b - a) / a
    }
}

/// `(b - a) / a` in per cent, signed.
fn change(a: f64, b: f64) -> String {
    format!("{:+.1} %", percent(a, b))
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// How `tenant`'s `figure` differs from `admin`'s: over all requests (`all_admin`,
/// `all_tenant`), and round by round with the median of the rounds — the steadier figure
/// when other work disturbs some runs, since both runs of a round share the disturbance
/// more often than runs of different rounds do.
fn compared(
    admin: &Totals,
    tenant: &Totals,
    (all_admin, all_tenant): (f64, f64),
    figure: fn(&RunFigures) -> f64,
) -> String {
    let rounds: Vec<f64> = admin
        .runs
        .iter()
        .zip(&tenant.runs)
        .map(|(a, t)| percent(figure(a), figure(t)))
        .collect();
    let listed: Vec<String> = rounds.iter().map(|d| format!("{d:+.1}")).collect();
    format!(
        "{} (rounds {} %, median {:+.1} %)",
        change(all_admin, all_tenant),
        listed.join(" "),
        median(rounds)
    )
}

/// Prints how `tenant`'s figures differ from `admin`'s (under `heading`); the rate too
/// when `rate` (a closed loop, where the rate is what was measured).
pub fn print_comparison(heading: &str, admin: &Totals, tenant: &Totals, rate: bool) {
    println!("{heading}:");
    if rate {
        println!(
            "    req/s {}",
            compared(
                admin,
                tenant,
                (
                    admin.report.requests_per_second(),
                    tenant.report.requests_per_second()
                ),
                |r| r.rate
            )
        );
    }
    println!(
        "    p50   {}",
        compared(
            admin,
            tenant,
            (
                admin.report.percentile_ms(0.50),
                tenant.report.percentile_ms(0.50)
            ),
            |r| r.p50_ms
        )
    );
    println!(
        "    p99   {}",
        compared(
            admin,
            tenant,
            (
                admin.report.percentile_ms(0.99),
                tenant.report.percentile_ms(0.99)
            ),
            |r| r.p99_ms
        )
    );
    let cpu = |server: usize, name: &str| {
        let (a, t) = (
            admin.cpu_per_request(server),
            tenant.cpu_per_request(server),
        );
        format!("{name} {} ({:+.1} µs)", change(a, t), t - a)
    };
    println!("    CPU per request {}, {}", cpu(0, "api"), cpu(1, "redis"));
}

/// `rounds` rounds of one measured run of each of the two targets at `pace`, the first
/// of each round alternating (so the machine's drift between runs falls on both alike);
/// each run's figures, then each target's over all rounds.
pub async fn alternating(
    pair: &[(&str, Target); 2],
    rounds: usize,
    connections: usize,
    pace: Pace,
    what: &str,
    servers: &[(&str, &Service)],
) -> anyhow::Result<[Totals; 2]> {
    let mut totals = [Totals::new(), Totals::new()];
    for round in 0..rounds {
        let order = if round.is_multiple_of(2) {
            [0, 1]
        } else {
            [1, 0]
        };
        for which in order {
            let (name, target) = &pair[which];
            let run = measured(target, connections, pace, servers).await?;
            let label = format!("round {} {name} {what}", round + 1);
            println!("{label:<36}{}", run.report.summary());
            println!(
                "{:36}{}; {}",
                "",
                describe_cpu(servers, &run.cpu, run.report.ok, "request"),
                describe_others(run.others, run.report.elapsed),
            );
            totals[which].add(&run)?;
        }
    }
    for ((name, _), totals) in pair.iter().zip(&totals) {
        let label = format!("{name} {what}, all rounds");
        println!("{label:<36}{}", totals.report.summary());
        println!(
            "{:36}{}; {}; {}",
            "",
            describe_cpu(servers, &totals.cpu, totals.report.ok, "request"),
            describe_others(totals.others, totals.report.elapsed),
            totals.rate_range(),
        );
    }
    Ok(totals)
}

/// The `--keys` runs: rounds of closed-loop runs with each caller, then rounds of
/// open-loop runs at half the slower caller's peak (or `--rate`); each followed by both
/// callers' totals and the tenant key's difference from the admin key.
async fn compare_keys(
    options: &IngestOptions,
    KeyRounds { rounds }: KeyRounds,
    api: &Service,
    redis: &Service,
    callers: &Callers,
    ceiling: Option<&Report>,
) -> anyhow::Result<()> {
    let servers = [("api", api), ("redis", redis)];
    let pair = [
        (Caller::Admin.label(), callers.target(Caller::Admin)),
        (Caller::Tenant.label(), callers.target(Caller::Tenant)),
    ];
    let run = async |pace: Pace, what: &str| {
        alternating(&pair, rounds, options.connections, pace, what, &servers).await
    };

    let [admin, tenant] = &run(Pace::ClosedLoop(options.duration), "peak").await?;
    if let Some(ceiling) = ceiling {
        let share = |totals: &Totals| {
            100.0 * totals.report.requests_per_second() / ceiling.requests_per_second()
        };
        println!(
            "peak against the ceiling: admin key {:.0}%, tenant key {:.0}%",
            share(admin),
            share(tenant)
        );
    }
    print_comparison("tenant key vs admin key, peak", admin, tenant, true);

    let slower = admin
        .report
        .requests_per_second()
        .min(tenant.report.requests_per_second());
    let rate = options.rate.unwrap_or(slower / 2.0).max(1.0);
    let pace = Pace::OpenLoop {
        rate,
        duration: options.duration,
    };
    let [admin, tenant] = &run(pace, &format!("at {rate:.0}/s")).await?;
    print_comparison(
        &format!("tenant key vs admin key, open loop at {rate:.0} req/s"),
        admin,
        tenant,
        false,
    );
    Ok(())
}

pub async fn soak(options: SoakOptions) -> anyhow::Result<()> {
    Database::around(async |database| measure_soak(&options, database).await).await
}

async fn measure_soak(options: &SoakOptions, database: &Database) -> anyhow::Result<()> {
    let body = body(options.body_bytes);
    let redis = processes::redis().await?;
    let api = Deployment::new(&redis, database).api().await?;
    println!(
        "soak: {} ingests over {} connections, {}-byte body",
        options.ingests,
        options.connections,
        body.len()
    );
    println!("{:>9} ingests   {}", 0, api.memory()?);
    let ingest = target(&api, "/ingest", &body);
    let step = (options.ingests / 10).max(1);
    let mut sent = 0;
    let mut failed = 0;
    while sent < options.ingests {
        let count = step.min(options.ingests - sent);
        let report = load::run(
            &ingest,
            options.connections,
            Pace::Count(count),
            StatusCode::ACCEPTED,
        )
        .await?;
        sent += count;
        failed += report.failed;
        println!(
            "{sent:>9} ingests   {}   last step {:.0} req/s, p99 {:.2} ms",
            api.memory()?,
            report.requests_per_second(),
            report.percentile_ms(0.99)
        );
    }
    if failed > 0 {
        anyhow::bail!("{failed} ingests were not accepted");
    }
    Ok(())
}
