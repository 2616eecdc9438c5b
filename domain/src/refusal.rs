//! How a domain function says no: one [`Refusal`] for every domain, which the api maps to
//! its HTTP answer in one place (`api/src/error.rs`), and the [`FieldError`]s of a 422.
//!
//! Which refusal goes where: input parsers answer `Invalid` with every bad field at once;
//! a resource out of the caller's reach or gone is `NotFound` (never `Forbidden`, which
//! would confirm it exists); a change the resource's state does not allow is `Conflict`;
//! `Forbidden` is for what the caller's key may not do; `Unavailable` and `Internal`
//! carry their cause, which the front end logs and never shows.

use serde::Serialize;

/// One entry of a 422 body: `{"loc": ["body", "target_url"], "msg": "...", "type": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Starts with `path`, `query`, `header` or `body`; then field names and list indexes.
    #[schema(value_type = Vec<LocPart>)]
    pub loc: Vec<serde_json::Value>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// One part of a `loc`, as the OpenAPI document describes it: a name (`"body"`,
/// `"target_url"`) or a list index (`["body", "events", 0]`).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum LocPart {
    Name(String),
    Index(u64),
}

impl FieldError {
    pub fn new(loc: &[&str], msg: impl Into<String>, kind: &str) -> Self {
        Self {
            loc: loc.iter().map(|s| serde_json::Value::from(*s)).collect(),
            msg: msg.into(),
            kind: kind.to_owned(),
        }
    }

    /// Appends a list index or map key to `loc`.
    pub fn at(mut self, part: impl Into<serde_json::Value>) -> Self {
        self.loc.push(part.into());
        self
    }
}

/// Why a domain function did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The input: every bad field (422).
    #[error("request validation failed")]
    Invalid(Vec<FieldError>),
    /// No such resource in the caller's reach (404).
    #[error("{0}")]
    NotFound(&'static str),
    /// The resource's state does not allow the change (409).
    #[error("{0}")]
    Conflict(&'static str),
    /// The caller's key may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// A dependency did not answer in time (503); the cause is logged, not shown.
    #[error("{detail}")]
    Unavailable {
        detail: &'static str,
        #[source]
        cause: anyhow::Error,
    },
    /// Anything else (500); the cause is logged, not shown.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl Refusal {
    pub fn unavailable(detail: &'static str, cause: impl Into<anyhow::Error>) -> Self {
        Self::Unavailable {
            detail,
            cause: cause.into(),
        }
    }
}

impl From<Vec<FieldError>> for Refusal {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Invalid(errors)
    }
}
