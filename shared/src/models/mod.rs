//! Rows of the tables in `schema`, one module per table. The serialised forms are the
//! contract's JSON objects, so handlers return these types directly.

pub mod api_key;
pub mod attempt;
pub mod delivery;
pub mod subscription;
pub mod tenant;
pub mod webhook;

pub use api_key::{ApiKey, NewApiKey, Permission, Permissions};
pub use attempt::{Attempt, Outcome};
pub use delivery::{Delivery, DeliveryStatus};
pub use subscription::{DeliveryMethod, NewSubscription, Subscription, SubscriptionChanges};
pub use tenant::{Tenant, TenantChanges};
pub use webhook::{Envelope, NewWebhook, Payload};
