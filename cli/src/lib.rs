//! hookrelay's operator CLI as a library: the `hookrelay` binary (`main.rs`) parses, picks
//! the key and maps failures to exit codes; everything else is here, so other crates (the
//! end-to-end tests) can check what the CLI sends against the api itself.
//!
//! A map of the crate, in the order a command travels through it:
//!
//! - [`args`]: the command line (clap), one module per resource.
//! - [`run`]: what each command does: its requests and what it prints of the answers, one
//!   module per resource, mirroring `args`.
//! - [`client`]: one HTTP request to the API, its JSON answer or the API's `detail`.
//! - [`paths`]: every API path the CLI calls, declared once with its methods, in the api's
//!   spelling; [`paths::routes`] lists them for a check against the api's route table.
//! - `columns`: which fields each resource's lists show as a table.
//! - [`output`]: tables (colour on a terminal) or the API's JSON as it came.
//! - [`tail`]: `hookrelay tail`, polling `GET /webhooks` for what changed.

pub mod args;
pub mod client;
mod columns;
pub mod output;
pub mod paths;
pub mod run;
pub mod tail;
