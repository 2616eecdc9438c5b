//! Bearer keys: the admin keys of `API_KEYS`, and stored keys (`hrk_…`) looked up in an
//! in-process cache of the `api_keys` table (`hookrelay_shared::cache`), so
//! authenticating never queries Postgres. A deleted key leaves every api process's cache
//! within about `cache::REFRESH_INTERVAL`; an expired one is refused by its `expires_at`.
//!
//! A stored key is `hrk_` and 43 URL-safe base64 characters (32 random bytes). Its first
//! [`PREFIX_LEN`] characters, unique in the table, are what a presented key is looked up
//! by; the SHA-256 of the whole key is then compared in constant time. Only the digest and
//! the prefix are stored.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderMap};
use chrono::Utc;
use hookrelay_shared::cache::Cache;
use hookrelay_shared::config::AuthConfig;
use subtle::ConstantTimeEq;

use super::{FailureReason, Principal, Reach};
use crate::error::ApiError;
use hookrelay_domain::api_keys::KeyScope;
use hookrelay_domain::api_keys::credential::Credential;
use hookrelay_domain::api_keys::secret::{KEY_LEN, KEY_MARKER, PREFIX_LEN, digest};
use hookrelay_domain::api_keys::usage::KeyUsage;

/// Turns an `Authorization` header into a [`Principal`].
pub struct Authenticator {
    /// SHA-256 of each `API_KEYS` key: comparing digests keeps the comparison
    /// constant-time whatever the lengths of the key sent and the keys configured.
    admin_digests: Vec<[u8; 32]>,
    disabled: bool,
    pub stored: Arc<Cache<Credential>>,
    pub usage: Arc<KeyUsage>,
}

impl Authenticator {
    pub fn new(auth: &AuthConfig, stored: Arc<Cache<Credential>>) -> Self {
        Self {
            admin_digests: auth.api_keys.iter().map(|k| digest(k)).collect(),
            disabled: auth.disabled,
            stored,
            usage: Arc::new(KeyUsage::default()),
        }
    }

    /// The caller, or 401 (400 for several `Authorization` headers). Counted in
    /// `hookrelay_auth_failures_total` when refused.
    pub async fn principal(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        if self.disabled {
            return Ok(Principal::ADMIN);
        }
        let result = self.authenticate(headers).await;
        if let Err((Some(reason), _)) = &result {
            reason.record();
        }
        result.map_err(|(_, error)| error)
    }

    async fn authenticate(
        &self,
        headers: &HeaderMap,
    ) -> Result<Principal, (Option<FailureReason>, ApiError)> {
        let mut sent = headers.get_all(header::AUTHORIZATION);
        let first = sent.next();
        if sent.next().is_some() {
            // Proxies and servers disagree on which of several to use; refuse to guess.
            return Err((
                Some(FailureReason::Unknown),
                ApiError::BadRequest("Send one Authorization header, not several."),
            ));
        }
        let token = first.and_then(|v| v.to_str().ok()).and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        let Some(token) = token else {
            return Err((
                Some(FailureReason::Missing),
                ApiError::Unauthorized("Not authenticated"),
            ));
        };
        self.verify(&Presented::of(token)).await
    }

    /// The caller a presented key stands for, or 401; counted like [`Self::principal`].
    /// The console checks its sessions' keys here on every request, so a deleted or
    /// expired key ends the sessions signed in with it.
    pub async fn principal_of(&self, presented: &Presented) -> Result<Principal, ApiError> {
        if self.disabled {
            return Ok(Principal::ADMIN);
        }
        let result = self.verify(presented).await;
        if let Err((Some(reason), _)) = &result {
            reason.record();
        }
        result.map_err(|(_, error)| error)
    }

    /// An `API_KEYS` key, or a stored key that is known, matches and has not expired.
    async fn verify(
        &self,
        presented: &Presented,
    ) -> Result<Principal, (Option<FailureReason>, ApiError)> {
        let unknown = || {
            (
                Some(FailureReason::Unknown),
                ApiError::Unauthorized("Invalid API key"),
            )
        };
        if self.is_admin_digest(&presented.digest) {
            return Ok(Principal::ADMIN);
        }
        let Some(prefix) = &presented.prefix else {
            return Err(unknown());
        };
        let found = self
            .stored
            .get_current(prefix)
            .await
            // Not a refusal: the key may be fine once Redis or Postgres answers again.
            .map_err(|e| {
                (
                    None,
                    ApiError::unavailable("API keys are unavailable. Retry later.", e),
                )
            })?;
        let Some(credential) = found else {
            return Err(unknown());
        };
        if !bool::from(credential.digest.ct_eq(&presented.digest)) {
            return Err(unknown());
        }
        if credential
            .expires_at
            .is_some_and(|expires| expires <= Utc::now())
        {
            return Err((
                Some(FailureReason::Expired),
                ApiError::Unauthorized("API key expired"),
            ));
        }
        self.usage.used(credential.id);
        Ok(Principal {
            reach: match credential.tenant_id {
                Some(tenant) => Reach::Tenant(tenant),
                None => Reach::AllTenants,
            },
            permissions: credential.permissions,
            key: Some(KeyScope {
                id: credential.id,
                expires_at: credential.expires_at,
            }),
        })
    }

    /// Whether `sent` is the digest of one of `API_KEYS`. Every configured key is
    /// compared, so the time taken does not say which one matched.
    fn is_admin_digest(&self, sent: &[u8; 32]) -> bool {
        self.admin_digests
            .iter()
            .fold(subtle::Choice::from(0), |found, known| {
                found | known.ct_eq(sent)
            })
            .into()
    }

    /// Whether authentication is off (`AUTH_DISABLED=true`): every caller is admin.
    pub const fn disabled(&self) -> bool {
        self.disabled
    }
}

/// A key as presented: its SHA-256, and the prefix it is looked up by when it has a stored
/// key's shape. Holds no secret (stored keys keep the same digest in Postgres), which is
/// what lets a console session keep it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Presented {
    pub prefix: Option<String>,
    #[serde(with = "hex::serde")]
    pub digest: [u8; 32],
}

impl Presented {
    pub fn of(key: &str) -> Self {
        let shaped = key.len() == KEY_LEN && key.starts_with(KEY_MARKER);
        Self {
            prefix: shaped.then(|| key[..PREFIX_LEN].to_owned()),
            digest: digest(key),
        }
    }
}
