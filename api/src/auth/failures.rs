//! Why a request was refused authentication or authorization, as the `reason` label of
//! [`crate::metrics::AUTH_FAILURES`]: counted here, whichever module refused it.

hookrelay_shared::text_enum! {
    /// Why a request was refused, as the `reason` label of [`crate::metrics::AUTH_FAILURES`].
    pub enum FailureReason {
        Missing = "missing",
        Unknown = "unknown",
        Expired = "expired",
        Forbidden = "forbidden",
    }
}

impl FailureReason {
    pub fn record(self) {
        metrics::counter!(crate::metrics::AUTH_FAILURES.name, "reason" => self.as_str())
            .increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_back_from_their_labels() {
        hookrelay_shared::assert_texts_round_trip!(FailureReason);
    }
}
