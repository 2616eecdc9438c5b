//! [`const_concat!`](crate::const_concat!): a `&'static str` constant joined at compile
//! time from other constants — such as an SQL statement that names a list declared beside
//! the enum it comes from — where `concat!` takes only literals.
//!
//! ```
//! const LIST: &str = "('a', 'b')";
//! const SQL: &str = hookrelay_shared::const_concat!("SELECT 1 WHERE x IN ", LIST);
//! assert_eq!(SQL, "SELECT 1 WHERE x IN ('a', 'b')");
//! ```

/// Joins `&str` constant expressions into one `&'static str` constant; see
/// [the module](mod@crate::const_text).
#[macro_export]
macro_rules! const_concat {
    ($($part:expr),+ $(,)?) => {{
        const PARTS: &[&str] = &[$($part),+];
        const BYTES: &[u8; $crate::const_text::total_len(PARTS)] =
            &$crate::const_text::join(PARTS);
        const TEXT: &str = $crate::const_text::utf8(BYTES);
        TEXT
    }};
}

/// The length of `parts` joined.
#[doc(hidden)]
pub const fn total_len(parts: &[&str]) -> usize {
    let mut len = 0;
    let mut i = 0;
    while i < parts.len() {
        len += parts[i].len();
        i += 1;
    }
    len
}

/// `parts` joined, as bytes (`N` is [`total_len`]).
#[doc(hidden)]
pub const fn join<const N: usize>(parts: &[&str]) -> [u8; N] {
    let mut out = [0; N];
    let mut at = 0;
    let mut i = 0;
    while i < parts.len() {
        let part = parts[i].as_bytes();
        let mut j = 0;
        while j < part.len() {
            out[at] = part[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    assert!(at == N, "const_concat!: the parts are not N bytes long");
    out
}

/// `bytes` as text: whole `&str`s joined, so always UTF-8.
#[doc(hidden)]
pub const fn utf8(bytes: &'static [u8]) -> &'static str {
    match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(_) => panic!("const_concat!: not UTF-8"),
    }
}

#[cfg(test)]
mod tests {
    const MIDDLE: &str = "é, ";
    const JOINED: &str = crate::const_concat!("(", MIDDLE, "x", "", ")");

    #[test]
    fn parts_join_in_order() {
        assert_eq!(JOINED, "(é, x)");
        assert_eq!(crate::const_concat!("one"), "one");
    }
}
