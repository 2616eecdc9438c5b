//! Every API path the CLI calls, declared once: the route templates, spelled exactly as
//! the api's route table (`api/src/routes.rs`) spells them, each with the methods the CLI
//! sends to it, and one function per path that fills a template in.
//!
//! Why a table: these paths used to be `format!` strings spread over the commands, checked
//! by nothing, and one of them named a route the api does not serve. Now [`routes`] lists
//! every (method, template) pair the CLI can send, for a test beside the api to compare
//! with its own table; [`Path`] can only be made here, so the client cannot be handed a
//! path missing from the list, and it refuses a method the list does not declare for it.
//!
//! Ids are percent-encoded whole (everything but `A-Z a-z 0-9 - . _ ~`), so an id stays one
//! segment whatever it holds: UUIDs, stream ids and tokens pass unchanged, while `/`, `?`,
//! `#` or `%` can no longer move a request to another path or into the query.

use std::fmt::Write as _;

/// One route the CLI calls: its template as the api's route table spells it, and the
/// methods the CLI sends to it.
#[derive(Debug, PartialEq, Eq)]
pub struct Route {
    pub template: &'static str,
    pub methods: &'static [&'static str],
}

/// Each line `name(params) = "template" [METHODS];` declares the route and `pub fn name`,
/// which fills the template's placeholders, in order, with its `&str` parameters (named as
/// the api names the placeholders; a test holds them to it). `TABLE` lists every route, so
/// none can be declared without being listed.
macro_rules! routes {
    ($($(#[$doc:meta])* $name:ident($($param:ident),*) = $template:literal [$($method:ident),+];)+) => {
        $($(#[$doc])*
        pub fn $name($($param: &str),*) -> Path {
            const ROUTE: Route = Route { template: $template, methods: &[$(stringify!($method)),+] };
            fill(&ROUTE, &[$($param),*])
        })+

        /// Every route the CLI calls, in the order of the declarations.
        const TABLE: &[Route] = &[$(Route { template: $template, methods: &[$(stringify!($method)),+] }),+];

        /// Each template with its function's parameter names.
        #[cfg(test)]
        const PARAMETERS: &[(&str, &[&str])] = &[$(($template, &[$(stringify!($param)),*])),+];
    };
}

routes! {
    /// `subscriptions create`, `subscriptions list`.
    subscriptions() = "/subscriptions" [POST, GET];
    /// `subscriptions get`, `update`, `delete`.
    subscription(subscription_id) = "/subscriptions/{subscription_id}" [GET, PATCH, DELETE];
    /// `subscriptions rotate-secret`.
    subscription_secret_rotate(subscription_id) = "/subscriptions/{subscription_id}/secret/rotate" [POST];
    subscription_test(subscription_id) = "/subscriptions/{subscription_id}/test" [POST];
    /// `ingest`: fan-out by event type.
    ingest() = "/ingest" [POST];
    /// `ingest --subscription`: to that subscription only.
    ingest_to(subscription_id) = "/ingest/{subscription_id}" [POST];
    status(webhook_id) = "/status/{webhook_id}" [GET];
    /// `webhooks list` and `tail`.
    webhooks() = "/webhooks" [GET];
    /// `replay`.
    webhook_replay(webhook_id) = "/webhooks/{webhook_id}/replay" [POST];
    replays() = "/replays" [POST, GET];
    /// `replays get` (and `--wait`'s polling), `replays cancel`.
    replay(replay_id) = "/replays/{replay_id}" [GET, DELETE];
    tenants() = "/tenants" [POST, GET];
    tenant(tenant_id) = "/tenants/{tenant_id}" [GET, PATCH, DELETE];
    /// `keys create`, `keys list`.
    api_keys() = "/api-keys" [POST, GET];
    api_key(api_key_id) = "/api-keys/{api_key_id}" [GET, DELETE];
    schedules() = "/schedules" [POST, GET];
    schedule(schedule_id) = "/schedules/{schedule_id}" [GET, PATCH, DELETE];
    /// `schedules do <id> pause`, and likewise `resume` and `trigger`.
    schedule_pause(schedule_id) = "/schedules/{schedule_id}/pause" [POST];
    schedule_resume(schedule_id) = "/schedules/{schedule_id}/resume" [POST];
    schedule_trigger(schedule_id) = "/schedules/{schedule_id}/trigger" [POST];
    /// `schedules log`.
    schedule_runs(schedule_id) = "/schedules/{schedule_id}/runs" [GET];
    sources() = "/sources" [POST, GET];
    source(source_id) = "/sources/{source_id}" [GET, PATCH, DELETE];
    /// `sources do <id> rotate-path`.
    source_rotate_path(source_id) = "/sources/{source_id}/rotate-path" [POST];
    /// `sources log`.
    source_rejections(source_id) = "/sources/{source_id}/rejections" [GET];
    dead_letters() = "/dead-letters" [GET];
    dead_letter(dead_letter_id) = "/dead-letters/{dead_letter_id}" [DELETE];
    dead_letter_redrive(dead_letter_id) = "/dead-letters/{dead_letter_id}/redrive" [POST];
}

/// Every (method, template) pair the CLI sends, such as
/// `("GET", "/subscriptions/{subscription_id}")`: for a test to check against the api's
/// route table.
pub fn routes() -> Vec<(&'static str, &'static str)> {
    TABLE
        .iter()
        .flat_map(|route| route.methods.iter().map(|method| (*method, route.template)))
        .collect()
}

/// A path to send, filled in from one of the routes above (only this module makes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    route: &'static Route,
    filled: String,
}

impl Path {
    pub fn as_str(&self) -> &str {
        &self.filled
    }

    /// The template it was filled from, as the api's route table spells it.
    pub fn template(&self) -> &'static str {
        self.route.template
    }

    /// Whether the table declares `method` (such as `"GET"`) for this path's route.
    pub fn allows(&self, method: &str) -> bool {
        self.route.methods.contains(&method)
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.filled)
    }
}

/// `route`'s template with each `{name}` segment replaced, in order, by the next of `ids`,
/// percent-encoded. (The functions above pass one id per placeholder.)
fn fill(route: &'static Route, ids: &[&str]) -> Path {
    let mut ids = ids.iter();
    let filled = route
        .template
        .split('/')
        .map(|segment| {
            let id = segment.starts_with('{').then(|| ids.next()).flatten();
            id.map_or_else(|| segment.to_owned(), |id| encode(id))
        })
        .collect::<Vec<_>>()
        .join("/");
    Path { route, filled }
}

/// `id` as one path segment: RFC 3986's unreserved characters as they are, every other
/// byte as `%XX`.
fn encode(id: &str) -> String {
    let mut encoded = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const ID: &str = "7eababaf-d348-4967-a6cb-a87d6fdcf4a1";
    const ENTRY: &str = "1732288642551-0";

    /// Every path function, and what it must give (`ID` standing for [`ID`]).
    fn every_path() -> Vec<(Path, &'static str)> {
        vec![
            (subscriptions(), "/subscriptions"),
            (subscription(ID), "/subscriptions/ID"),
            (
                subscription_secret_rotate(ID),
                "/subscriptions/ID/secret/rotate",
            ),
            (subscription_test(ID), "/subscriptions/ID/test"),
            (ingest(), "/ingest"),
            (ingest_to(ID), "/ingest/ID"),
            (status(ID), "/status/ID"),
            (webhooks(), "/webhooks"),
            (webhook_replay(ID), "/webhooks/ID/replay"),
            (replays(), "/replays"),
            (replay(ID), "/replays/ID"),
            (tenants(), "/tenants"),
            (tenant(ID), "/tenants/ID"),
            (api_keys(), "/api-keys"),
            (api_key(ID), "/api-keys/ID"),
            (schedules(), "/schedules"),
            (schedule(ID), "/schedules/ID"),
            (schedule_pause(ID), "/schedules/ID/pause"),
            (schedule_resume(ID), "/schedules/ID/resume"),
            (schedule_trigger(ID), "/schedules/ID/trigger"),
            (schedule_runs(ID), "/schedules/ID/runs"),
            (sources(), "/sources"),
            (source(ID), "/sources/ID"),
            (source_rotate_path(ID), "/sources/ID/rotate-path"),
            (source_rejections(ID), "/sources/ID/rejections"),
            (dead_letters(), "/dead-letters"),
            (dead_letter(ENTRY), "/dead-letters/1732288642551-0"),
            (
                dead_letter_redrive(ENTRY),
                "/dead-letters/1732288642551-0/redrive",
            ),
        ]
    }

    #[test]
    fn every_template_is_filled_in_full() {
        let paths = every_path();
        for (path, expected) in &paths {
            assert_eq!(
                path.as_str(),
                expected.replace("ID", ID),
                "{}",
                path.template()
            );
            assert!(!path.as_str().contains(['{', '}']), "{path}");
        }
        let filled: BTreeSet<_> = paths.iter().map(|(p, _)| p.template()).collect();
        let declared: BTreeSet<_> = TABLE.iter().map(|r| r.template).collect();
        assert_eq!(filled, declared, "every route is tested above");
        assert_eq!(declared.len(), TABLE.len(), "a template declared twice");
    }

    #[test]
    fn parameters_are_named_as_the_templates_placeholders() {
        for (template, parameters) in PARAMETERS {
            let placeholders: Vec<&str> = template
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            assert_eq!(&placeholders, parameters, "{template}");
        }
    }

    #[test]
    fn routes_are_method_and_template_pairs_in_the_apis_spelling() {
        let routes = routes();
        assert!(routes.contains(&("GET", "/subscriptions/{subscription_id}")));
        assert!(routes.contains(&("POST", "/dead-letters/{dead_letter_id}/redrive")));
        assert_eq!(
            routes.len(),
            TABLE.iter().map(|r| r.methods.len()).sum::<usize>()
        );
        for (method, template) in routes {
            assert!(
                ["GET", "POST", "PATCH", "DELETE"].contains(&method),
                "{method} {template}"
            );
            // `/name`, `/{name_id}` segments: lowercase, no trailing slash, no regex.
            assert!(
                template.starts_with('/') && !template.ends_with('/'),
                "{template}"
            );
            for segment in template.split('/').skip(1) {
                let literal = segment.trim_start_matches('{').trim_end_matches('}');
                assert!(
                    !literal.is_empty()
                        && literal
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-'),
                    "{template}: {segment:?}"
                );
            }
        }
    }

    #[test]
    fn uuids_stream_ids_and_tokens_pass_unchanged() {
        for id in [
            ID,
            "7EABABAFD3484967A6CBA87D6FDCF4A1",
            ENTRY,
            "hrk_Ab-9_x~y.z",
        ] {
            assert_eq!(subscription(id).as_str(), format!("/subscriptions/{id}"));
        }
    }

    #[test]
    fn any_other_byte_of_an_id_is_percent_encoded() {
        assert_eq!(tenant("a/b?c#d").as_str(), "/tenants/a%2Fb%3Fc%23d");
        assert_eq!(subscription("x%2Fy").as_str(), "/subscriptions/x%252Fy");
        assert_eq!(
            status("ü {x}+&=").as_str(),
            "/status/%C3%BC%20%7Bx%7D%2B%26%3D"
        );
        assert_eq!(
            dead_letter_redrive("../..").as_str(),
            "/dead-letters/..%2F../redrive"
        );
    }

    #[test]
    fn a_path_allows_only_the_methods_its_route_declares() {
        assert!(subscription(ID).allows("PATCH"));
        assert!(!subscription(ID).allows("POST"));
        assert!(dead_letter(ENTRY).allows("DELETE"));
        assert!(!dead_letter(ENTRY).allows("GET"));
    }
}
