//! Rows of the tables in `schema`, one module per table. The serialised forms are the
//! contract's JSON objects, so handlers return these types directly.

pub mod attempt;
pub mod delivery;
pub mod subscription;
pub mod webhook;

pub use attempt::{Attempt, Outcome};
pub use delivery::{Delivery, DeliveryStatus};
pub use subscription::{NewSubscription, Subscription, SubscriptionChanges};
pub use webhook::{NewWebhook, Payload};
