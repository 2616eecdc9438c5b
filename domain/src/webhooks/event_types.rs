//! Event types and subscription event filters (CONTRACT §3, §4).

use crate::sql::{Bind, Binds, like_literal};

hookrelay_shared::text_enum! {
    /// The event types hookrelay raises itself, declared once: `as_str` is the
    /// `X-Event-Type`.
    pub enum OwnEvent {
        /// A test send (`POST /subscriptions/{id}/test`, the console's "Send a test").
        Test = "hookrelay.test",
        /// A subscription's receiver kept failing (the 3rd, 5th and last failure in a row).
        SubscriptionFailing = "hookrelay.subscription.failing",
        /// The service disabled a subscription.
        SubscriptionDisabled = "hookrelay.subscription.disabled",
    }
}

/// Why an event type or filter entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventTypeError {
    #[error("must be 1 to 255 visible ASCII characters")]
    Invalid,
    #[error("`*` may only end a filter entry (a prefix match such as `order.*`)")]
    MisplacedWildcard,
}

/// Event types (and `Idempotency-Key`s) are 1..=255 visible ASCII characters.
pub fn is_visible_ascii_token(s: &str) -> bool {
    (1..=255).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Checks one entry of a subscription's `events` filter.
pub fn validate_filter_entry(entry: &str) -> Result<(), EventTypeError> {
    if !is_visible_ascii_token(entry) {
        return Err(EventTypeError::Invalid);
    }
    if entry.trim_end_matches('*').contains('*') || entry.ends_with("**") {
        return Err(EventTypeError::MisplacedWildcard);
    }
    Ok(())
}

/// Whether a subscription with this filter receives an event of this type by fan-out.
/// `None` or `[]` matches everything; an entry ending in `*` is a prefix match; without an
/// event type, only match-all filters match.
pub fn filter_matches(filter: Option<&[String]>, event_type: Option<&str>) -> bool {
    let Some(entries) = filter.filter(|f| !f.is_empty()) else {
        return true;
    };
    entries.iter().any(|entry| match entry.strip_suffix('*') {
        Some("") => true,
        Some(prefix) => event_type.is_some_and(|t| t.starts_with(prefix)),
        None => event_type == Some(entry.as_str()),
    })
}

/// [`filter_matches`] as an SQL condition on `column` (an event type), `None` when the
/// filter matches everything: exact entries by `= ANY`, prefix entries by `LIKE ANY`
/// with the prefix escaped. A NULL event type matches neither, as in `filter_matches`.
pub fn filter_condition(
    filter: Option<&[String]>,
    column: &str,
    binds: &mut Binds,
) -> Option<String> {
    let entries = filter.filter(|f| !f.is_empty())?;
    let mut exact = Vec::new();
    let mut prefixes = Vec::new();
    for entry in entries {
        match entry.strip_suffix('*') {
            Some("") => return None,
            Some(prefix) => prefixes.push(format!("{}%", like_literal(prefix))),
            None => exact.push(entry.clone()),
        }
    }
    let mut alternatives = Vec::new();
    if !exact.is_empty() {
        alternatives.push(format!(
            "{column} = ANY({})",
            binds.push(Bind::Texts(exact))
        ));
    }
    if !prefixes.is_empty() {
        alternatives.push(format!(
            "{column} LIKE ANY({})",
            binds.push(Bind::Texts(prefixes))
        ));
    }
    Some(format!("({})", alternatives.join(" OR ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_events_read_back_from_their_types() {
        hookrelay_shared::assert_texts_round_trip!(OwnEvent);
    }

    #[test]
    fn filters_as_sql_conditions() {
        let mut binds = Binds::default();
        assert_eq!(filter_condition(None, "e", &mut binds), None);
        assert_eq!(
            filter_condition(Some(&filter(&["a", "*"])), "e", &mut binds),
            None
        );
        assert_eq!(
            filter_condition(Some(&filter(&["a_b.*", "c"])), "e", &mut binds).as_deref(),
            Some("(e = ANY($1) OR e LIKE ANY($2))")
        );
        assert_eq!(
            filter_condition(Some(&filter(&["x.*"])), "e", &mut binds).as_deref(),
            Some("(e LIKE ANY($3))")
        );
    }

    fn filter(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn null_empty_and_star_match_everything() {
        assert!(filter_matches(None, Some("order.created")));
        assert!(filter_matches(None, None));
        assert!(filter_matches(Some(&[]), None));
        assert!(filter_matches(Some(&filter(&["x", "*"])), None));
    }

    #[test]
    fn prefixes_and_exact_names() {
        let f = filter(&["order.*", "user.created"]);
        assert!(filter_matches(Some(&f), Some("order.created")));
        assert!(filter_matches(Some(&f), Some("order.")));
        assert!(filter_matches(Some(&f), Some("user.created")));
        assert!(!filter_matches(Some(&f), Some("user.deleted")));
        assert!(!filter_matches(Some(&f), Some("orders")));
        assert!(!filter_matches(Some(&f), None));
    }

    #[test]
    fn entries_are_validated() {
        assert!(validate_filter_entry("order.*").is_ok());
        assert!(validate_filter_entry("*").is_ok());
        assert_eq!(
            validate_filter_entry("or*der"),
            Err(EventTypeError::MisplacedWildcard)
        );
        assert_eq!(
            validate_filter_entry("order.**"),
            Err(EventTypeError::MisplacedWildcard)
        );
        assert_eq!(validate_filter_entry(""), Err(EventTypeError::Invalid));
        assert_eq!(
            validate_filter_entry("has space"),
            Err(EventTypeError::Invalid)
        );
        assert_eq!(
            validate_filter_entry(&"a".repeat(256)),
            Err(EventTypeError::Invalid)
        );
    }
}
