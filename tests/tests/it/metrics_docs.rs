//! `docs/operations.md` documents exactly the series the processes serve: every metric in
//! the api's and the worker's tables (`hookrelay_api::metrics::TABLE`,
//! `hookrelay_worker::metrics::TABLE`) appears there, and every `hookrelay_…` name the doc
//! mentions is in one of them. Reads files and constants only: no services.

use std::collections::{BTreeMap, BTreeSet};

use hookrelay_shared::telemetry::{Kind, Metric};

/// The suffixes Prometheus adds to a histogram's series.
const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

fn tables() -> [(&'static str, &'static [Metric]); 2] {
    [
        ("api", hookrelay_api::metrics::TABLE),
        ("worker", hookrelay_worker::metrics::TABLE),
    ]
}

fn operations_md() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// One `hookrelay_[a-z_]+` name in the doc, and whether it is written as documentation
/// (in backticks, or in a table row) rather than only in passing.
struct Mention {
    name: String,
    documents: bool,
}

/// Every whole `hookrelay_[a-z_]+` word of `text`, except Rust paths (`hookrelay_shared::…`).
fn mentions(text: &str) -> Vec<Mention> {
    let mut found = Vec::new();
    for line in text.lines() {
        let in_table_row = line.trim_start().starts_with('|');
        let mut rest = line;
        while let Some(at) = rest.find("hookrelay_") {
            let before = rest[..at].chars().next_back();
            let tail = &rest[at..];
            let len = tail
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .unwrap_or(tail.len());
            let (name, after) = tail.split_at(len);
            let whole_word = !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && !after.starts_with(|c: char| c.is_ascii_alphanumeric());
            if whole_word && !after.starts_with("::") {
                found.push(Mention {
                    name: name.to_owned(),
                    documents: in_table_row || before == Some('`'),
                });
            }
            rest = after;
        }
    }
    found
}

/// Every name of both tables, with its kind.
fn known() -> BTreeMap<&'static str, Kind> {
    tables()
        .into_iter()
        .flat_map(|(_, table)| table.iter().map(|m| (m.name, m.kind)))
        .collect()
}

/// The table's series that `mention` is: itself, or the histogram it is a bucket, sum
/// or count of.
fn series<'a>(known: &BTreeMap<&'static str, Kind>, mention: &'a str) -> Option<&'a str> {
    if known.contains_key(mention) {
        return Some(mention);
    }
    HISTOGRAM_SUFFIXES
        .iter()
        .filter_map(|suffix| mention.strip_suffix(suffix))
        .find(|base| known.get(base) == Some(&Kind::Histogram))
}

#[test]
fn every_metric_of_both_processes_is_documented_in_operations_md() {
    let doc = operations_md();
    let documented: BTreeSet<String> = mentions(&doc)
        .into_iter()
        .filter(|m| m.documents)
        .map(|m| m.name)
        .collect();
    let missing: Vec<String> = tables()
        .into_iter()
        .flat_map(|(process, table)| table.iter().map(move |m| (process, m)))
        .filter(|(_, m)| !documented.contains(m.name))
        .map(|(process, m)| format!("{} ({process}): {}", m.name, m.help))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/operations.md does not document these metrics (write them as `name` or in \
         the metrics table):\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_metric_operations_md_names_is_in_a_table() {
    let known = known();
    let unknown: BTreeSet<String> = mentions(&operations_md())
        .into_iter()
        .filter(|m| series(&known, &m.name).is_none())
        .map(|m| m.name)
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/operations.md names metrics no process serves (not in hookrelay_api::metrics::TABLE \
         nor hookrelay_worker::metrics::TABLE): {unknown:?}"
    );
}

/// The conventions `Metric::describe` and Prometheus rely on: one kind per name, counters
/// end in `_total`, histograms are seconds.
#[test]
fn the_tables_are_consistent() {
    let mut kinds: BTreeMap<&str, Kind> = BTreeMap::new();
    let mut problems = Vec::new();
    for (process, table) in tables() {
        let mut seen = BTreeSet::new();
        for metric in table {
            if !seen.insert(metric.name) {
                problems.push(format!("{process} lists {} twice", metric.name));
            }
            if *kinds.entry(metric.name).or_insert(metric.kind) != metric.kind {
                problems.push(format!("{} has two kinds", metric.name));
            }
            let suffix = match metric.kind {
                Kind::Counter => "_total",
                Kind::Histogram => "_seconds",
                Kind::Gauge => "",
            };
            if !metric.name.starts_with("hookrelay_") || !metric.name.ends_with(suffix) {
                problems.push(format!("{} should be hookrelay_…{suffix}", metric.name));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn mentions_are_whole_names_outside_rust_paths() {
    let found = mentions(
        "| `hookrelay_a_total{x}` | b |\nsee hookrelay_b_seconds_count, `hookrelay_shared::queue`, xhookrelay_c",
    );
    let found: Vec<(&str, bool)> = found
        .iter()
        .map(|m| (m.name.as_str(), m.documents))
        .collect();
    assert_eq!(
        found,
        [
            ("hookrelay_a_total", true),
            ("hookrelay_b_seconds_count", false)
        ]
    );
}
