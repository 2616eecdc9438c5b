//! Why a request was refused authentication or authorization, as the `reason` label of
//! `hookrelay_auth_failures_total`: counted here, whichever module refused it.

/// Why a request was refused, as the `reason` label of `hookrelay_auth_failures_total`.
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
        metrics::counter!("hookrelay_auth_failures_total", "reason" => self.label()).increment(1);
    }
}
