//! `hookrelay ingest` and `hookrelay webhooks …`: sending a webhook and finding stored ones.
//! (`status` and `replay` take only a webhook id and live in [`super::Command`].)

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::Paging;

#[derive(Args)]
pub struct Ingest {
    /// Deliver to this subscription only (else: fan-out by event type).
    #[arg(long)]
    pub subscription: Option<String>,
    #[arg(long)]
    pub event_type: Option<String>,
    /// The same key within 24 hours answers the first request's webhook id.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Deliver at this time (RFC 3339) instead of now.
    #[arg(long)]
    pub deliver_at: Option<String>,
    /// The payload file; `-` or nothing: stdin.
    pub file: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum Webhooks {
    /// List them.
    List {
        #[arg(long)]
        event_type: Option<String>,
        /// scheduled, queued, delivering, delivered, failed, no_subscribers.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        subscription: Option<String>,
        /// Received at or after (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
}
