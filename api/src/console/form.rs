//! Console forms as the JSON bodies the API parses: each page lists its fields and their
//! [`Kind`], and the result goes through the same `parse_*` function as the JSON route, so
//! a bad value gets the same message in both.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures::future::LocalBoxFuture;
use serde_json::{Map, Value};

use super::Failure;
use super::session::CSRF_FIELD;
use crate::error::ApiError;

/// How a form field becomes JSON. An empty field is left out (the API's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// A number when it reads as one, else the text (which the API then refuses, naming
    /// the field).
    Integer,
    /// Comma- or line-separated values, as a list of strings.
    List,
    /// `true` / `false` (a select), or a checkbox's `on`.
    Bool,
    /// JSON text (headers, metadata, verification), else the text as a string.
    Json,
}

/// A submitted form's fields (the CSRF token left out), in order.
#[derive(Debug, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The fields named in `spec`, as a JSON object for the API's parsers (a new
    /// resource: empty fields are left out, so they take the API's defaults).
    pub fn to_json(&self, spec: &[(&str, Kind)]) -> Map<String, Value> {
        self.json(spec, false)
    }

    /// Like [`Fields::to_json`], for an edit form (a PATCH): every field in `spec` is
    /// sent, an empty one as `null` (cleared).
    pub fn changes(&self, spec: &[(&str, Kind)]) -> Map<String, Value> {
        self.json(spec, true)
    }

    fn json(&self, spec: &[(&str, Kind)], empty_is_null: bool) -> Map<String, Value> {
        let mut body = Map::new();
        for (name, kind) in spec {
            let Some(raw) = self.get(name) else {
                if empty_is_null {
                    body.insert((*name).to_owned(), Value::Null);
                }
                continue;
            };
            let value = match kind {
                Kind::Text => Value::String(raw.to_owned()),
                Kind::Integer => raw
                    .parse::<i64>()
                    .map_or_else(|_| Value::String(raw.to_owned()), Value::from),
                // Every field of that name (checkboxes), each split too.
                Kind::List => Value::Array(
                    self.0
                        .iter()
                        .filter(|(n, _)| n == name)
                        .flat_map(|(_, v)| v.split([',', '\n']))
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| Value::String(s.to_owned()))
                        .collect(),
                ),
                Kind::Bool => match raw {
                    "true" | "on" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    other => Value::String(other.to_owned()),
                },
                Kind::Json => {
                    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
                }
            };
            body.insert((*name).to_owned(), value);
        }
        body
    }
}

impl FromRequest for Fields {
    type Error = Failure;
    type Future = LocalBoxFuture<'static, Result<Self, Failure>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let form = web::Form::<Vec<(String, String)>>::from_request(req, payload);
        Box::pin(async move {
            let web::Form(fields) = form
                .await
                .map_err(|_| ApiError::BadRequest("The form could not be read."))?;
            Ok(Self(
                fields
                    .into_iter()
                    .filter(|(n, _)| n != CSRF_FIELD)
                    .collect(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_become_the_json_the_api_parses() {
        let fields = Fields(vec![
            ("target_url".into(), " https://example.com/hook ".into()),
            (
                "events".into(),
                "order.created, order.paid\ninvoice.*".into(),
            ),
            ("timeout_ms".into(), "2500".into()),
            ("rate_limit".into(), "ten".into()),
            ("headers".into(), r#"{"X-Team": "billing"}"#.into()),
            ("description".into(), "  ".into()),
            ("is_active".into(), "false".into()),
            ("events".into(), "refund.*".into()),
        ]);
        let body = fields.to_json(&[
            ("target_url", Kind::Text),
            ("events", Kind::List),
            ("timeout_ms", Kind::Integer),
            ("rate_limit", Kind::Integer),
            ("headers", Kind::Json),
            ("description", Kind::Text),
            ("is_active", Kind::Bool),
            ("name", Kind::Text),
        ]);
        assert_eq!(
            Value::Object(body),
            serde_json::json!({
                "target_url": "https://example.com/hook",
                "events": ["order.created", "order.paid", "invoice.*", "refund.*"],
                "timeout_ms": 2500,
                "rate_limit": "ten",
                "headers": {"X-Team": "billing"},
                "is_active": false,
            })
        );
    }
}
