//! The schedules scenario: `--schedules` cron schedules (`* * * * *`, 10,000 by default),
//! written straight into the benchmark's database, all due at the next whole minute, each
//! targeted at one subscription on the sink. One worker fires them. Printed: how long
//! after the minute the last run was recorded (`schedule_runs.started_at`) and the last
//! webhook arrived, lost and duplicate runs, and the worker's CPU time from the minute to
//! the last arrival.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DurationRound as _, Utc};
use diesel::sql_types::{BigInt, Double};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::cli::SchedulesOptions;
use crate::deliver::{Subscriptions, wait_for};
use crate::processes::{self, Database, Deployment};
use crate::sink::Sink;

pub async fn run(options: SchedulesOptions) -> anyhow::Result<()> {
    Database::around(async |database| measure(&options, database).await).await
}

#[derive(diesel::QueryableByName)]
struct Fired {
    #[diesel(sql_type = BigInt)]
    runs: i64,
    #[diesel(sql_type = BigInt)]
    ticks: i64,
    #[diesel(sql_type = Double)]
    last_after: f64,
}

async fn measure(options: &SchedulesOptions, database: &Database) -> anyhow::Result<()> {
    let redis = processes::redis().await?;
    let mut deployment = Deployment::new(&redis, database);
    deployment.allow_private_targets = true;
    let api = deployment.api().await?;
    let worker = deployment.worker(&[]).await?;
    let sink = Sink::start().await?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let subscription = Subscriptions::create(&api, &sink, 1, &format!("bench.{run}")).await?;
    let mut conn = AsyncPgConnection::establish(&database.url)
        .await
        .context("Failed to connect to the benchmark database")?;
    // Far enough ahead that writing them all takes less.
    let now = Utc::now();
    let mut due = now.duration_trunc(chrono::Duration::minutes(1))? + chrono::Duration::minutes(1);
    if due - now < chrono::Duration::seconds(15) {
        due += chrono::Duration::minutes(1);
    }
    let count = options.schedules;
    conn.batch_execute(&format!(
        "INSERT INTO schedules (id, name, subscription_id, payload, kind, cron, next_run_at, \
                                created_at, updated_at) \
         SELECT gen_random_uuid(), 'bench ' || i, '{}', jsonb_build_object('n', i), 'cron', \
                '* * * * *', '{}', now(), now() \
         FROM generate_series(1, {count}) AS i; ANALYZE schedules;",
        subscription.ids()[0],
        hookrelay_shared::time::format(&due),
    ))
    .await
    .context("Failed to store the schedules")?;
    println!(
        "schedules benchmark: {count} schedules due at {}, one worker, {} cores",
        hookrelay_shared::time::format(&due),
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    let until_due = (due - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(until_due).await;
    let cpu_before = worker.cpu_time()?;
    let started = Instant::now();
    let arrived = wait_for(&sink, count).await;
    let all_arrived = started.elapsed();
    let cpu = worker.cpu_time()? - cpu_before;
    let fired: Fired = diesel::sql_query(format!(
        "SELECT count(*) AS runs, count(DISTINCT (schedule_id, scheduled_for)) AS ticks, \
                COALESCE(EXTRACT(EPOCH FROM max(started_at) - '{}'::timestamptz), 0)::float8 \
                  AS last_after \
         FROM schedule_runs",
        hookrelay_shared::time::format(&due),
    ))
    .get_result(&mut conn)
    .await
    .context("Failed to count the runs")?;
    if arrived.delivered < count {
        bail!("only {} of {count} runs arrived", arrived.delivered);
    }
    println!(
        "fired:   {} runs ({} ticks) recorded, the last {:.2} s after the minute",
        fired.runs, fired.ticks, fired.last_after,
    );
    println!(
        "arrived: {} of {count} webhooks, the last {:.2} s after the minute; duplicates {}",
        arrived.delivered,
        all_arrived.as_secs_f64(),
        arrived.duplicates,
    );
    println!(
        "worker:  {:.2} s of CPU from the minute to the last arrival ({:.0} µs per run, firing and delivering); {}",
        cpu.as_secs_f64(),
        processes::micros_per(cpu, count),
        worker.memory()?,
    );
    // Stop the next minute's runs before the database goes.
    conn.batch_execute("UPDATE schedules SET is_active = false")
        .await
        .context("Failed to stop the schedules")?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    subscription.delete(&api).await
}
