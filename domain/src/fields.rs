//! Reading the fields of a JSON object body: every bad field is collected with its `loc`
//! (`["body", <field>, …]`), so a 422 lists them all at once. Unknown fields are ignored.
//! Each resource's input module reads its own fields with these. [`Fields::query`] reads
//! a query string's parameters the same way (`["query", <field>]`).

use crate::webhooks::event_types::validate_filter_entry;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::FieldError;

/// Postgres `text` and `jsonb` cannot hold U+0000, and JSON strings can: every string
/// that is stored is checked for it, so it is a 422 instead of a failed insert (a 500).
pub const NUL_ERROR: (&str, &str) = (
    "String should not contain NUL characters (\\u0000)",
    "string_nul",
);

/// The longest name a tenant or key may have.
pub const MAX_NAME_CHARS: usize = 255;

/// Collects field errors while reading an object.
pub struct Fields<'a> {
    pub body: &'a Map<String, Value>,
    pub errors: Vec<FieldError>,
    /// What each error's `loc` starts with: `["body"]`, `["query"]`, or the path of a
    /// nested object (`["body", "destination"]`).
    location: &'static [&'static str],
}

impl<'a> Fields<'a> {
    pub fn new(body: &'a Map<String, Value>) -> Self {
        Self {
            body,
            errors: Vec::new(),
            location: &["body"],
        }
    }

    /// Query parameters as string fields (see [`query_map`]).
    pub fn query(params: &'a Map<String, Value>) -> Self {
        Self {
            location: &["query"],
            ..Self::new(params)
        }
    }

    /// Fields of an object nested in a body, whose errors' `loc` starts with `location`.
    pub fn nested(body: &'a Map<String, Value>, location: &'static [&'static str]) -> Self {
        Self {
            location,
            ..Self::new(body)
        }
    }

    /// The `loc` of `field`.
    fn loc<'f>(&self, field: &'f str) -> Vec<&'f str>
    where
        'static: 'f,
    {
        let mut loc: Vec<&'f str> = self.location.to_vec();
        loc.push(field);
        loc
    }

    pub fn error(&mut self, field: &str, msg: impl Into<String>, kind: &str) {
        self.errors
            .push(FieldError::new(&self.loc(field), msg, kind));
    }

    /// `Some(value)` when the key is present and not null.
    pub fn present(&self, field: &str) -> Option<&'a Value> {
        self.body.get(field).filter(|v| !v.is_null())
    }

    /// A 422 when `field` is present and null.
    pub fn null(&mut self, field: &str, kind: &str, expected: &str) {
        if self.body.get(field).is_some_and(Value::is_null) {
            self.error(field, format!("Input should be {expected}"), kind);
        }
    }

    /// A 422 when `field` is absent.
    pub fn required(&mut self, field: &str) {
        if !self.body.contains_key(field) {
            self.error(field, "Field required", "missing");
        }
    }

    /// A string field. One with a NUL is refused here even where later parsing would drop
    /// or escape it (the URL parser does both), so no stored field ever silently changes.
    pub fn string(&mut self, field: &str) -> Option<String> {
        match self.present(field)? {
            Value::String(s) if s.contains('\0') => {
                let (msg, kind) = NUL_ERROR;
                self.error(field, msg, kind);
                None
            }
            Value::String(s) => Some(s.clone()),
            _ => {
                self.error(field, "Input should be a valid string", "string_type");
                None
            }
        }
    }

    /// A name: a string of 1..=`MAX_NAME_CHARS` characters.
    pub fn name(&mut self, field: &str) -> Option<String> {
        let name = self.string(field)?;
        let chars = name.chars().count();
        if chars == 0 {
            self.error(
                field,
                "String should have at least 1 character",
                "string_too_short",
            );
            return None;
        }
        if chars > MAX_NAME_CHARS {
            self.error(
                field,
                format!("String should have at most {MAX_NAME_CHARS} characters"),
                "string_too_long",
            );
            return None;
        }
        Some(name)
    }

    pub fn boolean(&mut self, field: &str) -> Option<bool> {
        match self.present(field)? {
            Value::Bool(b) => Some(*b),
            _ => {
                self.error(field, "Input should be a valid boolean", "bool_type");
                None
            }
        }
    }

    /// A whole number within `range`.
    pub fn integer(&mut self, field: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
        let value = self.present(field)?;
        // JSON has one number type: `5.0` is the integer 5, as JSON Schema reads it.
        let whole = value.as_i64().or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        });
        let Some(n) = whole else {
            self.error(field, "Input should be a valid integer", "int_type");
            return None;
        };
        if !range.contains(&n) {
            self.error(
                field,
                format!(
                    "Input should be between {} and {}",
                    range.start(),
                    range.end()
                ),
                "range",
            );
            return None;
        }
        Some(n)
    }

    /// A UUID string, hyphenated or not, any case.
    pub fn uuid(&mut self, field: &str) -> Option<Uuid> {
        let raw = self.string(field)?;
        match Uuid::try_parse(&raw) {
            Ok(id) => Some(id),
            Err(e) => {
                self.error(
                    field,
                    format!("Input should be a valid UUID, {e}"),
                    "uuid_parsing",
                );
                None
            }
        }
    }

    /// A present list of at most `max` items, or an error.
    fn list(&mut self, field: &str, max: usize) -> Option<&'a Vec<Value>> {
        let Value::Array(items) = self.present(field)? else {
            self.error(field, "Input should be a valid list", "list_type");
            return None;
        };
        if items.len() > max {
            self.error(
                field,
                format!("List should have at most {max} items"),
                "too_long",
            );
            return None;
        }
        Some(items)
    }

    /// A list of at most `max` UUIDs (each hyphenated or not, any case); repeats count once.
    pub fn uuid_list(&mut self, field: &str, max: usize) -> Option<Vec<Uuid>> {
        let items = self.list(field, max)?;
        let mut ids = Vec::with_capacity(items.len());
        let before = self.errors.len();
        for (i, item) in items.iter().enumerate() {
            match item.as_str().map(Uuid::try_parse) {
                Some(Ok(id)) if !ids.contains(&id) => ids.push(id),
                Some(Ok(_)) => {}
                _ => self.errors.push(
                    FieldError::new(
                        &["body", field],
                        "Input should be a valid UUID",
                        "uuid_parsing",
                    )
                    .at(i),
                ),
            }
        }
        (self.errors.len() == before).then_some(ids)
    }

    /// An event filter: at most `max` entries, each an event type or a prefix ending in
    /// `*` (as a subscription's `events`).
    pub fn event_filter(&mut self, field: &str, max: usize) -> Option<Vec<String>> {
        let items = self.list(field, max)?;
        let mut entries = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let error = match item {
                Value::String(s) if s.contains('\0') => {
                    FieldError::new(&self.loc(field), NUL_ERROR.0, NUL_ERROR.1)
                }
                Value::String(s) => match validate_filter_entry(s) {
                    Ok(()) => {
                        entries.push(s.clone());
                        continue;
                    }
                    Err(e) => FieldError::new(
                        &self.loc(field),
                        format!("Invalid event type: {e}"),
                        "value_error",
                    ),
                },
                _ => FieldError::new(
                    &self.loc(field),
                    "Input should be a valid string",
                    "string_type",
                ),
            };
            self.errors.push(error.at(i));
        }
        (entries.len() == items.len()).then_some(entries)
    }

    /// An RFC 3339 timestamp with an offset (stored in UTC, to the microsecond).
    pub fn timestamp(&mut self, field: &str) -> Option<DateTime<Utc>> {
        let raw = self.string(field)?;
        match hookrelay_shared::time::parse(&raw) {
            Ok(t) => Some(t),
            Err(e) => {
                self.error(
                    field,
                    format!("Input should be a valid RFC 3339 datetime, {e}"),
                    "datetime_parsing",
                );
                None
            }
        }
    }

    /// An object of string values (at most `max_entries`), stored as JSON.
    pub fn string_map(&mut self, field: &str, max_entries: usize) -> Option<Value> {
        let Value::Object(map) = self.present(field)? else {
            self.error(field, "Input should be a valid dictionary", "dict_type");
            return None;
        };
        if map.len() > max_entries {
            self.error(
                field,
                format!("Dictionary should have at most {max_entries} items"),
                "too_long",
            );
            return None;
        }
        let before = self.errors.len();
        for (key, value) in map {
            let error = match value {
                Value::String(s) if !s.contains('\0') && !key.contains('\0') => continue,
                Value::String(_) => FieldError::new(&["body", field], NUL_ERROR.0, NUL_ERROR.1),
                _ => FieldError::new(
                    &["body", field],
                    "Input should be a valid string",
                    "string_type",
                ),
            };
            self.errors.push(error.at(key.as_str()));
        }
        (self.errors.len() == before).then(|| Value::Object(map.clone()))
    }

    pub fn finish<T>(self, value: T) -> Result<T, Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }
}

/// A query string's parameters as a map of strings (the first of a repeated one), to
/// read with [`Fields::query`].
pub fn query_map(query: &str) -> Map<String, Value> {
    let mut map = Map::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        map.entry(key.into_owned())
            .or_insert_with(|| Value::String(value.into_owned()));
    }
    map
}

/// A JSON object literal as the map a body is read from (for tests).
#[cfg(test)]
pub fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}
