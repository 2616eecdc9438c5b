//! Stored keys' secrets: `hrk_` and 43 URL-safe base64 characters (32 random bytes), of
//! which only the SHA-256 and the first [`PREFIX_LEN`] characters are kept.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// What every stored key starts with.
pub const KEY_MARKER: &str = "hrk_";
/// Random bytes in a stored key.
const KEY_BYTES: usize = 32;
/// Length of a stored key: the marker and the bytes in unpadded base64.
pub const KEY_LEN: usize = KEY_MARKER.len() + (KEY_BYTES * 4).div_ceil(3);
/// Characters of a key kept as its `key_prefix`: the marker and 8 random characters
/// (48 bits: enough to tell keys apart, far too few to guess the rest from).
pub const PREFIX_LEN: usize = KEY_MARKER.len() + 8;

/// A newly generated key: the secret (shown once), its prefix and its digest.
pub struct GeneratedKey {
    pub key: String,
    pub prefix: String,
    pub digest: [u8; 32],
}

impl GeneratedKey {
    pub fn new() -> Self {
        let mut bytes = [0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let key = format!("{KEY_MARKER}{}", URL_SAFE_NO_PAD.encode(bytes));
        Self {
            prefix: key[..PREFIX_LEN].to_owned(),
            digest: digest(&key),
            key,
        }
    }
}

impl Default for GeneratedKey {
    fn default() -> Self {
        Self::new()
    }
}

/// The SHA-256 a stored key is kept and looked up as.
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let a = GeneratedKey::new();
        let b = GeneratedKey::new();
        assert_eq!(a.key.len(), KEY_LEN);
        assert!(a.key.starts_with(KEY_MARKER) && a.key.starts_with(&a.prefix));
        assert!(
            a.key[KEY_MARKER.len()..]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a.key, b.key);
        assert_eq!(a.digest, digest(&a.key));
    }
}
