//! Why a request was refused authentication or authorization, as the `reason` label of
//! [`crate::metrics::AUTH_FAILURES`]: counted here, whichever module refused it.

/// Why a request was refused, as the `reason` label of [`crate::metrics::AUTH_FAILURES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    Missing,
    Unknown,
    Expired,
    Forbidden,
}

impl FailureReason {
    pub const ALL: [Self; 4] = [Self::Missing, Self::Unknown, Self::Expired, Self::Forbidden];

    pub const fn label(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Unknown => "unknown",
            Self::Expired => "expired",
            Self::Forbidden => "forbidden",
        }
    }

    pub fn record(self) {
        metrics::counter!(crate::metrics::AUTH_FAILURES.name, "reason" => self.label())
            .increment(1);
    }
}
