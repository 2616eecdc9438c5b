//! `hookrelay dead-letters …`: stream entries the workers gave up on.

use clap::Subcommand;

use super::Paging;

#[derive(Subcommand)]
pub enum DeadLetters {
    /// List them.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Put it back into the work stream as it was.
    Redrive { id: String },
    /// Delete it.
    Delete { id: String },
}
