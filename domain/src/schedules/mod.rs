//! Schedules: webhooks the service sends on a timetable (cron in an IANA zone) or once.
//!
//! - [`runs`]: what a stored schedule means, when its runs are due, and firing one run
//!   exactly once (the run's row and its webhook in the outbox, in one transaction);
//! - [`row`]: a schedule and a run as the api shows them; [`input`]: reading a schedule
//!   from a body, every bad field at once;
//! - [`store`]: storing, changing, pausing, resuming and triggering schedules, and listing
//!   their runs; [`ops`]: the write actions every front end calls;
//! - [`timetable`]: 5-field cron as wall-clock time in a zone, DST gaps and repeats;
//! - [`body`]: the bodies [`store`] reads, as the OpenAPI document shows them.
//!
//! The worker's runner (`worker/src/schedules.rs`) claims due schedules and fires them
//! through [`runs`].

pub mod body;
pub mod input;
pub mod ops;
pub mod row;
pub mod runs;
pub mod store;
pub mod timetable;
