//! Subscriptions without actix: turning request JSON into validated changes ([`input`])
//! and reading and writing them in Postgres ([`store`]).

pub mod input;
pub mod store;
