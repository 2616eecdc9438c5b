//! The command line as clap sees it: the global flags, the command tree, and the two
//! argument groups every resource shares (paging, a JSON body). Each resource's subcommands
//! live in `args/<resource>.rs`; what a command sends is in `run`, what it prints in
//! `columns` and `output`.

mod dead_letters;
mod keys;
mod replays;
mod resource;
mod subscriptions;
mod tenants;
mod webhooks;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde_json::{Map, Value};

use crate::output::Format;

pub use dead_letters::DeadLetters;
pub use keys::Keys;
pub use replays::Replays;
pub use resource::Resource;
pub use subscriptions::Subscriptions;
pub use tenants::Tenants;
pub use webhooks::{Ingest, Webhooks};

#[derive(Parser)]
#[command(
    name = "hookrelay",
    version,
    about = "Operate a hookrelay deployment over its HTTP API",
    after_help = "The key is never needed on the command line: set HOOKRELAY_API_KEY, or pipe it in with --api-key-stdin.\nExit codes: 0 done, 1 the API refused (its detail on stderr) or was unreachable, 2 usage."
)]
pub struct Cli {
    /// The API's base URL.
    #[arg(
        long,
        env = "HOOKRELAY_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// The API key (prefer HOOKRELAY_API_KEY or --api-key-stdin: flags land in shell history).
    #[arg(long, env = "HOOKRELAY_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
    /// Read the API key from the first line of stdin.
    #[arg(long, global = true)]
    pub api_key_stdin: bool,
    /// `table` (aligned, for people) or `json` (the API's answer, for scripts).
    #[arg(long, short, value_enum, default_value_t = Format::Table, global = true)]
    pub output: Format,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether the command reads its body from stdin (`-`).
    pub fn reads_stdin(&self) -> bool {
        matches!(&self.command, Command::Ingest(i) if i.file.as_deref().is_none_or(|f| f.as_os_str() == "-"))
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Create, list, change and test subscriptions.
    #[command(subcommand)]
    Subscriptions(Subscriptions),
    /// Send a webhook: fan-out by event type, or to one subscription.
    Ingest(Ingest),
    /// One webhook's status: its deliveries and recent attempts.
    Status { webhook_id: String },
    /// Find stored webhooks.
    #[command(subcommand)]
    Webhooks(Webhooks),
    /// Replay one webhook's failed deliveries (or the named subscriptions' ones).
    Replay {
        webhook_id: String,
        /// Only this subscription's delivery (repeat for several), whatever it ended as.
        #[arg(long = "subscription")]
        subscriptions: Vec<String>,
        /// With no --subscription: replay the succeeded deliveries too.
        #[arg(long)]
        include_succeeded: bool,
    },
    /// Bulk replays: everything a filter matches, in batches.
    #[command(subcommand)]
    Replays(Replays),
    /// Tenants (admin keys).
    #[command(subcommand)]
    Tenants(Tenants),
    /// Stored API keys.
    #[command(subcommand)]
    Keys(Keys),
    /// Cron and one-time schedules.
    #[command(subcommand)]
    Schedules(Resource),
    /// Verified inbound webhooks (POST /in/<token>).
    #[command(subcommand)]
    Sources(Resource),
    /// Stream entries the workers gave up on.
    #[command(subcommand)]
    DeadLetters(DeadLetters),
    /// Follow webhooks as they are stored and delivered (polls GET /webhooks).
    Tail(crate::tail::Tail),
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
}

#[derive(Args)]
pub struct Paging {
    #[arg(long, default_value_t = 0)]
    skip: u64,
    #[arg(long, default_value_t = 100)]
    limit: u64,
    /// Keys without a tenant: only this tenant (`default`: the default space).
    #[arg(long)]
    tenant: Option<String>,
}

impl Paging {
    /// The list routes' query: `skip`, `limit` and (when given) `tenant_id`.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        vec![
            ("skip", self.skip.to_string()),
            ("limit", self.limit.to_string()),
            ("tenant_id", self.tenant.clone().unwrap_or_default()),
        ]
    }
}

// A JSON body from `--data` or `--file`, under the fields the flags set.
#[derive(Args, Default)]
pub struct Data {
    /// The body as JSON (fields the flags set win).
    #[arg(long)]
    data: Option<String>,
    /// The body as a JSON file.
    #[arg(long, conflicts_with = "data")]
    file: Option<PathBuf>,
}

impl Data {
    /// The JSON object given (empty when neither flag is).
    pub fn object(&self) -> anyhow::Result<Map<String, Value>> {
        let text = match (&self.data, &self.file) {
            (Some(text), _) => text.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?,
            (None, None) => return Ok(Map::new()),
        };
        match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => anyhow::bail!("the body must be a JSON object"),
            Err(e) => anyhow::bail!("the body is not JSON: {e}"),
        }
    }
}
