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
//! An [`Unverified`] names the check that failed and never holds a secret or the expected
//! signature. The headers come through [`Headers`], so the verifiers know no web
//! framework.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

use super::verification::{Algorithm, Encoding, Verification};

/// Why a request failed its verification: the check that failed, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified(pub String);

impl std::fmt::Display for Unverified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn refuse<T>(reason: impl Into<String>) -> Result<T, Unverified> {
    Err(Unverified(reason.into()))
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
    pub fn check_body(self, body: &[u8]) -> Result<(), Unverified> {
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

/// A request's headers as the verifiers read them. The api implements it over its web
/// framework's map; it is implemented here for `http`'s.
pub trait Headers {
    /// The value of `name` (any case), if the request has it exactly once.
    fn single(&self, name: &str) -> HeaderValue<'_>;
}

/// What [`Headers::single`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderValue<'h> {
    Missing,
    Repeated,
    One(&'h [u8]),
}

impl HeaderValue<'_> {
    /// The value as text when the header is there once and is visible ASCII.
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::One(bytes) => visible_ascii(bytes),
            Self::Missing | Self::Repeated => None,
        }
    }
}

impl Headers for http::HeaderMap {
    fn single(&self, name: &str) -> HeaderValue<'_> {
        let mut values = self.get_all(name).into_iter();
        match (values.next(), values.next()) {
            (None, _) => HeaderValue::Missing,
            (Some(value), None) => HeaderValue::One(value.as_bytes()),
            (Some(_), Some(_)) => HeaderValue::Repeated,
        }
    }
}

/// The bytes as text if they are visible ASCII (or tabs), as header text must be.
fn visible_ascii(bytes: &[u8]) -> Option<&str> {
    if bytes.iter().all(|&b| b == b'\t' || (32..127).contains(&b)) {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// The one value of `name`: missing, repeated or not visible ASCII is a refusal.
fn single<'h>(headers: &'h impl Headers, name: &str) -> Result<&'h str, Unverified> {
    match headers.single(name) {
        HeaderValue::Missing => refuse(format!("missing {name} header")),
        HeaderValue::Repeated => refuse(format!("{name} is repeated")),
        HeaderValue::One(bytes) => match visible_ascii(bytes) {
            Some(value) => Ok(value.trim()),
            None => refuse(format!("{name} is not visible ASCII")),
        },
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
fn fresh(name: &str, text: &str, now: i64, tolerance: u64) -> Result<i64, Unverified> {
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
    /// The first stage: everything the headers alone decide.
    pub fn check_headers(
        &self,
        headers: &impl Headers,
        now: i64,
    ) -> Result<Pending<'_>, Unverified> {
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
                    .ok_or_else(|| Unverified(format!("{header} is not {described}")))?;
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
                    .ok_or_else(|| Unverified(format!("{HEADER} is not sha256=<hex>")))?;
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
                    .ok_or_else(|| Unverified(format!("{HEADER} is not base64")))?;
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
                    .ok_or_else(|| Unverified(format!("{HEADER} is not v0=<hex>")))?;
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
                    .ok_or_else(|| Unverified("Authorization is not Bearer <token>".into()))?;
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
                    .ok_or_else(|| Unverified("Authorization is not Basic <base64>".into()))?;
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
    pub fn verify(&self, headers: &impl Headers, body: &[u8], now: i64) -> Result<(), Unverified> {
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

fn credential(matches: bool, what: &str) -> Result<Pending<'static>, Unverified> {
    if matches {
        Ok(Pending::passed())
    } else {
        refuse(format!("{what} does not match"))
    }
}

/// `Stripe-Signature: t=…,v1=…,v1=…,v0=…`: one `t`, at least one `v1` (other schemes are
/// ignored, as Stripe's libraries do).
fn stripe<'a>(
    headers: &impl Headers,
    secret: &str,
    tolerance: u64,
    now: i64,
) -> Result<Pending<'a>, Unverified> {
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
                    .ok_or_else(|| Unverified(format!("{HEADER} v1 is not hex")))?,
            ),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| Unverified(format!("{HEADER} has no timestamp")))?;
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
    headers: &impl Headers,
    secret: &str,
    tolerance: u64,
    now: i64,
) -> Result<Pending<'a>, Unverified> {
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
                    .ok_or_else(|| Unverified(format!("{HEADER} v1 is not base64")))?,
            );
        }
    }
    if candidates.is_empty() {
        return refuse(format!("{HEADER} has no v1 signature"));
    }
    // The key a Standard Webhooks sender signs with: the same rule as our own deliveries.
    let key = hookrelay_shared::signing::signing_key(secret);
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
    use crate::sources::verification::{DEFAULT_TOLERANCE_SECS, MASK};
    use http::{HeaderMap, HeaderName};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("a name"),
                http::HeaderValue::from_str(value).expect("a value"),
            );
        }
        map
    }

    fn refused(result: Result<(), Unverified>) -> String {
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
