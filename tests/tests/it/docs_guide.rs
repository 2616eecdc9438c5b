//! The documentation stands on its own: `docs/api.md` has a section for every route of the
//! OpenAPI document the api serves (and none for a route that does not exist), and no
//! Markdown link in `README.md` or `docs/*.md` leads outside the repository — relative links
//! name files that exist inside it (and headings that exist in them), and web links go only
//! to the local examples' `127.0.0.1` / `localhost`.
//!
//! Both read files only: the document comes from `hookrelay_api::openapi::document()`, in
//! process, with no database.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// The repository's root: the tests crate is `tests/` inside it.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits inside the repository")
        .canonicalize()
        .expect("the repository root exists")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The HTTP methods an OpenAPI path item can hold.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every `METHOD /path` of the OpenAPI document.
fn documented_routes() -> BTreeSet<String> {
    let doc = serde_json::to_value(hookrelay_api::openapi::document()).expect("serialises");
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut routes = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS {
            if item.get(method).is_some_and(|op| op.is_object()) {
                routes.insert(format!("{} {path}", method.to_ascii_uppercase()));
            }
        }
    }
    assert!(
        routes.len() > 40,
        "the document has too few routes: {routes:?}"
    );
    routes
}

/// The lines of a Markdown file outside fenced code blocks, with their line numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    // The open fence: its character and length (a fence closes with at least as many).
    let mut fence: Option<(char, usize)> = None;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = ['`', '~'].into_iter().find_map(|c| {
            let n = trimmed.chars().take_while(|x| *x == c).count();
            (n >= 3).then_some((c, n))
        });
        match (fence, marker) {
            (None, Some(opened)) => fence = Some(opened),
            (Some((open, n)), Some((c, m)))
                if c == open && m >= n && trimmed[m..].trim().is_empty() =>
            {
                fence = None;
            }
            (None, None) => lines.push((i + 1, line)),
            _ => {}
        }
    }
    lines
}

/// The route headings of `docs/api.md`: lines ``### `METHOD /path` ``, each with the line
/// it is on (a route named twice has two).
fn guide_headings(text: &str) -> BTreeMap<String, Vec<usize>> {
    let mut headings: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (line_no, line) in prose_lines(text) {
        let Some(heading) = line.strip_prefix("### `") else {
            continue;
        };
        let Some(route) = heading.trim_end().strip_suffix('`') else {
            continue;
        };
        headings.entry(route.to_owned()).or_default().push(line_no);
    }
    headings
}

#[test]
fn the_api_guide_has_a_section_for_every_route_and_only_for_routes() {
    let guide_path = root().join("docs/api.md");
    let headings = guide_headings(&read(&guide_path));
    let documented = documented_routes();
    let missing: Vec<&String> = documented
        .iter()
        .filter(|r| !headings.contains_key(*r))
        .collect();
    let stale: Vec<String> = headings
        .iter()
        .filter(|(r, _)| !documented.contains(*r))
        .map(|(r, lines)| format!("{r} (line {})", lines[0]))
        .collect();
    let twice: Vec<String> = headings
        .iter()
        .filter(|(_, lines)| lines.len() > 1)
        .map(|(r, lines)| format!("{r} (lines {lines:?})"))
        .collect();
    assert!(
        missing.is_empty() && stale.is_empty() && twice.is_empty(),
        "docs/api.md must have one heading ### `METHOD /path` per route of /openapi.json\n\
         missing (add a section): {missing:#?}\n\
         not a route of the document (remove or rename): {stale:#?}\n\
         more than one section: {twice:#?}"
    );
}

/// Web links that are fine although they leave the repository. Empty: the README and docs
/// link only to the repository's own files and to the examples' local servers. Add an
/// entry here (with a comment saying why) only for a page a reader needs and that the
/// repository cannot hold.
const ALLOWED_EXTERNAL: &[&str] = &[];

/// The link targets of one line of Markdown prose: inline links and images `[..](target)`,
/// reference definitions `[label]: target`, autolinks `<scheme:…>` and bare `http(s)://`
/// URLs. Code spans are left out: commands and paths in them are not links.
fn link_targets(line: &str) -> Vec<String> {
    let prose = without_code_spans(line);
    let mut targets = Vec::new();
    // Reference definitions: `[label]: target` at the start of a line.
    let trimmed = prose.trim_start();
    if trimmed.starts_with('[')
        && let Some(end) = trimmed.find("]:")
        && !trimmed[..end].contains("](")
    {
        let target = trimmed[end + 2..].split_whitespace().next().unwrap_or("");
        if !target.is_empty() {
            targets.push(target.trim_matches(['<', '>']).to_owned());
        }
    }
    // Inline links and images: `](target)` or `](target "title")`, `](<target>)`.
    let mut rest = prose.as_str();
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let target = if let Some(angled) = rest.strip_prefix('<') {
            angled.split('>').next().unwrap_or("")
        } else {
            let end = closing_paren(rest);
            rest[..end].split_whitespace().next().unwrap_or("")
        };
        targets.push(target.to_owned());
    }
    // Autolinks: `<https://…>`, `<mailto:…>`.
    let mut rest = prose.as_str();
    while let Some(at) = rest.find('<') {
        rest = &rest[at + 1..];
        let Some(end) = rest.find('>') else { break };
        let inner = &rest[..end];
        if !inner.contains(char::is_whitespace)
            && ["http://", "https://", "mailto:"]
                .iter()
                .any(|s| inner.starts_with(s))
        {
            targets.push(inner.to_owned());
        }
    }
    // Bare URLs, which GitHub renders as links too (those above are found again here, and
    // dropped below).
    for scheme in ["http://", "https://"] {
        let mut rest = prose.as_str();
        while let Some(at) = rest.find(scheme) {
            let url: String = rest[at..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !"<>()[]`'\"".contains(*c))
                .collect();
            targets.push(url.trim_end_matches(['.', ',', ';', ':']).to_owned());
            rest = &rest[at + scheme.len()..];
        }
    }
    let mut seen = BTreeSet::new();
    targets.retain(|t| seen.insert(t.clone()));
    targets
}

/// Where an inline link's target ends: its closing parenthesis, balancing inner ones.
fn closing_paren(text: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return i,
            ')' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

/// The line with its code spans (`` `…` ``, ``` ``…`` ```) blanked out.
fn without_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].chars().take_while(|c| *c == '`').count();
        let after = &rest[start + ticks..];
        let fence = "`".repeat(ticks);
        match after.find(&fence) {
            Some(end) => {
                out.push(' ');
                rest = &after[end + ticks..];
            }
            None => {
                // An unclosed backtick is literal text.
                out.push_str(&rest[start..start + ticks]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The anchors GitHub gives a Markdown file's headings: lowercased, punctuation dropped
/// (letters, digits, `-` and `_` stay), spaces as `-`, and `-1`, `-2`, … for repeats.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut anchors = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let title = line[hashes..].trim().trim_end_matches('#').trim();
        let slug: String = title
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let count = seen.entry(slug.clone()).or_insert(0);
        let anchor = match *count {
            0 => slug,
            n => format!("{slug}-{n}"),
        };
        *count += 1;
        anchors.insert(anchor);
    }
    anchors
}

/// `target` (relative to `file`) resolved inside `root`, or why it is not acceptable.
fn resolve(root: &Path, file: &Path, target: &str) -> Result<PathBuf, String> {
    let path = target.split('#').next().unwrap_or("");
    let path = path.split('?').next().unwrap_or("");
    if path.starts_with('/') {
        return Err("an absolute path: use a path relative to the file".into());
    }
    let base = file.parent().expect("a file has a directory");
    // Walk the components by hand first, so `../` that climbs out of the repository is
    // named as such even when the place it leads to does not exist.
    let mut depth = base
        .strip_prefix(root)
        .expect("documentation files are inside the repository")
        .components()
        .count();
    for component in Path::new(path).components() {
        match component {
            Component::ParentDir if depth == 0 => {
                return Err("`../` climbs out of the repository".into());
            }
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
    }
    let resolved = base
        .join(path)
        .canonicalize()
        .map_err(|_| "no such file in the repository".to_owned())?;
    if !resolved.starts_with(root) {
        return Err("resolves outside the repository (a symbolic link?)".into());
    }
    Ok(resolved)
}

/// Whether `url` is a web link to the examples' local machine.
fn is_local(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let host = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("")
        .rsplit('@')
        .next()
        .unwrap_or("");
    let host = host.split(':').next().unwrap_or("");
    host == "127.0.0.1" || host == "localhost"
}

#[test]
fn no_link_in_the_readme_or_docs_leads_outside_the_repository() {
    let root = root();
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("read docs/")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    assert!(!docs.is_empty(), "docs/ has Markdown files");
    files.extend(docs);

    let mut broken = Vec::new();
    let mut external = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = read(file);
        let name = file
            .strip_prefix(&root)
            .expect("inside the repository")
            .display()
            .to_string();
        for (line_no, line) in prose_lines(&text) {
            for target in link_targets(line) {
                checked += 1;
                let at = format!("{name}:{line_no}: {target}");
                if target.starts_with("http://") || target.starts_with("https://") {
                    if !is_local(&target) && !ALLOWED_EXTERNAL.contains(&target.as_str()) {
                        external.push(at);
                    }
                    continue;
                }
                if target.starts_with("mailto:") {
                    continue;
                }
                if target.contains("://") {
                    broken.push(format!("{at}: a link with another scheme"));
                    continue;
                }
                let (path, anchor) = match target.split_once('#') {
                    Some((path, anchor)) => (path, Some(anchor)),
                    None => (target.as_str(), None),
                };
                let linked = if path.is_empty() {
                    file.clone()
                } else {
                    match resolve(&root, file, path) {
                        Ok(linked) => linked,
                        Err(why) => {
                            broken.push(format!("{at}: {why}"));
                            continue;
                        }
                    }
                };
                if let Some(anchor) = anchor
                    && linked.extension().is_some_and(|e| e == "md")
                    && !anchors(&read(&linked)).contains(anchor)
                {
                    broken.push(format!("{at}: no heading has the anchor #{anchor}"));
                }
            }
        }
    }
    assert!(checked > 10, "found too few links to trust the parser");
    assert!(
        broken.is_empty() && external.is_empty(),
        "links in README.md and docs/*.md must stay inside the repository\n\
         broken or leaving the repository: {broken:#?}\n\
         external web links (only 127.0.0.1 and localhost are allowed; a person should \
         decide whether each belongs, and list it in ALLOWED_EXTERNAL if so): {external:#?}"
    );
}

#[test]
fn the_link_reader_finds_what_github_renders_as_links() {
    assert_eq!(
        link_targets("see [ops](docs/operations.md#metrics) and ![x](a.png \"t\")"),
        ["docs/operations.md#metrics", "a.png"]
    );
    assert_eq!(
        link_targets("`[not](a link)` but <https://example.com/x>"),
        ["https://example.com/x"]
    );
    assert_eq!(link_targets("[ref]: ../up.md"), ["../up.md"]);
    assert_eq!(
        link_targets("run `curl http://example.com/`"),
        Vec::<String>::new()
    );
    assert!(is_local("http://127.0.0.1:8080/docs"));
    assert!(is_local("http://localhost/"));
    assert!(!is_local("https://rustup.rs"));
    assert!(!is_local("http://127.0.0.1.example.com/"));
    assert!(
        anchors("# A\n## Metrics to alert on\n### `GET /subscriptions/{id}`\n## A\n").is_superset(
            &BTreeSet::from([
                "metrics-to-alert-on".to_owned(),
                "get-subscriptionsid".to_owned(),
                "a-1".to_owned(),
            ])
        )
    );
    let root = root();
    let readme = root.join("README.md");
    assert!(resolve(&root, &readme, "../shared/CONTRACT.md").is_err());
    assert!(resolve(&root, &root.join("docs/api.md"), "../README.md").is_ok());
}
