//! Subscriptions without actix: turning request JSON into validated changes ([`input`],
//! with the rules for custom delivery headers in [`headers`]) and reading and writing them
//! in Postgres ([`store`]).

pub mod headers;
pub mod input;
pub mod store;

/// The detail of every 404 for a subscription that does not exist in the caller's reach.
pub const NOT_FOUND: &str = "Subscription not found";
