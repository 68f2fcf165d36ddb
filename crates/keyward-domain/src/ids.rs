//! Newtype ids, so a key id can never be passed where an admin id is expected.
//!
//! Ids are random base62 strings: they use only `[A-Za-z0-9]`, so no client has to escape them
//! in a URL, a header or an `id:secret` pair.

use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use std::fmt;

pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` uniformly random base62 characters.
pub fn random_base62(rng: &mut dyn RngCore, len: usize) -> String {
    (0..len).map(|_| BASE62[rng.gen_range(0..62)] as char).collect()
}

/// A log record id: 8 base62 digits of the time in milliseconds, then 12 random ones. Ids made
/// later sort later, so the unique index on them grows at its end (one page touched per batch
/// of usage records, not one per record), and ≈ 71 random bits keep them unique.
pub fn log_record_id(rng: &mut dyn RngCore, time_ms: i64) -> String {
    let t = time_ms.max(0) as u64;
    let time_digits = (0..8).rev().map(|i| BASE62[(t / 62u64.pow(i) % 62) as usize] as char);
    time_digits.chain((0..12).map(|_| BASE62[rng.gen_range(0..62)] as char)).collect()
}

/// The longest string [`inline_words`] holds.
pub const INLINE_LEN: usize = 23;

/// A string of at most [`INLINE_LEN`] bytes as three words: its bytes, zero after its end, and
/// its length in the last byte (`None` when it is longer). Two strings are equal exactly when
/// their words are, so short names and ids are compared and hashed as three integers, in place,
/// without following a pointer.
pub fn inline_words(text: &str) -> Option<[u64; 3]> {
    if text.len() > INLINE_LEN {
        return None;
    }
    let mut bytes = [0u8; INLINE_LEN + 1];
    bytes[..text.len()].copy_from_slice(text.as_bytes());
    bytes[INLINE_LEN] = text.len() as u8;
    Some(std::array::from_fn(|i| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[8 * i..8 * i + 8]);
        u64::from_ne_bytes(word)
    }))
}

/// Is every character one of `[0-9A-Za-z]`? Tested without a branch per byte (the compiler
/// makes a vector loop of it): every presented key is checked with this before any lookup.
pub fn is_base62(s: &str) -> bool {
    s.bytes().fold(true, |ok, b| ok & (b.is_ascii_digit() | ((b | 0x20).wrapping_sub(b'a') < 26)))
}

/// Length of a generated key id (16 base62 characters ≈ 95 bits).
pub const KEY_ID_LEN: usize = 16;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn generate(rng: &mut dyn RngCore) -> Self {
                Self(random_base62(rng, $len))
            }

            /// Wraps an id read from storage or a URL; ids are opaque, so any string is accepted
            /// and simply finds nothing when it does not exist.
            pub fn from_string(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

id_type!(
    /// A key's public id: shown in the grid, used in logs and as OAuth `client_id`.
    KeyId,
    KEY_ID_LEN
);
id_type!(
    /// An administrator's id.
    AdminId,
    16
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base62_is_exactly_digits_and_ascii_letters() {
        for b in 0..=255u8 {
            let s = [b'a', b, b'Z'];
            let s = String::from_utf8_lossy(&s);
            assert_eq!(is_base62(&s), b.is_ascii_alphanumeric(), "byte {b}");
        }
        assert!(is_base62(""));
        assert!(is_base62(std::str::from_utf8(BASE62).unwrap_or_default()));
        assert!(!is_base62("abc_def"));
    }

    #[test]
    fn log_record_ids_sort_by_time_and_differ_within_a_millisecond() {
        let mut rng = rand::thread_rng();
        let t = 1_795_000_000_000;
        let (a, b, later) = (log_record_id(&mut rng, t), log_record_id(&mut rng, t), log_record_id(&mut rng, t + 1));
        assert_eq!((a.len(), is_base62(&a)), (20, true));
        assert_ne!(a, b);
        assert!(a < later && b < later, "{a} {b} {later}");
        assert!(log_record_id(&mut rng, t + 62 * 62) > later, "a carry into a higher digit still sorts later");
    }
}
