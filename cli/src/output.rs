//! What a command prints: an aligned table (colour on a terminal unless `NO_COLOR` is set)
//! or, with `--output json`, the API's JSON as it came.

use std::borrow::Cow;
use std::io::IsTerminal as _;

use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table, presets};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// One column of a list: its header and where its value sits in each row (RFC 6901).
pub struct Column {
    pub header: Cow<'static, str>,
    pub pointer: Cow<'static, str>,
}

pub const fn col(header: &'static str, pointer: &'static str) -> Column {
    Column {
        header: Cow::Borrowed(header),
        pointer: Cow::Borrowed(pointer),
    }
}

impl Column {
    /// A column for a field of the rows, named after it.
    pub fn field(name: &str) -> Self {
        Self {
            header: Cow::Owned(name.to_uppercase()),
            pointer: Cow::Owned(format!("/{name}")),
        }
    }
}

pub struct Out {
    pub format: Format,
    color: bool,
}

impl Out {
    pub fn new(format: Format) -> Self {
        let color = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Self { format, color }
    }

    fn table(&self) -> Table {
        let mut table = Table::new();
        table
            .load_preset(presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled);
        if self.color {
            table.enforce_styling();
        } else {
            table.force_no_tty();
        }
        table
    }

    fn cell(&self, text: String) -> Cell {
        let cell = Cell::new(&text);
        if !self.color {
            return cell;
        }
        match text.as_str() {
            "delivered" | "succeeded" | "Success" | "done" | "active" => cell.fg(Color::Green),
            "failed" | "Failure" | "inactive" => cell.fg(Color::Red),
            "retrying" | "queued" | "delivering" | "scheduled" | "pending" | "running"
            | "Failed Attempt" | "failing" => cell.fg(Color::Yellow),
            _ => cell,
        }
    }

    /// A list of rows under `columns`; JSON prints the list itself.
    pub fn list(&self, rows: &Value, columns: &[Column]) {
        if self.format == Format::Json {
            return self.json(rows);
        }
        let rows = rows.as_array().map(Vec::as_slice).unwrap_or_default();
        if rows.is_empty() {
            println!("(none)");
            return;
        }
        let mut table = self.table();
        table.set_header(columns.iter().map(|c| {
            let header = Cell::new(&c.header);
            if self.color {
                header.add_attribute(Attribute::Bold)
            } else {
                header
            }
        }));
        for row in rows {
            table.add_row(
                columns
                    .iter()
                    .map(|c| self.cell(text(row.pointer(&c.pointer).unwrap_or(&Value::Null)))),
            );
        }
        println!("{table}");
    }

    /// One object as `field  value` lines (nested values as compact JSON).
    pub fn object(&self, value: &Value) {
        if self.format == Format::Json {
            return self.json(value);
        }
        let Some(fields) = value.as_object() else {
            println!("{}", text(value));
            return;
        };
        let mut table = self.table();
        for (name, value) in fields {
            let name = Cell::new(name);
            let name = if self.color {
                name.add_attribute(Attribute::Bold)
            } else {
                name
            };
            table.add_row(vec![name, self.cell(text(value))]);
        }
        println!("{table}");
    }

    pub fn json(&self, value: &Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
        );
    }

    /// A one-line confirmation (table mode); JSON prints `value`.
    pub fn done(&self, message: &str, value: &Value) {
        match self.format {
            Format::Json => self.json(value),
            Format::Table => println!("{message}"),
        }
    }
}

/// A JSON value as a table cell: strings bare, `null` as `-`, lists joined.
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_read_plainly() {
        assert_eq!(text(&json!(null)), "-");
        assert_eq!(text(&json!("order.created")), "order.created");
        assert_eq!(text(&json!(["a.*", "b"])), "a.*,b");
        assert_eq!(text(&json!(3)), "3");
        assert_eq!(text(&json!({"k": 1})), r#"{"k":1}"#);
    }
}
