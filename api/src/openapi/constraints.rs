//! The patterns and bounds of what the api accepts, as JSON Schema: for each string the
//! api checks, the subset of it that the document promises, so generated clients do not
//! send what would be a 422. [`super::conventions`] writes them into the schemas; the
//! tests hold the time patterns to the api's own parser.

use utoipa::openapi::RefOr;

/// An RFC 3339 timestamp after its four-digit year, as far as the api always accepts it
/// (days 01–28, so every match is a real date; offsets up to ±13:59; the api takes any
/// valid RFC 3339 timestamp).
macro_rules! timestamp_after_year {
    () => {
        "-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,6})?(?:Z|[+-](?:0[0-9]|1[0-3]):[0-5][0-9])"
    };
}

/// `expires_at`: the RFC 3339 timestamps the api always accepts.
pub(super) const TIMESTAMP: &str = concat!("^[1-9][0-9]{3}", timestamp_after_year!(), "$");

/// `X-Deliver-At`: the RFC 3339 timestamps the api accepts whenever it is asked, that is,
/// those no more than `MAX_DELIVERY_DELAY` after `built` (the moment the document is
/// made): years up to the one before `built` + 29 days, so even the latest local time of
/// that year at the most negative offset (-13:59) is less than 30 days after `built`. A
/// time that is past by the time it is sent means now, so the set only grows safer as
/// time goes on. Later timestamps up to 30 days ahead are accepted too; no pattern can say
/// "30 days from now".
pub(super) fn deliver_at_pattern(built: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Datelike as _;
    let last_year = (built + chrono::TimeDelta::days(29)).year() - 1;
    let last_year = u32::try_from(last_year.clamp(1000, 9999)).unwrap_or(1000);
    format!(
        "^(?:{}){}$",
        four_digits_up_to(last_year),
        timestamp_after_year!()
    )
}

/// A regex alternation of the four-digit numbers 1000..=`max` (`max` in 1000..=9999):
/// for each position, `max`'s digits before it, a smaller digit there, anything after;
/// and `max` itself.
fn four_digits_up_to(max: u32) -> String {
    let digits: Vec<u32> = max
        .to_string()
        .chars()
        .filter_map(|c| c.to_digit(10))
        .collect();
    let mut alternatives = Vec::new();
    for (position, &digit) in digits.iter().enumerate() {
        let lowest = u32::from(position == 0);
        if digit > lowest {
            let prefix: String = digits[..position].iter().map(u32::to_string).collect();
            let here = if digit - 1 == lowest {
                lowest.to_string()
            } else {
                format!("[{lowest}-{}]", digit - 1)
            };
            let rest = match digits.len() - position - 1 {
                0 => String::new(),
                n => format!("[0-9]{{{n}}}"),
            };
            alternatives.push(format!("{prefix}{here}{rest}"));
        }
    }
    alternatives.push(max.to_string());
    alternatives.join("|")
}

/// What every stored string excludes: U+0000, which Postgres `text` cannot hold.
pub(super) const NO_NUL: &str = "^[^\\u0000]*$";

/// `target_url`: an `http` or `https` URL with a host whose last label starts with a letter
/// (or any path, query and fragment). WHATWG URL parsing (`shared::targets`) accepts more
/// (IP literals, user info, IDN hosts); this is the subset the document promises.
pub(super) const TARGET_URL: &str = "^[ \\t\\n\\r\\f\\v]*[Hh][Tt][Tt][Pp][Ss]?://(?:[A-Za-z0-9_-]+\\.)*[A-Za-z][A-Za-z0-9_-]*(?::[0-9]{1,4})?(?:[ \\t\\n\\r\\f\\v]*|[/?#][^\\u0000]*)$";

/// `secret`: anything without NUL that does not start with `whsec_`, or `whsec_` and a
/// non-empty key in standard, padded, canonical base64 (`signing::validate_secret`).
pub(super) const SECRET: &str = "^(?:whsec_(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)|(?!whsec_)[^\\u0000]+)$";

/// Sets a string property's length bounds and pattern.
pub(super) fn constrain(
    object: &mut utoipa::openapi::schema::Object,
    field: &str,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: &str,
) {
    if let Some(RefOr::T(utoipa::openapi::Schema::Object(property))) =
        object.properties.get_mut(field)
    {
        property.min_length = min_length;
        property.max_length = max_length;
        property.pattern = Some(pattern.to_owned());
    }
}

/// An HTTP token that is none of the reserved names, in any case: negative lookaheads
/// built from `subscriptions::headers`' own list.
fn header_name_pattern() -> String {
    use hookrelay_domain::subscriptions::headers::{RESERVED, RESERVED_PREFIX};
    let any_case = |name: &str| -> String {
        name.chars()
            .map(|c| match c {
                c if c.is_ascii_alphabetic() => {
                    format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                }
                c => c.to_string(),
            })
            .collect()
    };
    let reserved: Vec<String> = RESERVED.iter().map(|name| any_case(name)).collect();
    format!(
        "^(?!(?:{})$)(?!{})[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
        reserved.join("|"),
        any_case(RESERVED_PREFIX)
    )
}

/// A tenant's `metadata`: at most 64 string labels, without NUL in names or values.
pub(super) fn labels_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    let text = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(NO_NUL))
    };
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(text()))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(text().into()))))
        .max_properties(Some(hookrelay_domain::tenants::MAX_METADATA_ENTRIES))
        .into()
}

/// A custom header's name (an HTTP token) and value (visible ASCII, inner spaces and tabs,
/// nothing at either end), as `subscriptions::headers` checks them.
pub(super) fn custom_headers_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .pattern(Some(header_name_pattern()));
    let value = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^(?:[!-~](?:[!-~ \\t]*[!-~])?)?$"));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(name))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(value.into()))))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        regex_lite::Regex::new(pattern)
            .expect("a valid pattern")
            .is_match(text)
    }

    #[test]
    fn four_digit_bounds_match_exactly_the_numbers_up_to_the_bound() {
        for max in [1000, 1009, 1999, 2000, 2025, 2026, 2099, 2100, 2909, 9999] {
            let pattern = format!("^(?:{})$", four_digits_up_to(max));
            for n in 1000..=9999 {
                assert_eq!(
                    matches(&pattern, &n.to_string()),
                    n <= max,
                    "{n} against {pattern}"
                );
            }
            assert!(!matches(&pattern, "0999"));
        }
    }

    #[test]
    fn every_deliver_at_the_pattern_allows_is_accepted_from_the_moment_it_was_made() {
        use chrono::{TimeDelta, Utc};
        let parse = |s: &str| hookrelay_shared::time::parse(s).expect("a time");
        for built in [
            "2026-12-02T14:00:00Z",
            "2026-12-03T00:00:00Z",
            "2026-12-31T23:59:59Z",
            "2027-01-01T00:00:00Z",
            "2026-06-15T12:00:00Z",
        ] {
            let built = parse(built);
            let pattern = deliver_at_pattern(built);
            for year in 2020..2030 {
                // The latest instant of the year the pattern can name, and the earliest.
                for text in [
                    format!("{year}-12-28T23:59:59.999999-13:59"),
                    format!("\t{year}-01-01T00:00:00+13:59 "),
                ] {
                    if matches(&pattern, &text) {
                        for later in [TimeDelta::zero(), TimeDelta::days(400)] {
                            let accepted = hookrelay_domain::webhooks::ingest::parse_deliver_at(
                                text.as_bytes(),
                                built + later,
                            );
                            assert!(accepted.is_ok(), "{text} built {built}: {accepted:?}");
                        }
                    }
                }
            }
            let last_year = format!(
                "{}-06-01T00:00:00Z",
                built
                    .format("%Y")
                    .to_string()
                    .parse::<i32>()
                    .expect("a year")
                    - 1
            );
            assert!(
                matches(&pattern, &last_year),
                "{last_year} against {pattern}"
            );
        }
        assert!(matches(
            &deliver_at_pattern(Utc::now()),
            "2000-01-01T00:00:00Z"
        ));
        assert!(!matches(
            &deliver_at_pattern(Utc::now()),
            "2000-01-01 00:00:00Z"
        ));
        assert!(!matches(
            &deliver_at_pattern(Utc::now()),
            "9999-01-01T00:00:00Z"
        ));
    }
}
