//! What a source's `verification` is (CONTRACT §12): the schemes and their settings, the
//! checks on them when a source is written, and how reads mask its secrets. Checking a
//! request against it is [`super::verify`].

use serde::{Deserialize, Serialize};

use crate::FieldError;

/// What reads show instead of a secret; sent back in a PATCH, it keeps the stored one.
pub const MASK: &str = "********";

/// The default `tolerance` of the timestamped schemes (Stripe, Slack, Standard Webhooks
/// all document five minutes).
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
const MAX_TOLERANCE_SECS: u64 = 86_400;
const MAX_SECRET_CHARS: usize = 1024;
const MAX_PREFIX_CHARS: usize = 64;

const fn default_tolerance() -> u64 {
    DEFAULT_TOLERANCE_SECS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Hex,
    Base64,
}

/// How a source checks that a request is genuine (`verification` of a source).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Verification {
    /// No check (an allowlist or a private network does the job).
    None,
    /// `header` = `prefix` + encoding(HMAC(secret, body)).
    Hmac {
        header: String,
        algorithm: Algorithm,
        encoding: Encoding,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        secret: String,
    },
    /// `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`.
    Github { secret: String },
    /// `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(secret, body)>`.
    Shopify { secret: String },
    /// `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>,…` (any `v1`).
    Stripe {
        secret: String,
        #[serde(default = "default_tolerance")]
        tolerance: u64,
    },
    /// `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:ts:body")>` with
    /// `X-Slack-Request-Timestamp: ts`.
    Slack {
        secret: String,
        #[serde(default = "default_tolerance")]
        tolerance: u64,
    },
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature` (`v1,<base64>`, several
    /// allowed), keyed by the base64 after `whsec_`.
    StandardWebhooks {
        secret: String,
        #[serde(default = "default_tolerance")]
        tolerance: u64,
    },
    /// `Authorization: Bearer <token>`.
    Bearer { token: String },
    /// `Authorization: Basic base64(username:password)`.
    Basic { username: String, password: String },
    /// `<header>: <key>`.
    ApiKey { header: String, key: String },
}

impl Verification {
    /// The `type` as written in JSON.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Hmac { .. } => "hmac",
            Self::Github { .. } => "github",
            Self::Shopify { .. } => "shopify",
            Self::Stripe { .. } => "stripe",
            Self::Slack { .. } => "slack",
            Self::StandardWebhooks { .. } => "standard_webhooks",
            Self::Bearer { .. } => "bearer",
            Self::Basic { .. } => "basic",
            Self::ApiKey { .. } => "api_key",
        }
    }

    /// The secret fields, by name (what reads mask).
    fn secrets_mut(&mut self) -> Vec<(&'static str, &mut String)> {
        match self {
            Self::None => Vec::new(),
            Self::Hmac { secret, .. }
            | Self::Github { secret }
            | Self::Shopify { secret }
            | Self::Stripe { secret, .. }
            | Self::Slack { secret, .. }
            | Self::StandardWebhooks { secret, .. } => vec![("secret", secret)],
            Self::Bearer { token } => vec![("token", token)],
            Self::Basic { password, .. } => vec![("password", password)],
            Self::ApiKey { key, .. } => vec![("key", key)],
        }
    }

    /// The same, with every secret shown as [`MASK`].
    pub fn masked(&self) -> Self {
        let mut masked = self.clone();
        for (_, secret) in masked.secrets_mut() {
            *secret = MASK.to_owned();
        }
        masked
    }

    /// Puts the stored secrets back where a PATCH sent [`MASK`]: allowed only when the
    /// verification keeps its `type`.
    pub fn keep_secrets(&mut self, stored: &Self) -> Result<(), FieldError> {
        let mut stored = stored.clone();
        let same_kind = self.kind() == stored.kind();
        let stored_secrets = stored.secrets_mut();
        for (index, (name, secret)) in self.secrets_mut().into_iter().enumerate() {
            if secret != MASK {
                continue;
            }
            match stored_secrets.get(index) {
                Some((_, kept)) if same_kind => secret.clone_from(kept),
                _ => {
                    return Err(FieldError::new(
                        &["body", "verification", name],
                        format!("Value error, a new verification type needs its {name}"),
                        "value_error",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every problem with the fields' values at once (their shapes are serde's).
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut error = |field: &str, msg: String| {
            errors.push(FieldError::new(
                &["body", "verification", field],
                format!("Value error, {msg}"),
                "value_error",
            ));
        };
        let mut copy = self.clone();
        for (name, secret) in copy.secrets_mut() {
            if secret.is_empty() || secret.chars().count() > MAX_SECRET_CHARS {
                error(
                    name,
                    format!("{name} must be 1 to {MAX_SECRET_CHARS} characters"),
                );
            }
        }
        let header_error = |header: &str| {
            http::HeaderName::from_bytes(header.as_bytes())
                .is_err()
                .then(|| format!("{header:?} is not a valid header name"))
        };
        match self {
            Self::Hmac { header, prefix, .. } => {
                if let Some(msg) = header_error(header) {
                    error("header", msg);
                }
                if let Some(prefix) = prefix
                    && (prefix.len() > MAX_PREFIX_CHARS
                        || !prefix.bytes().all(|b| b.is_ascii_graphic()))
                {
                    error(
                        "prefix",
                        format!(
                            "prefix must be at most {MAX_PREFIX_CHARS} visible ASCII characters"
                        ),
                    );
                }
            }
            Self::ApiKey { header, .. } => {
                if let Some(msg) = header_error(header) {
                    error("header", msg);
                }
            }
            Self::StandardWebhooks { secret, .. }
                if secret != MASK
                    && hookrelay_shared::signing::prefixed_key(secret)
                        .is_none_or(|key| key.is_err()) =>
            {
                error(
                    "secret",
                    "a Standard Webhooks secret is whsec_ followed by base64, like whsec_YWJjZA=="
                        .into(),
                );
            }
            Self::Basic { username, .. } if username.contains(':') || username.is_empty() => {
                error(
                    "username",
                    "username must be non-empty and without ':'".into(),
                );
            }
            _ => {}
        }
        if let Self::Stripe { tolerance, .. }
        | Self::Slack { tolerance, .. }
        | Self::StandardWebhooks { tolerance, .. } = self
            && !(1..=MAX_TOLERANCE_SECS).contains(tolerance)
        {
            error(
                "tolerance",
                format!("tolerance must be 1 to {MAX_TOLERANCE_SECS} seconds"),
            );
        }
        errors
    }
}
