//! `hookrelay keys …`: stored API keys.

use clap::Subcommand;

use super::Paging;

#[derive(Subcommand)]
pub enum Keys {
    /// Prints the new key once.
    Create {
        name: String,
        #[arg(long)]
        tenant: Option<String>,
        /// read, write, ingest; repeat (default: all three).
        #[arg(long = "permission")]
        permissions: Vec<String>,
        /// RFC 3339.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List them.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one.
    Get { id: String },
    /// Delete it.
    Delete { id: String },
}
