//! What every page's template shares: the layout's context ([`Ctx`]), paging, and how
//! times and errors are shown.

use actix_web::HttpRequest;
use chrono::{DateTime, Utc};

use super::session::Viewer;
use super::{assets, paths};
use crate::auth::Need;
use crate::error::ApiError;
use hookrelay_domain::FieldError;
use hookrelay_domain::api_keys::Permission::Read;

/// One link of the navigation.
pub struct NavItem {
    pub label: &'static str,
    pub href: &'static str,
    pub current: bool,
}

/// The layout's context: who is signed in, where they are, the assets' URLs.
pub struct Ctx {
    pub viewer: Viewer,
    pub title: String,
    pub nav: Vec<NavItem>,
    pub htmx: String,
    pub script: String,
    pub style: String,
    /// A notice to show once (after a redirect: `?done=…`).
    pub notice: Option<String>,
}

impl Ctx {
    pub fn new(
        viewer: Viewer,
        req: &HttpRequest,
        here: &'static str,
        title: impl Into<String>,
    ) -> Self {
        let sections: [(&'static str, &'static str, Need); 9] = [
            ("Overview", paths::ROOT, Need::Permission(Read)),
            (
                "Subscriptions",
                paths::SUBSCRIPTIONS,
                Need::Permission(Read),
            ),
            ("Webhooks", paths::WEBHOOKS, Need::Permission(Read)),
            ("Replays", paths::REPLAYS, Need::Permission(Read)),
            ("Schedules", paths::SCHEDULES, Need::Permission(Read)),
            ("Sources", paths::SOURCES, Need::Permission(Read)),
            ("Dead letters", paths::DEAD_LETTERS, Need::AllTenants(Read)),
            ("Tenants", paths::TENANTS, Need::Admin),
            ("API keys", paths::KEYS, Need::Permission(Read)),
        ];
        let nav = sections
            .into_iter()
            .filter(|(_, _, need)| viewer.may(*need))
            .map(|(label, href, _)| NavItem {
                label,
                href,
                current: href == here,
            })
            .collect();
        Self {
            viewer,
            title: title.into(),
            nav,
            htmx: assets::HTMX.url(),
            script: assets::SCRIPT.url(),
            style: assets::STYLE.url(),
            notice: query(req, "done"),
        }
    }

    pub fn sign_out(&self) -> &'static str {
        paths::SIGN_OUT
    }

    /// Who is signed in, in words: `admin`, or the reach and permissions of the key.
    pub fn who(&self) -> String {
        if self.viewer.is_admin() {
            return "admin".to_owned();
        }
        let p = &self.viewer.principal;
        let reach = match p.tenant() {
            Some(tenant) => format!("tenant {}", &tenant.simple().to_string()[..8]),
            None => "all tenants".to_owned(),
        };
        let permissions: Vec<&str> = p.permissions.iter().map(|p| p.as_str()).collect();
        format!("{reach} · {}", permissions.join(", "))
    }
}

/// A query parameter, if present and not empty.
pub fn query(req: &HttpRequest, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, v)| k == name && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_owned())
}

/// `to` with `?done=<notice>`: the next page shows the notice once.
pub fn with_notice(to: &str, notice: &str) -> String {
    let sep = if to.contains('?') { '&' } else { '?' };
    format!(
        "{to}{sep}done={}",
        url::form_urlencoded::byte_serialize(notice.as_bytes()).collect::<String>()
    )
}

/// A time as the console shows it: the UTC value in the markup and on hover; the script
/// rewrites the text into the browser's zone.
pub fn time(t: &DateTime<Utc>) -> String {
    let utc = t.format("%Y-%m-%d %H:%M:%S UTC");
    format!(
        r#"<time datetime="{}" title="{utc}">{utc}</time>"#,
        hookrelay_shared::time::format(t)
    )
}

/// An optional time; `—` when absent.
pub fn maybe_time(t: &Option<DateTime<Utc>>) -> String {
    t.as_ref().map_or_else(|| "—".to_owned(), time)
}

/// A field error as a sentence: `body.target_url: Input should be a valid URL`.
pub fn field_error(e: &FieldError) -> String {
    let loc: Vec<String> = e
        .loc
        .iter()
        .skip(1)
        .map(|part| {
            part.as_str()
                .map_or_else(|| part.to_string(), str::to_owned)
        })
        .collect();
    if loc.is_empty() {
        e.msg.clone()
    } else {
        format!("{}: {}", loc.join("."), e.msg)
    }
}

/// A table's window: `skip` and `limit` from the query, links to the pages around it.
pub struct Paging {
    pub skip: i64,
    pub limit: i64,
    pub previous: Option<String>,
    pub next: Option<String>,
}

impl Paging {
    /// Reads `skip`/`limit` (the API's own bounds). Load `limit + 1` rows and pass how many
    /// came to [`Paging::seen`], which trims the extra one.
    pub fn from(req: &HttpRequest, default_limit: i64) -> Result<Self, ApiError> {
        let skip = crate::extract::query_int(req, "skip", 0, 0..=i64::MAX)
            .map_err(|e| ApiError::Validation(vec![e]))?;
        let limit = crate::extract::query_int(req, "limit", default_limit, 1..=200)
            .map_err(|e| ApiError::Validation(vec![e]))?;
        Ok(Self {
            skip,
            limit,
            previous: None,
            next: None,
        })
    }

    /// Rows to ask for: one more than shown, to know whether there is a next page.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Keeps at most `limit` rows and sets the links, keeping the rest of the query.
    pub fn seen<T>(&mut self, req: &HttpRequest, rows: &mut Vec<T>) {
        let more = rows.len() > usize::try_from(self.limit).unwrap_or(usize::MAX);
        rows.truncate(usize::try_from(self.limit).unwrap_or(usize::MAX));
        let link = |skip: i64| {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
                if k != "skip" && k != "done" {
                    query.append_pair(&k, &v);
                }
            }
            query.append_pair("skip", &skip.to_string());
            format!("{}?{}", req.path(), query.finish())
        };
        self.previous = (self.skip > 0).then(|| link((self.skip - self.limit).max(0)));
        self.next = more.then(|| link(self.skip + self.limit));
    }
}
