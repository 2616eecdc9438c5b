//! `hookrelay schedules …` and `hookrelay sources …`: one command set for both, since their
//! bodies are rich enough to come as JSON rather than as flags.

use clap::Subcommand;

use super::{Data, Paging};

/// Schedules and sources: their bodies are rich, so they come as JSON.
#[derive(Subcommand)]
pub enum Resource {
    /// From a JSON body (`--data` or `--file`).
    Create {
        #[command(flatten)]
        data: Data,
    },
    /// List them.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one.
    Get { id: String },
    /// Changes the fields of a JSON body.
    Update {
        id: String,
        #[command(flatten)]
        data: Data,
    },
    /// Delete it.
    Delete { id: String },
    /// A schedule action (`pause`, `resume`, `trigger`) or a source's `rotate-path`.
    Do { id: String, action: String },
    /// A schedule's runs, or a source's rejections.
    Log {
        id: String,
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
}
