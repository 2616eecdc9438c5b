//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): a pure function,
//! checked against the specification's published test vector.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The prefix of generated secrets; the rest is base64 of the raw key.
pub const SECRET_PREFIX: &str = "whsec_";

/// A secret that starts with `whsec_` but holds no key after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "A secret starting with whsec_ must continue with a non-empty key in standard base64 \
     with padding, like whsec_YWJjZA=="
)]
pub struct InvalidSecret;

/// The key a `whsec_` secret holds: `None` when the secret has no such prefix, otherwise
/// the base64-decoded rest, which must be non-empty standard base64 with padding (what
/// Standard Webhooks verifiers decode). The one place that decides what a valid `whsec_`
/// secret is: the api refuses to store any other, and [`signing_key`] decodes with it.
pub fn prefixed_key(secret: &str) -> Option<Result<Vec<u8>, InvalidSecret>> {
    let encoded = secret.strip_prefix(SECRET_PREFIX)?;
    let key = BASE64.decode(encoded).ok().filter(|key| !key.is_empty());
    Some(key.ok_or(InvalidSecret))
}

/// Whether a secret may be stored: any string but a `whsec_` one without a valid key.
pub fn validate_secret(secret: &str) -> Result<(), InvalidSecret> {
    prefixed_key(secret).transpose().map(drop)
}

/// The HMAC key of a subscription secret: the base64-decoded part after `whsec_` when the
/// secret has that prefix, the secret's UTF-8 bytes otherwise (CONTRACT §5).
pub fn signing_key(secret: &str) -> Vec<u8> {
    match prefixed_key(secret) {
        Some(Ok(key)) => key,
        // Only rows stored before the api refused invalid `whsec_` secrets get here with
        // the prefix; they keep the whole string's bytes as their key, as before (but for a
        // bare `whsec_`, once an empty key).
        Some(Err(InvalidSecret)) | None => secret.as_bytes().to_vec(),
    }
}

/// The `webhook-signature` header value: `v1,<base64(HMAC-SHA256(key, "id.timestamp.body"))>`.
pub fn sign(key: &[u8], webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC-SHA256 takes keys of any length"));
    mac.update(webhook_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// A new secret: `whsec_` + base64 of 32 random bytes.
pub fn generate_secret() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", BASE64.encode(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_the_standard_webhooks_test_vector() {
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let signature = sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_without_the_prefix_are_used_as_bytes() {
        assert_eq!(signing_key("plain-secret"), b"plain-secret");
        assert_eq!(validate_secret("plain-secret"), Ok(()));
        assert_eq!(prefixed_key("plain-secret"), None);
    }

    #[test]
    fn a_whsec_secret_needs_non_empty_padded_standard_base64() {
        assert_eq!(prefixed_key("whsec_YWJjZA=="), Some(Ok(b"abcd".to_vec())));
        assert_eq!(validate_secret("whsec_YWJjZA=="), Ok(()));
        for invalid in [
            "whsec_",
            "whsec_YWJjZA",      // unpadded
            "whsec_YWJjZA=",     // wrongly padded
            "whsec_YWJjZB==",    // non-canonical trailing bits
            "whsec_YW Jj",       // whitespace
            "whsec_YWJj\n",      // a line break
            "whsec_-_-_",        // URL-safe alphabet
            "whsec_notbase64!!", // not base64 at all
        ] {
            assert_eq!(validate_secret(invalid), Err(InvalidSecret), "{invalid:?}");
        }
        // Rows stored before validation keep their old key: the whole string's bytes.
        assert_eq!(signing_key("whsec_not base64!"), b"whsec_not base64!");
    }

    #[test]
    fn generated_secrets_hold_32_random_bytes() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        assert_eq!(signing_key(&a).len(), 32);
        assert!(a.starts_with(SECRET_PREFIX));
    }
}
