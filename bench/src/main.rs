//! `hookrelay-bench`: load benchmarks for hookrelay, run by hand (never in CI).
//!
//! - [`cli`]: the subcommands and their options.
//! - [`load`]: the HTTP load drivers — closed loop (as fast as the connections allow) and
//!   open loop (a fixed request rate, latency measured from the intended send time).
//! - [`processes`]: the processes under test — a private `redis-server`, the release
//!   `hookrelay-api` binary, the bare-HTTP ceiling server — and their memory (RSS).
//! - [`ceiling`]: the ceiling server itself: answers every request with a 202 and nothing
//!   else, so its figures are the most this machine can do over HTTP.
//! - [`sink`]: where delivered webhooks arrive; counts them and their latency.
//! - [`ingest`]: the `ingest` and `soak` scenarios, built from the above.
//! - [`deliver`]: the `deliver` scenario (ingest to arrival through a worker).
//! - [`backlog`]: the `backlog` scenario (worker memory and entries held under a backlog).
//! - [`replay`]: the `replay` scenario (a bulk replay's pace, live traffic meanwhile).
//! - [`schedules`]: the `schedules` scenario (many schedules due in the same minute).
//! - [`inbound`]: the `inbound` scenario (a verified source against plain ingest).
//! - [`destinations`]: the `destinations` scenario (delivery to brokers: RabbitMQ, NATS,
//!   Kafka, Redis streams, against HTTP; worker memory with many pooled connections).
//!
//! Every target is on 127.0.0.1; every run is bounded in time or in requests.

mod backlog;
mod ceiling;
mod cli;
mod deliver;
mod destinations;
mod inbound;
mod ingest;
mod load;
mod processes;
mod replay;
mod scale;
mod schedules;
mod sink;

use std::process::ExitCode;

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("hookrelay-bench: {message}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let result = match command {
        cli::Command::Help => {
            println!("{}", cli::USAGE);
            Ok(())
        }
        // The ceiling server is its own process with its own runtime, like the api.
        cli::Command::CeilingServer { workers } => ceiling::serve(workers),
        cli::Command::Ingest(options) => runtime().and_then(|rt| rt.block_on(ingest::run(options))),
        cli::Command::Soak(options) => runtime().and_then(|rt| rt.block_on(ingest::soak(options))),
        cli::Command::Deliver(options) if options.cluster => {
            runtime().and_then(|rt| rt.block_on(scale::run(options)))
        }
        cli::Command::Deliver(options) => {
            runtime().and_then(|rt| rt.block_on(deliver::run(options)))
        }
        cli::Command::Backlog(options) => {
            runtime().and_then(|rt| rt.block_on(backlog::run(options)))
        }
        cli::Command::Replay(options) => runtime().and_then(|rt| rt.block_on(replay::run(options))),
        cli::Command::Schedules(options) => {
            runtime().and_then(|rt| rt.block_on(schedules::run(options)))
        }
        cli::Command::Inbound(options) => {
            runtime().and_then(|rt| rt.block_on(inbound::run(options)))
        }
        cli::Command::Destinations(options) => {
            runtime().and_then(|rt| rt.block_on(destinations::run(options)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookrelay-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
