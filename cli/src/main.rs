//! `hookrelay`: the operator CLI. Every command is one or a few HTTP requests to the API
//! (`HOOKRELAY_URL`, key from `HOOKRELAY_API_KEY` or `--api-key-stdin`); it never touches
//! Postgres or Redis.
//!
//! Exit codes: 0 done, 1 the API refused (its `detail` on stderr) or could not be reached,
//! 2 usage (clap's own).
//!
//! This file parses the command line, picks the key and maps failures to those exit codes;
//! the commands themselves are the `hookrelay_cli` library (`lib.rs`).

use std::io::Read as _;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};

use hookrelay_cli::args::{Cli, Command};
use hookrelay_cli::client::{Client, Failure};
use hookrelay_cli::output::Out;
use hookrelay_cli::run;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "hookrelay",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    let key = match api_key(&cli) {
        Ok(key) => key,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let client = match Client::new(&cli.url, key) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let out = Out::new(cli.output);
    match run::run(&client, &out, cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Api { status, detail }) => {
            eprintln!(
                "error: {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            );
            eprintln!("{detail}");
            ExitCode::from(1)
        }
        Err(Failure::Other(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The key: `--api-key-stdin` (one line), else `--api-key` / `HOOKRELAY_API_KEY`.
fn api_key(cli: &Cli) -> anyhow::Result<Option<String>> {
    if cli.api_key_stdin {
        if cli.reads_stdin() {
            anyhow::bail!("--api-key-stdin and a body from stdin (-) cannot share stdin");
        }
        let mut key = String::new();
        std::io::stdin().read_to_string(&mut key)?;
        let key = key.lines().next().unwrap_or_default().trim().to_owned();
        anyhow::ensure!(!key.is_empty(), "--api-key-stdin: stdin held no key");
        return Ok(Some(key));
    }
    Ok(cli.api_key.clone().filter(|k| !k.is_empty()))
}
