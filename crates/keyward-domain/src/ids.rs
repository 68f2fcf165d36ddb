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

pub fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
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
