//! The console's static files, compiled into the binary: htmx (2.0.11, the `htmx.org`
//! package's minified file, 0BSD licence in `api/assets/htmx-LICENSE.txt`), the stylesheet
//! and the one script. Each is served under its content hash, so a new build's files are
//! new URLs and browsers may cache them for a year.

use std::sync::OnceLock;

use actix_web::{HttpRequest, HttpResponse, http::header};
use sha2::{Digest, Sha256};

use super::paths;

pub struct Asset {
    pub name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    /// The first 16 hex digits of the SHA-256 of `bytes`, computed on first use.
    hash: OnceLock<String>,
}

macro_rules! asset {
    ($name:literal, $file:literal, $type:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $file)),
            hash: OnceLock::new(),
        }
    };
}

pub static HTMX: Asset = asset!("htmx.min.js", "htmx-2.0.11.min.js", "text/javascript");
pub static SCRIPT: Asset = asset!("console.js", "console.js", "text/javascript");
pub static STYLE: Asset = asset!("console.css", "console.css", "text/css");

static ALL: [&Asset; 3] = [&HTMX, &SCRIPT, &STYLE];

impl Asset {
    fn hash(&self) -> &str {
        self.hash
            .get_or_init(|| hex::encode(Sha256::digest(self.bytes))[..16].to_owned())
    }

    /// Its URL: changes whenever its content does.
    pub fn url(&self) -> String {
        format!("{}/{}/{}", paths::ASSETS, self.hash(), self.name)
    }
}

/// `GET /console/assets/{hash}/{name}`: long-cached when the hash is current, otherwise
/// served fresh (a page from an older build).
pub async fn serve(req: HttpRequest) -> HttpResponse {
    let name = req.match_info().get("name").unwrap_or_default();
    let hash = req.match_info().get("hash").unwrap_or_default();
    let Some(asset) = ALL.iter().find(|a| a.name == name) else {
        return HttpResponse::NotFound().finish();
    };
    let cache = if asset.hash() == hash {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::CACHE_CONTROL, cache))
        .body(asset.bytes)
}
