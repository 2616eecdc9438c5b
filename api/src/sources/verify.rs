//! The verifiers of sources: pure functions over (headers, raw body, now), one per
//! provider's scheme, each checked against the provider's published example where there
//! is one.
//!
//! Verification has two stages, so the caller can refuse before it reads a body whose
//! size it has not checked yet: [`Verification::check_headers`] judges everything the
//! headers alone decide (a signature header missing, repeated or malformed, a timestamp
//! outside the tolerance, and the whole of a bearer token, password or key), and
//! [`Pending::check_body`] then checks the signature over the raw body. Every comparison
//! is constant-time: MACs with `Mac::verify_slice`, credentials as SHA-256 digests (so
//! neither their content nor their length shows in the timing).
//!
//! A [`Refusal`] names the check that failed and never holds a secret or the expected
//! signature.

use actix_web::http::header::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

use crate::error::FieldError;

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

/// Why a request was refused: the check that failed, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn refuse<T>(reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(reason.into()))
}

/// What is left to check once the headers passed: a MAC over the body, or nothing.
pub struct Pending<'a> {
    check: Option<BodyCheck<'a>>,
}

/// MAC(key, before ‖ body) must equal one of `candidates`; `header` names where they
/// came from, for the refusal.
struct BodyCheck<'a> {
    algorithm: Algorithm,
    key: Vec<u8>,
    before: Vec<u8>,
    candidates: Vec<Vec<u8>>,
    header: &'a str,
}

impl Pending<'_> {
    const fn passed() -> Self {
        Self { check: None }
    }

    /// The signature over the raw body, compared in constant time.
    pub fn check_body(self, body: &[u8]) -> Result<(), Refusal> {
        let Some(check) = self.check else {
            return Ok(());
        };
        let matched = check.candidates.iter().any(|candidate| {
            mac_matches(check.algorithm, &check.key, &check.before, body, candidate)
        });
        if matched {
            Ok(())
        } else {
            refuse(format!("{} does not match the body", check.header))
        }
    }
}

/// Whether HMAC(key, before ‖ body) is `expected` (constant time).
fn mac_matches(
    algorithm: Algorithm,
    key: &[u8],
    before: &[u8],
    body: &[u8],
    expected: &[u8],
) -> bool {
    fn verify<M: Mac + KeyInit>(key: &[u8], before: &[u8], body: &[u8], expected: &[u8]) -> bool {
        let Ok(mut mac) = <M as KeyInit>::new_from_slice(key) else {
            return false;
        };
        mac.update(before);
        mac.update(body);
        mac.verify_slice(expected).is_ok()
    }
    match algorithm {
        Algorithm::Sha1 => verify::<Hmac<sha1::Sha1>>(key, before, body, expected),
        Algorithm::Sha256 => verify::<Hmac<sha2::Sha256>>(key, before, body, expected),
        Algorithm::Sha512 => verify::<Hmac<sha2::Sha512>>(key, before, body, expected),
    }
}

/// The one value of `name`: missing, repeated or not visible ASCII is a refusal.
fn single<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, Refusal> {
    let mut values = headers.get_all(name);
    let Some(first) = values.next() else {
        return refuse(format!("missing {name} header"));
    };
    if values.next().is_some() {
        return refuse(format!("{name} is repeated"));
    }
    match first.to_str() {
        Ok(value) => Ok(value.trim()),
        Err(_) => refuse(format!("{name} is not visible ASCII")),
    }
}

fn decode(encoding: Encoding, text: &str) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Hex => hex::decode(text).ok(),
        Encoding::Base64 => BASE64.decode(text).ok(),
    }
    .filter(|bytes| !bytes.is_empty())
}

/// A Unix timestamp within `tolerance` seconds of `now`, either way.
fn fresh(name: &str, text: &str, now: i64, tolerance: u64) -> Result<i64, Refusal> {
    let Ok(at) = text.parse::<i64>() else {
        return refuse(format!("{name} timestamp is not a Unix time"));
    };
    if now.abs_diff(at) > tolerance {
        return refuse(format!(
            "{name} timestamp is outside the {tolerance} s tolerance"
        ));
    }
    Ok(at)
}

/// Constant-time equality of two credentials, through their SHA-256 digests (the
/// comparison then takes the same time whatever their lengths).
fn same_credential(given: &[u8], expected: &[u8]) -> bool {
    let (a, b) = (sha2::Sha256::digest(given), sha2::Sha256::digest(expected));
    bool::from(a.as_slice().ct_eq(b.as_slice()))
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
            actix_web::http::header::HeaderName::from_bytes(header.as_bytes())
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

    /// The first stage: everything the headers alone decide.
    pub fn check_headers(&self, headers: &HeaderMap, now: i64) -> Result<Pending<'_>, Refusal> {
        match self {
            Self::None => Ok(Pending::passed()),
            Self::Hmac {
                header,
                algorithm,
                encoding,
                prefix,
                secret,
            } => {
                let value = single(headers, header)?;
                let prefix = prefix.as_deref().unwrap_or("");
                let described = describe(prefix, *encoding);
                let signature = value
                    .strip_prefix(prefix)
                    .and_then(|rest| decode(*encoding, rest))
                    .ok_or_else(|| Refusal(format!("{header} is not {described}")))?;
                Ok(body_check(
                    *algorithm,
                    secret.as_bytes(),
                    Vec::new(),
                    vec![signature],
                    header,
                ))
            }
            Self::Github { secret } => {
                const HEADER: &str = "X-Hub-Signature-256";
                let value = single(headers, HEADER)?;
                let signature = value
                    .strip_prefix("sha256=")
                    .and_then(|rest| decode(Encoding::Hex, rest))
                    .ok_or_else(|| Refusal(format!("{HEADER} is not sha256=<hex>")))?;
                Ok(body_check(
                    Algorithm::Sha256,
                    secret.as_bytes(),
                    Vec::new(),
                    vec![signature],
                    HEADER,
                ))
            }
            Self::Shopify { secret } => {
                const HEADER: &str = "X-Shopify-Hmac-Sha256";
                let signature = decode(Encoding::Base64, single(headers, HEADER)?)
                    .ok_or_else(|| Refusal(format!("{HEADER} is not base64")))?;
                Ok(body_check(
                    Algorithm::Sha256,
                    secret.as_bytes(),
                    Vec::new(),
                    vec![signature],
                    HEADER,
                ))
            }
            Self::Stripe { secret, tolerance } => stripe(headers, secret, *tolerance, now),
            Self::Slack { secret, tolerance } => {
                const HEADER: &str = "X-Slack-Signature";
                let timestamp = single(headers, "X-Slack-Request-Timestamp")?;
                fresh("X-Slack-Request-Timestamp", timestamp, now, *tolerance)?;
                let signature = single(headers, HEADER)?
                    .strip_prefix("v0=")
                    .and_then(|rest| decode(Encoding::Hex, rest))
                    .ok_or_else(|| Refusal(format!("{HEADER} is not v0=<hex>")))?;
                let before = format!("v0:{timestamp}:").into_bytes();
                Ok(body_check(
                    Algorithm::Sha256,
                    secret.as_bytes(),
                    before,
                    vec![signature],
                    HEADER,
                ))
            }
            Self::StandardWebhooks { secret, tolerance } => {
                standard_webhooks(headers, secret, *tolerance, now)
            }
            Self::Bearer { token } => {
                let value = single(headers, "Authorization")?;
                let given = value
                    .strip_prefix("Bearer ")
                    .ok_or_else(|| Refusal("Authorization is not Bearer <token>".into()))?;
                credential(
                    same_credential(given.as_bytes(), token.as_bytes()),
                    "Authorization bearer token",
                )
            }
            Self::Basic { username, password } => {
                let value = single(headers, "Authorization")?;
                let given = value
                    .strip_prefix("Basic ")
                    .and_then(|rest| BASE64.decode(rest.trim()).ok())
                    .ok_or_else(|| Refusal("Authorization is not Basic <base64>".into()))?;
                let expected = format!("{username}:{password}");
                credential(
                    same_credential(&given, expected.as_bytes()),
                    "Authorization basic credentials",
                )
            }
            Self::ApiKey { header, key } => {
                let given = single(headers, header)?;
                credential(same_credential(given.as_bytes(), key.as_bytes()), header)
            }
        }
    }

    /// Both stages at once.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), Refusal> {
        self.check_headers(headers, now)?.check_body(body)
    }
}

fn describe(prefix: &str, encoding: Encoding) -> String {
    let encoded = match encoding {
        Encoding::Hex => "<hex>",
        Encoding::Base64 => "<base64>",
    };
    format!("{prefix}{encoded}")
}

fn body_check<'a>(
    algorithm: Algorithm,
    key: &[u8],
    before: Vec<u8>,
    candidates: Vec<Vec<u8>>,
    header: &'a str,
) -> Pending<'a> {
    Pending {
        check: Some(BodyCheck {
            algorithm,
            key: key.to_vec(),
            before,
            candidates,
            header,
        }),
    }
}

fn credential(matches: bool, what: &str) -> Result<Pending<'static>, Refusal> {
    if matches {
        Ok(Pending::passed())
    } else {
        refuse(format!("{what} does not match"))
    }
}

/// `Stripe-Signature: t=…,v1=…,v1=…,v0=…`: one `t`, at least one `v1` (other schemes are
/// ignored, as Stripe's libraries do).
fn stripe<'a>(
    headers: &HeaderMap,
    secret: &str,
    tolerance: u64,
    now: i64,
) -> Result<Pending<'a>, Refusal> {
    const HEADER: &str = "Stripe-Signature";
    let value = single(headers, HEADER)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in value.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) if timestamp.is_none() => timestamp = Some(t),
            Some(("t", _)) => return refuse(format!("{HEADER} has two timestamps")),
            Some(("v1", signature)) => candidates.push(
                decode(Encoding::Hex, signature)
                    .ok_or_else(|| Refusal(format!("{HEADER} v1 is not hex")))?,
            ),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| Refusal(format!("{HEADER} has no timestamp")))?;
    fresh(HEADER, timestamp, now, tolerance)?;
    if candidates.is_empty() {
        return refuse(format!("{HEADER} has no v1 signature"));
    }
    let before = format!("{timestamp}.").into_bytes();
    Ok(body_check(
        Algorithm::Sha256,
        secret.as_bytes(),
        before,
        candidates,
        HEADER,
    ))
}

/// Standard Webhooks: `webhook-signature` holds space-separated `v1,<base64>` entries;
/// entries of other versions are ignored.
fn standard_webhooks<'a>(
    headers: &HeaderMap,
    secret: &str,
    tolerance: u64,
    now: i64,
) -> Result<Pending<'a>, Refusal> {
    const HEADER: &str = "webhook-signature";
    let id = single(headers, "webhook-id")?;
    let timestamp = single(headers, "webhook-timestamp")?;
    fresh("webhook-timestamp", timestamp, now, tolerance)?;
    let mut candidates = Vec::new();
    for entry in single(headers, HEADER)?
        .split(' ')
        .filter(|e| !e.is_empty())
    {
        if let Some(signature) = entry.strip_prefix("v1,") {
            candidates.push(
                decode(Encoding::Base64, signature)
                    .ok_or_else(|| Refusal(format!("{HEADER} v1 is not base64")))?,
            );
        }
    }
    if candidates.is_empty() {
        return refuse(format!("{HEADER} has no v1 signature"));
    }
    let key = match hookrelay_shared::signing::prefixed_key(secret) {
        Some(Ok(key)) => key,
        // The api stores no other; a row written elsewhere signs with the bytes.
        _ => secret.as_bytes().to_vec(),
    };
    let before = format!("{id}.{timestamp}.").into_bytes();
    Ok(body_check(
        Algorithm::Sha256,
        &key,
        before,
        candidates,
        HEADER,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("a name"),
                HeaderValue::from_str(value).expect("a value"),
            );
        }
        map
    }

    fn refused(result: Result<(), Refusal>) -> String {
        result.expect_err("refused").0
    }

    fn from_json(value: serde_json::Value) -> Verification {
        serde_json::from_value(value).expect("a verification")
    }

    // GitHub's documented example ("Validating webhook deliveries").
    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_matches_its_documented_example_and_nothing_else() {
        let github = Verification::Github {
            secret: GITHUB_SECRET.into(),
        };
        let signed = headers(&[("X-Hub-Signature-256", GITHUB_SIGNATURE)]);
        assert_eq!(github.verify(&signed, b"Hello, World!", 0), Ok(()));
        assert!(refused(github.verify(&signed, b"Hello, World?", 0)).contains("does not match"));
        let other = Verification::Github {
            secret: "another secret".into(),
        };
        assert!(refused(other.verify(&signed, b"Hello, World!", 0)).contains("does not match"));
        assert_eq!(
            refused(github.verify(&HeaderMap::new(), b"Hello, World!", 0)),
            "missing X-Hub-Signature-256 header"
        );
        let twice = headers(&[
            ("X-Hub-Signature-256", GITHUB_SIGNATURE),
            ("X-Hub-Signature-256", GITHUB_SIGNATURE),
        ]);
        assert_eq!(
            refused(github.verify(&twice, b"Hello, World!", 0)),
            "X-Hub-Signature-256 is repeated"
        );
        let not_hex = headers(&[(
            "X-Hub-Signature-256",
            "sha256=zz57107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )]);
        assert_eq!(
            refused(github.verify(&not_hex, b"Hello, World!", 0)),
            "X-Hub-Signature-256 is not sha256=<hex>"
        );
        let unprefixed = headers(&[("X-Hub-Signature-256", &GITHUB_SIGNATURE[7..])]);
        assert!(github.verify(&unprefixed, b"Hello, World!", 0).is_err());
    }

    // The Standard Webhooks specification's test vector.
    #[test]
    fn standard_webhooks_matches_the_specification_vector() {
        let verification = Verification::StandardWebhooks {
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            tolerance: DEFAULT_TOLERANCE_SECS,
        };
        let body = br#"{"test": 2432232314}"#;
        let at = 1_614_265_330;
        let signed = |signature: &str, timestamp: &str| {
            headers(&[
                ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
                ("webhook-timestamp", timestamp),
                ("webhook-signature", signature),
            ])
        };
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(
            verification.verify(&signed(good, "1614265330"), body, at),
            Ok(())
        );
        let several = format!("v2,abc v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= {good}");
        assert_eq!(
            verification.verify(&signed(&several, "1614265330"), body, at),
            Ok(()),
            "any v1 may match"
        );
        assert!(
            refused(verification.verify(
                &signed(good, "1614265330"),
                b"{\"test\": 2432232315}",
                at
            ))
            .contains("does not match")
        );
        for now in [at - 301, at + 301] {
            assert!(
                refused(verification.verify(&signed(good, "1614265330"), body, now))
                    .contains("tolerance")
            );
        }
        assert_eq!(
            verification.verify(&signed(good, "1614265330"), body, at + 300),
            Ok(()),
            "just inside"
        );
        assert!(
            refused(verification.verify(&signed("v1,not base64!", "1614265330"), body, at))
                .contains("base64")
        );
    }

    // Slack's documented example ("Verifying requests from Slack").
    #[test]
    fn slack_matches_its_documented_example() {
        let slack = Verification::Slack {
            secret: "8f742231b10e8888abcd99yyyzzz85a5".into(),
            tolerance: DEFAULT_TOLERANCE_SECS,
        };
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let signed = headers(&[
            ("X-Slack-Request-Timestamp", "1531420618"),
            (
                "X-Slack-Signature",
                "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            ),
        ]);
        assert_eq!(slack.verify(&signed, body, 1_531_420_618), Ok(()));
        assert!(refused(slack.verify(&signed, body, 1_531_420_618 + 301)).contains("tolerance"));
        assert!(
            refused(slack.verify(&signed, &body[1..], 1_531_420_618)).contains("does not match")
        );
        let no_timestamp = headers(&[("X-Slack-Signature", "v0=00")]);
        assert!(
            refused(slack.verify(&no_timestamp, body, 0)).contains("X-Slack-Request-Timestamp")
        );
    }

    // Stripe publishes no vector: the signature is HMAC-SHA256(secret, "t.body"), as its
    // documentation describes, computed here with the MAC directly.
    #[test]
    fn stripe_takes_any_v1_within_the_tolerance() {
        let stripe = from_json(serde_json::json!({"type": "stripe", "secret": "whsec_test"}));
        assert_eq!(
            stripe,
            Verification::Stripe {
                secret: "whsec_test".into(),
                tolerance: 300
            }
        );
        let signature = hex::encode({
            let mut mac =
                <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"whsec_test").expect("a key");
            mac.update(b"1700000000.{}");
            mac.finalize().into_bytes()
        });
        let header = format!(
            "t=1700000000,v1={},v1={signature},v0=ignored",
            "ab".repeat(32)
        );
        let signed = headers(&[("Stripe-Signature", &header)]);
        assert_eq!(
            stripe.verify(&signed, b"{}", 1_700_000_000),
            Ok(()),
            "the second v1 matches"
        );
        assert!(
            refused(stripe.verify(&signed, b"{}", 1_700_000_301)).contains("tolerance"),
            "a replay"
        );
        assert_eq!(stripe.verify(&signed, b"{}", 1_700_000_300), Ok(()));
        assert!(refused(stripe.verify(&signed, b"{ }", 1_700_000_000)).contains("does not match"));
        let no_v1 = headers(&[("Stripe-Signature", "t=1700000000,v0=abc")]);
        assert!(refused(stripe.verify(&no_v1, b"{}", 1_700_000_000)).contains("no v1"));
        let no_t = headers(&[("Stripe-Signature", &format!("v1={signature}"))]);
        assert!(refused(stripe.verify(&no_t, b"{}", 1_700_000_000)).contains("timestamp"));
    }

    #[test]
    fn generic_hmac_covers_every_algorithm_and_encoding() {
        fn mac<M: Mac + KeyInit>(body: &[u8]) -> Vec<u8> {
            let mut mac = <M as KeyInit>::new_from_slice(b"key").expect("a key");
            mac.update(body);
            mac.finalize().into_bytes().to_vec()
        }
        let body = b"The quick brown fox jumps over the lazy dog";
        // The widely published values of HMAC("key", "The quick brown fox…"), so the MAC
        // used to sign the cases below is known to be right.
        assert_eq!(
            hex::encode(mac::<Hmac<sha1::Sha1>>(body)),
            "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"
        );
        assert_eq!(
            hex::encode(mac::<Hmac<sha2::Sha256>>(body)),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        for (algorithm, encoding, prefix, value) in [
            (
                Algorithm::Sha1,
                Encoding::Hex,
                Some("sha1="),
                format!("sha1={}", hex::encode(mac::<Hmac<sha1::Sha1>>(body))),
            ),
            (
                Algorithm::Sha256,
                Encoding::Base64,
                None,
                BASE64.encode(mac::<Hmac<sha2::Sha256>>(body)),
            ),
            (
                Algorithm::Sha512,
                Encoding::Hex,
                None,
                hex::encode(mac::<Hmac<sha2::Sha512>>(body)),
            ),
        ] {
            let verification = Verification::Hmac {
                header: "X-Signature".into(),
                algorithm,
                encoding,
                prefix: prefix.map(str::to_owned),
                secret: "key".into(),
            };
            let signed = headers(&[("x-signature", &value)]);
            assert_eq!(
                verification.verify(&signed, body, 0),
                Ok(()),
                "{algorithm:?}"
            );
            assert!(
                verification
                    .verify(&signed, b"The quick brown fox", 0)
                    .is_err()
            );
        }
        let empty = Verification::Hmac {
            header: "X-Signature".into(),
            algorithm: Algorithm::Sha256,
            encoding: Encoding::Hex,
            prefix: None,
            secret: "key".into(),
        };
        let signed = headers(&[("X-Signature", &hex::encode(mac::<Hmac<sha2::Sha256>>(b"")))]);
        assert_eq!(
            empty.verify(&signed, b"", 0),
            Ok(()),
            "an empty body signed correctly"
        );
    }

    #[test]
    fn shopify_is_base64_of_hmac_sha256() {
        let shopify = Verification::Shopify {
            secret: "key".into(),
        };
        let signed = headers(&[(
            "X-Shopify-Hmac-Sha256",
            "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg=",
        )]);
        assert_eq!(
            shopify.verify(&signed, b"The quick brown fox jumps over the lazy dog", 0),
            Ok(())
        );
        let garbage = headers(&[("X-Shopify-Hmac-Sha256", "not base64!")]);
        assert!(refused(shopify.verify(&garbage, b"", 0)).contains("not base64"));
    }

    #[test]
    fn credentials_are_checked_with_the_headers_alone() {
        let bearer = Verification::Bearer {
            token: "t0ken".into(),
        };
        assert!(
            bearer
                .check_headers(&headers(&[("Authorization", "Bearer t0ken")]), 0)
                .is_ok()
        );
        assert!(
            refused(bearer.verify(&headers(&[("Authorization", "Bearer t0ke")]), b"", 0))
                .contains("does not match")
        );
        assert!(
            refused(bearer.verify(&headers(&[("Authorization", "Basic t0ken")]), b"", 0))
                .contains("Bearer")
        );
        let basic = Verification::Basic {
            username: "relay".into(),
            password: "pa55".into(),
        };
        let good = format!("Basic {}", BASE64.encode("relay:pa55"));
        assert!(
            basic
                .check_headers(&headers(&[("Authorization", &good)]), 0)
                .is_ok()
        );
        let bad = format!("Basic {}", BASE64.encode("relay:pa56"));
        assert!(
            basic
                .verify(&headers(&[("Authorization", &bad)]), b"", 0)
                .is_err()
        );
        let key = Verification::ApiKey {
            header: "X-Api-Key".into(),
            key: "k3y".into(),
        };
        assert!(
            key.verify(&headers(&[("x-api-key", "k3y")]), b"", 0)
                .is_ok()
        );
        assert!(refused(key.verify(&HeaderMap::new(), b"", 0)).contains("missing X-Api-Key"));
        assert!(
            Verification::None
                .verify(&HeaderMap::new(), b"anything", 0)
                .is_ok()
        );
    }

    #[test]
    fn refusals_never_show_the_secret() {
        let secret = "s3cr3t-value";
        for verification in [
            Verification::Github {
                secret: secret.into(),
            },
            Verification::Bearer {
                token: secret.into(),
            },
            Verification::ApiKey {
                header: "X-Key".into(),
                key: secret.into(),
            },
        ] {
            let sent = headers(&[
                ("X-Hub-Signature-256", "sha256=00"),
                ("Authorization", "Bearer nope"),
                ("X-Key", "nope"),
            ]);
            let reason = refused(verification.verify(&sent, b"body", 0));
            assert!(!reason.contains(secret), "{reason}");
        }
    }

    #[test]
    fn types_defaults_masks_and_field_checks() {
        let unknown =
            serde_json::from_value::<Verification>(serde_json::json!({"type": "carrier_pigeon"}));
        assert!(
            unknown
                .expect_err("unknown")
                .to_string()
                .contains("carrier_pigeon")
        );
        let slack = from_json(serde_json::json!({"type": "slack", "secret": "x"}));
        assert_eq!(
            slack,
            Verification::Slack {
                secret: "x".into(),
                tolerance: 300
            }
        );

        let basic = Verification::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        let masked = basic.masked();
        assert_eq!(
            masked,
            Verification::Basic {
                username: "u".into(),
                password: MASK.into()
            }
        );
        let mut sent_back = masked.clone();
        sent_back.keep_secrets(&basic).expect("same type");
        assert_eq!(sent_back, basic);
        let mut changed_type = Verification::Bearer { token: MASK.into() };
        assert!(
            changed_type.keep_secrets(&basic).is_err(),
            "a new type needs its secret"
        );

        let bad = Verification::Hmac {
            header: "bad header".into(),
            algorithm: Algorithm::Sha256,
            encoding: Encoding::Hex,
            prefix: Some("a b".into()),
            secret: String::new(),
        };
        let fields: Vec<serde_json::Value> =
            bad.check().into_iter().map(|e| e.loc[2].clone()).collect();
        assert_eq!(fields, ["secret", "header", "prefix"]);
        let standard = Verification::StandardWebhooks {
            secret: "plain".into(),
            tolerance: 0,
        };
        let fields: Vec<serde_json::Value> = standard
            .check()
            .into_iter()
            .map(|e| e.loc[2].clone())
            .collect();
        assert_eq!(fields, ["secret", "tolerance"]);
        assert!(
            Verification::Basic {
                username: "a:b".into(),
                password: "p".into()
            }
            .check()
            .len()
                == 1
        );
        assert!(
            from_json(serde_json::json!({"type": "github", "secret": "s"}))
                .check()
                .is_empty()
        );
    }
}
