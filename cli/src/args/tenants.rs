//! `hookrelay tenants …` (admin keys only).

use clap::Subcommand;

use super::Paging;

#[derive(Subcommand)]
pub enum Tenants {
    /// Create a tenant.
    Create {
        name: String,
        /// A JSON object.
        #[arg(long)]
        metadata: Option<String>,
    },
    /// List them.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one.
    Get { id: String },
    /// Change its name or metadata.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// A JSON object.
        #[arg(long)]
        metadata: Option<String>,
    },
    /// Deletes the tenant with its subscriptions, sources, schedules and keys.
    Delete { id: String },
}
