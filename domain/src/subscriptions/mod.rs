//! Subscriptions: the `subscriptions` row ([`row`]), turning request JSON into validated
//! changes ([`input`], with the rules for custom delivery headers in [`headers`]), reading
//! and writing them in Postgres ([`store`]), and the cache both binaries look them up in
//! ([`cache`]). [`body`] is how the OpenAPI document shows the bodies [`input`] reads.

pub mod cache;
pub mod row;

pub mod body;
pub mod headers;
pub mod health;
pub mod input;
pub mod ops;
pub mod store;

pub use cache::SubscriptionCache;
pub use row::{DeliveryMethod, NewSubscription, Subscription, SubscriptionChanges};

/// The detail of every 404 for a subscription that does not exist in the caller's reach.
pub const NOT_FOUND: &str = "Subscription not found";
