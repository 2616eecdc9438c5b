//! Waiting in tests. To wait *for* something, poll with a deadline ([`eventually`]), never
//! sleep and hope. To check that something does *not* happen, the only wait that has to
//! run its full length, say so: [`assert_holds_for`] (and
//! [`Receiver::assert_quiet_for`](crate::Receiver::assert_quiet_for) for requests).

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, sleep};

/// How often both helpers look again.
const POLL: Duration = Duration::from_millis(25);

/// Polls `check` every 25 ms until it returns `Some`, or panics naming `what` after
/// `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        sleep(POLL).await;
    }
}

/// Checks `invariant` every 25 ms for the whole of `window`, and panics naming `what` the
/// first time it returns `false` (an invariant may also assert, with its own message).
/// For tests whose point is that something stays as it is for a while: the window is
/// the claim under test, so this wait is bounded by design and never ends early.
pub async fn assert_holds_for<F, Fut>(window: Duration, what: &str, mut invariant: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + window;
    loop {
        assert!(invariant().await, "{what} did not hold for {window:?}");
        if Instant::now() >= deadline {
            return;
        }
        sleep(POLL).await;
    }
}
