//! The one reader every section uses: a variable's text with its default, and the parsers
//! for durations, numbers and switches. Every refusal is `invalid VAR="value": reason`
//! with any URL password masked, so each section only says what it accepts.

use std::time::Duration;

use super::ConfigError;
use super::values::{mask_url_password, parse_duration};

/// The variables one `Config::from_lookup` reads, from whatever source it was given.
pub(super) struct Vars<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
}

/// The error for `var`'s `value`, with the password of a URL in it masked.
pub(super) fn invalid(var: &'static str, value: &str, reason: String) -> ConfigError {
    ConfigError::Invalid {
        var,
        value: mask_url_password(value),
        reason,
    }
}

impl<'a> Vars<'a> {
    pub(super) fn new(get: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { get }
    }

    /// The variable exactly as set, blank included, for the few whose blank value means
    /// something other than the default.
    pub(super) fn raw(&self, name: &'static str) -> Option<String> {
        (self.get)(name)
    }

    /// The variable, or `default` when it is unset or blank.
    pub(super) fn text(&self, name: &'static str, default: &str) -> String {
        self.raw(name)
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_owned())
    }

    /// The variable (or `default`) through `parse`, whose `Err` is the reason shown.
    pub(super) fn parse<T>(
        &self,
        name: &'static str,
        default: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let value = self.text(name, default);
        parse(&value).map_err(|reason| invalid(name, &value, reason))
    }

    /// `None` when the variable is unset or blank, else its value through `parse`.
    pub(super) fn optional<T>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.raw(name).filter(|v| !v.trim().is_empty()) {
            None => Ok(None),
            Some(value) => parse(&value)
                .map(Some)
                .map_err(|reason| invalid(name, &value, reason)),
        }
    }

    /// A duration ([`parse_duration`]); zero allowed.
    pub(super) fn duration(
        &self,
        name: &'static str,
        default: &str,
    ) -> Result<Duration, ConfigError> {
        self.parse(name, default, parse_duration)
    }

    /// A duration longer than zero.
    pub(super) fn positive_duration(
        &self,
        name: &'static str,
        default: &str,
    ) -> Result<Duration, ConfigError> {
        self.parse(name, default, |value| match parse_duration(value) {
            Ok(d) if d.is_zero() => Err("must be longer than zero".into()),
            other => other,
        })
    }

    /// `true` or `false` in any case, default `false`. Only the two words: a switch such
    /// as AUTH_DISABLED must not flip on a value that merely looks truthy.
    pub(super) fn boolean(&self, name: &'static str) -> Result<bool, ConfigError> {
        self.parse(name, "false", |value| {
            match value.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err("expected true or false".into()),
            }
        })
    }

    /// A number; the reason shown is the parser's own.
    pub(super) fn number<T>(&self, name: &'static str, default: &str) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        self.parse(name, default, |value| {
            value.trim().parse::<T>().map_err(|e| e.to_string())
        })
    }

    /// A number that `accept` takes; anything else is refused with `expected`.
    pub(super) fn number_where<T: std::str::FromStr>(
        &self,
        name: &'static str,
        default: &str,
        accept: impl FnOnce(&T) -> bool,
        expected: &str,
    ) -> Result<T, ConfigError> {
        self.parse(name, default, |value| {
            value
                .trim()
                .parse::<T>()
                .ok()
                .filter(accept)
                .ok_or_else(|| expected.to_owned())
        })
    }
}
