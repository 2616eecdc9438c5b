//! One module per console section. Each handler reads its input, calls the logic module
//! the JSON route calls, and renders a template (or redirects after a form).

pub mod admin;
pub mod dead_letters;
pub mod overview;
pub mod replays;
pub mod schedules;
pub mod sign_in;
pub mod sources;
pub mod subscriptions;
pub mod webhooks;
