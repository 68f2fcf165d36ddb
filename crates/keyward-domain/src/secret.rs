//! The opaque key format and how secrets are hashed and compared.
//!
//! A secret looks like `kw_1a2B3c4D5e6F7g8H_<40 base62><6 base62 check>`: a prefix, the key id,
//! the random part and a CRC32 check of everything before it. The check lets scanners and
//! clients reject a mistyped or truncated key without a network call; the server rejects such
//! input before it touches storage.
//!
//! Only `HMAC-SHA-256(pepper, secret)` is ever stored, and hashes are compared in constant time.
//! The HMAC is computed in its two halves (RFC 2104: an inner SHA-256 of the pepper's inner pad
//! and the secret, an outer one of its outer pad and that digest), so that a check may stop at
//! the inner digest once it has seen the key's current secret (see [`InnerDigest`]).

use crate::ids::{is_base62, random_base62, KeyId, BASE62};
use rand::RngCore;
use sha2::{Digest as _, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Number of random base62 characters in a secret (40 × log2(62) ≈ 238 bits).
pub const SECRET_RANDOM_LEN: usize = 40;
/// Minimum random part accepted when parsing (≥ 32 characters, ≥ 190 bits).
pub const SECRET_RANDOM_MIN: usize = 32;
/// Length of the CRC32 check, in base62 characters.
pub const CHECK_LEN: usize = 6;
/// Longest credential we bother parsing; anything longer is malformed.
const MAX_PRESENTED_LEN: usize = 512;

/// A key prefix: 1–10 of `[a-z0-9]`.
pub fn validate_prefix(prefix: &str) -> Result<(), String> {
    let ok = (1..=10).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!("key prefix {prefix:?} must be 1 to 10 characters of [a-z0-9]"))
    }
}

/// The server-side secret mixed into every stored hash.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Pepper(Vec<u8>);

impl Pepper {
    /// Peppers shorter than 32 bytes are refused: they would be guessable.
    pub fn new(bytes: Vec<u8>) -> Result<Self, String> {
        if bytes.len() < 32 {
            return Err("the pepper must be at least 32 bytes".into());
        }
        Ok(Self(bytes))
    }

    pub fn generate(rng: &mut dyn RngCore) -> Self {
        let mut bytes = vec![0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A hasher keyed once: both pads are absorbed here, so a hash starts from their states
    /// instead of re-keying HMAC for every request.
    pub fn hasher(&self) -> SecretHasher {
        // RFC 2104: a key longer than SHA-256's 64-byte block is hashed first; shorter ones are
        // padded with zeros to the block.
        let mut block = [0u8; SHA256_BLOCK];
        if self.0.len() > SHA256_BLOCK {
            block[..32].copy_from_slice(&Sha256::digest(&self.0));
        } else {
            block[..self.0.len()].copy_from_slice(&self.0);
        }
        let pad = |byte: u8| {
            let mut padded: [u8; SHA256_BLOCK] = std::array::from_fn(|i| block[i] ^ byte);
            let state = Sha256::new_with_prefix(padded);
            padded.zeroize();
            state
        };
        let hasher = SecretHasher { inner: pad(0x36), outer: pad(0x5c) };
        block.zeroize();
        hasher
    }
}

/// SHA-256's block size, which HMAC pads its key to.
const SHA256_BLOCK: usize = 64;

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper(<redacted>)")
    }
}

/// HMAC-SHA-256 keyed with the pepper: SHA-256 states that have absorbed the pepper's inner and
/// outer pads.
#[derive(Clone)]
pub struct SecretHasher {
    inner: Sha256,
    outer: Sha256,
}

impl fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHasher(<redacted>)")
    }
}

impl SecretHasher {
    /// `HMAC-SHA-256(pepper, secret)`: what storage holds.
    pub fn hash(&self, secret: &str) -> SecretHash {
        self.finish(&self.inner_digest(secret))
    }

    /// The first half of [`hash`](Self::hash): `SHA-256((pepper ⊕ ipad) ‖ secret)`.
    pub fn inner_digest(&self, secret: &str) -> InnerDigest {
        InnerDigest(self.inner.clone().chain_update(secret.as_bytes()).finalize().into())
    }

    /// The second half of [`hash`](Self::hash): `SHA-256((pepper ⊕ opad) ‖ inner)`.
    pub fn finish(&self, inner: &InnerDigest) -> SecretHash {
        SecretHash(self.outer.clone().chain_update(inner.0).finalize().into())
    }
}

/// HMAC's inner digest of a secret, `SHA-256((pepper ⊕ ipad) ‖ secret)`: the stored hash is the
/// outer SHA-256 of it.
///
/// Held only in memory, by a key's cache snapshot once a check has proved that this is its
/// current secret, so that later checks compare it and skip the outer SHA-256 (one of the
/// three SHA-256 compressions of a check). It tells an attacker no more than the stored hash
/// does: it is a pepper-keyed hash of a secret of over 190 random bits, from which the secret
/// can be found only by a SHA-256 preimage search; and nothing else is accepted in place of the
/// secret, since a presented key is always hashed.
#[derive(Clone, Copy)]
pub struct InnerDigest([u8; 32]);

impl InnerDigest {
    /// Constant-time comparison, as [`SecretHash::ct_eq`].
    pub fn ct_eq(&self, other: &InnerDigest) -> bool {
        SecretHash(self.0).ct_eq(&SecretHash(other.0))
    }
}

impl fmt::Debug for InnerDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InnerDigest(..)")
    }
}

/// A keyed hash of a secret: what storage holds instead of the secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    /// Constant-time comparison: the time taken does not depend on where the bytes differ.
    ///
    /// The differences of the four 64-bit words are ORed together (no branch, whatever the
    /// bytes) and the result compared with zero by `subtle`: one optimisation barrier, where
    /// `[u8]`'s `ct_eq` takes one per byte (32 calls, about 40 ns).
    pub fn ct_eq(&self, other: &SecretHash) -> bool {
        let word = |h: &[u8; 32], i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&h[8 * i..8 * i + 8]);
            u64::from_ne_bytes(w)
        };
        let difference = (0..4).fold(0u64, |d, i| d | (word(&self.0, i) ^ word(&other.0, i)));
        difference.ct_eq(&0).into()
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(SecretHash)
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

/// A freshly generated secret. Its `Debug` is redacted and it is wiped from memory on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PlainSecret(String);

impl PlainSecret {
    /// A secret made elsewhere (a jwt-format key's JWS).
    pub fn new(secret: String) -> Self {
        PlainSecret(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PlainSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainSecret(<redacted>)")
    }
}

/// The 6-character base62 rendering of CRC32 over `body` (62^6 > 2^32: every CRC has its own).
fn checksum(body: &str) -> [u8; CHECK_LEN] {
    let mut n = crc32fast::hash(body.as_bytes());
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// Makes a new opaque secret for `id`.
pub fn generate_secret(rng: &mut dyn RngCore, prefix: &str, id: &KeyId) -> PlainSecret {
    let mut s = format!("{prefix}_{id}_{}", random_base62(rng, SECRET_RANDOM_LEN));
    let check = checksum(&s);
    s.push_str(std::str::from_utf8(&check).expect("base62 is ASCII"));
    PlainSecret(s)
}

/// A credential as presented by a client, after its structure and checksum were checked.
///
/// Borrowed from the request: parsing allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PresentedKey<'a> {
    /// The key id embedded in the secret.
    pub key_id: &'a str,
    /// The whole secret (`<prefix>_<id>_<secret><check>`), which is what gets hashed.
    pub secret: &'a str,
}

impl fmt::Debug for PresentedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PresentedKey({}, <redacted>)", self.key_id)
    }
}

/// Why a presented credential was rejected without a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedKey {
    #[error("the key does not have the form <prefix>_<id>_<secret><check>")]
    Shape,
    #[error("the key's checksum does not match: it was mistyped or truncated")]
    Checksum,
    #[error("the id before ':' does not match the id inside the secret")]
    IdMismatch,
}

/// Parses `<prefix>_<id>_<secret><check>` or `id:secret`, checksum included.
///
/// Runs on every presented credential, so it reads the usual form once: the credential alone is
/// parsed first (it cannot contain `:`), and only when that fails is it split at its first `:`
/// and parsed as `id:secret`, which gives the same answer as splitting first.
pub fn parse_presented(input: &str) -> Result<PresentedKey<'_>, MalformedKey> {
    parse(input, ChecksumStep::Now)
}

/// [`parse_presented`] without the checksum: the structure only, for a check that finds the key
/// in memory and hashes the secret anyway (a mistyped key then fails the hash comparison, with
/// the same answer). Before storage is read for the key, [`PresentedKey::checksum_matches`] must
/// hold: malformed input never reaches the database.
pub fn parse_presented_shape(input: &str) -> Result<PresentedKey<'_>, MalformedKey> {
    parse(input, ChecksumStep::Later)
}

/// Whether [`parse`] checks the checksum.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ChecksumStep {
    Now,
    Later,
}

fn parse(input: &str, step: ChecksumStep) -> Result<PresentedKey<'_>, MalformedKey> {
    if input.len() > MAX_PRESENTED_LEN {
        return Err(MalformedKey::Shape);
    }
    let alone = parse_secret(input, step);
    if alone.is_ok() {
        return alone;
    }
    // `memchr` rather than `split_once`: a credential that is not a key (a token: hundreds of
    // bytes) is scanned here on every check, and `memchr` reads it by vector.
    if let Some(colon) = memchr::memchr(b':', input.as_bytes()) {
        let (id, secret) = (&input[..colon], &input[colon + 1..]);
        let key = parse_secret(secret, step)?;
        return if key.key_id == id { Ok(key) } else { Err(MalformedKey::IdMismatch) };
    }
    alone
}

impl PresentedKey<'_> {
    /// Does the secret's CRC32 check match the rest of it?
    pub fn checksum_matches(&self) -> bool {
        let (body, check) = self.secret.split_at(self.secret.len() - CHECK_LEN);
        checksum(body).as_slice() == check.as_bytes()
    }
}

/// The position of the first `_` among the first `limit` bytes (by vector: every presented
/// key is split here twice).
fn underscore_within(bytes: &[u8], limit: usize) -> Option<usize> {
    memchr::memchr(b'_', &bytes[..bytes.len().min(limit)])
}

fn parse_secret(secret: &str, step: ChecksumStep) -> Result<PresentedKey<'_>, MalformedKey> {
    // The prefix is at most 10 characters and the id at most 64: a `_` further away would make
    // either too long, so the search stops there.
    let prefix_len = underscore_within(secret.as_bytes(), 11).ok_or(MalformedKey::Shape)?;
    let (prefix, rest) = (&secret[..prefix_len], &secret[prefix_len + 1..]);
    let id_len = underscore_within(rest.as_bytes(), 65).ok_or(MalformedKey::Shape)?;
    let (id, tail) = (&rest[..id_len], &rest[id_len + 1..]);
    if validate_prefix(prefix).is_err()
        || id.is_empty()
        || id.len() > 64
        || !is_base62(id)
        || tail.len() < SECRET_RANDOM_MIN + CHECK_LEN
        || !is_base62(tail)
    {
        return Err(MalformedKey::Shape);
    }
    let key = PresentedKey { key_id: id, secret };
    if step == ChecksumStep::Now && !key.checksum_matches() {
        return Err(MalformedKey::Checksum);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(7)
    }

    #[test]
    fn generated_secret_round_trips_in_both_forms() {
        let mut rng = rng();
        let id = KeyId::generate(&mut rng);
        let secret = generate_secret(&mut rng, "kw", &id);
        let s = secret.expose();
        assert!(s.starts_with(&format!("kw_{id}_")));
        assert_eq!(s.len(), 3 + 16 + 1 + SECRET_RANDOM_LEN + CHECK_LEN);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        let parsed = parse_presented(s).unwrap();
        assert_eq!(parsed.key_id, id.as_str());
        assert_eq!(parsed.secret, s);
        let pair = format!("{id}:{s}");
        assert_eq!(parse_presented(&pair).unwrap().secret, s);
    }

    #[test]
    fn every_single_character_change_is_caught() {
        let mut rng = rng();
        let id = KeyId::generate(&mut rng);
        let secret = generate_secret(&mut rng, "kw", &id);
        let s = secret.expose();
        let start = s.len() - CHECK_LEN - SECRET_RANDOM_LEN;
        for i in start..s.len() {
            let mut bytes = s.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            assert!(parse_presented(&altered).is_err(), "change at {i} not caught");
        }
    }

    #[test]
    fn malformed_inputs_are_rejected() {
        let mut rng = rng();
        let id = KeyId::generate(&mut rng);
        let secret = generate_secret(&mut rng, "kw", &id);
        let s = secret.expose();
        assert_eq!(parse_presented(&s[..s.len() - 1]), Err(MalformedKey::Checksum));
        for bad in ["", "kw", "kw_", "kw_abc", "KW_abc_def", "kw__x", "kw_a_short", &"x".repeat(600)] {
            assert!(parse_presented(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_presented(&format!("other:{s}")), Err(MalformedKey::IdMismatch));
    }

    /// The parser as it was first written (split at `:`, then at each `_`): the faster one
    /// must answer exactly as it does.
    fn reference_parse(input: &str) -> Result<PresentedKey<'_>, MalformedKey> {
        fn secret_part(secret: &str) -> Result<PresentedKey<'_>, MalformedKey> {
            let (prefix, rest) = secret.split_once('_').ok_or(MalformedKey::Shape)?;
            let (id, tail) = rest.split_once('_').ok_or(MalformedKey::Shape)?;
            if validate_prefix(prefix).is_err()
                || id.is_empty()
                || id.len() > 64
                || !id.bytes().all(|b| b.is_ascii_alphanumeric())
                || tail.len() < SECRET_RANDOM_MIN + CHECK_LEN
                || !tail.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(MalformedKey::Shape);
            }
            let (body, check) = secret.split_at(secret.len() - CHECK_LEN);
            if checksum(body).as_slice() != check.as_bytes() {
                return Err(MalformedKey::Checksum);
            }
            Ok(PresentedKey { key_id: id, secret })
        }
        if input.len() > MAX_PRESENTED_LEN {
            return Err(MalformedKey::Shape);
        }
        if let Some((id, secret)) = input.split_once(':') {
            let key = secret_part(secret)?;
            return if key.key_id == id { Ok(key) } else { Err(MalformedKey::IdMismatch) };
        }
        secret_part(input)
    }

    #[test]
    fn parsing_answers_as_the_reference_parser() {
        use rand::Rng as _;
        let mut rng = rng();
        let alphabet = b"aZ09_:._-";
        let mut inputs: Vec<String> = Vec::new();
        for prefix in ["kw", "k", "abcdefghij", "abcdefghijk", "KW", ""] {
            for id_len in [0, 1, 16, 64, 65] {
                let id = random_base62(&mut rng, id_len);
                let mut s = format!("{prefix}_{id}_{}", random_base62(&mut rng, SECRET_RANDOM_LEN));
                s.push_str(std::str::from_utf8(&checksum(&s)).unwrap());
                inputs.push(format!("{id}:{s}"));
                inputs.push(format!("x{id}:{s}"));
                inputs.push(s.clone());
                // Every one-character change of a valid credential, to characters of every class.
                for i in 0..s.len() {
                    for c in alphabet {
                        let mut bytes = s.clone().into_bytes();
                        bytes[i] = *c;
                        inputs.push(String::from_utf8(bytes).unwrap());
                    }
                }
            }
        }
        for _ in 0..20_000 {
            let len = rng.gen_range(0..90);
            let s: String = (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char).collect();
            inputs.push(s);
        }
        inputs.push("x".repeat(MAX_PRESENTED_LEN + 1));
        let (mut valid, mut checksum_failures) = (0, 0);
        for input in &inputs {
            let (fast, reference) = (parse_presented(input), reference_parse(input));
            assert_eq!(fast, reference, "{input:?}");
            valid += usize::from(fast.is_ok());
            // The shape alone, with the checksum checked later, answers the same.
            match parse_presented_shape(input) {
                Ok(key) if key.checksum_matches() => assert_eq!(fast, Ok(key), "{input:?}"),
                Ok(_) => {
                    assert_eq!(fast, Err(MalformedKey::Checksum), "{input:?}");
                    checksum_failures += 1;
                }
                Err(_) => assert!(fast.is_err(), "{input:?}"),
            }
        }
        assert!(valid > 10, "valid credentials were among the inputs ({valid})");
        assert!(checksum_failures > 10, "mistyped credentials were among the inputs ({checksum_failures})");
    }

    #[test]
    fn hashes_depend_on_pepper_and_compare_in_constant_time() {
        let mut rng = rng();
        let a = Pepper::generate(&mut rng).hasher();
        let b = Pepper::generate(&mut rng).hasher();
        assert!(a.hash("x").ct_eq(&a.hash("x")));
        assert!(!a.hash("x").ct_eq(&a.hash("y")));
        assert!(!a.hash("x").ct_eq(&b.hash("x")));
        assert!(Pepper::new(vec![1; 31]).is_err());
    }

    #[test]
    fn hashes_are_hmac_sha256_and_the_inner_digest_is_its_first_half() {
        use hmac::{Hmac, Mac as _};
        // Peppers shorter than, as long as, and longer than SHA-256's block (hashed first).
        for pepper_len in [32, 63, 64, 65, 200] {
            let pepper: Vec<u8> = (0..pepper_len).map(|i| (i * 31 + 7) as u8).collect();
            let hasher = Pepper::new(pepper.clone()).unwrap().hasher();
            for len in 0..300 {
                let secret: String = (0..len).map(|i| BASE62[(i * 7 + len) % 62] as char).collect();
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&pepper).unwrap();
                mac.update(secret.as_bytes());
                let expected = SecretHash(mac.finalize().into_bytes().into());
                let hash = hasher.hash(&secret);
                assert!(hash.ct_eq(&expected), "pepper of {pepper_len} bytes, secret of {len}");
                assert!(hasher.finish(&hasher.inner_digest(&secret)).ct_eq(&expected));
            }
        }
        let hasher = Pepper::new(vec![9; 32]).unwrap().hasher();
        assert!(hasher.inner_digest("a").ct_eq(&hasher.inner_digest("a")));
        assert!(!hasher.inner_digest("a").ct_eq(&hasher.inner_digest("b")));
        assert_eq!(format!("{:?}", hasher.inner_digest("a")), "InnerDigest(..)");
    }

    #[test]
    fn hashes_differing_in_any_one_bit_are_unequal() {
        let a = SecretHash(std::array::from_fn(|i| i as u8 * 7));
        assert!(a.ct_eq(&a.clone()));
        for bit in 0..256 {
            let mut b = a;
            b.0[bit / 8] ^= 1 << (bit % 8);
            assert!(!a.ct_eq(&b) && !b.ct_eq(&a), "bit {bit}");
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let mut rng = rng();
        let id = KeyId::generate(&mut rng);
        let secret = generate_secret(&mut rng, "kw", &id);
        assert!(!format!("{secret:?}").contains(&secret.expose()[4..]));
        let parsed = parse_presented(secret.expose()).unwrap();
        assert!(!format!("{parsed:?}").contains(&secret.expose()[25..]));
    }

    #[test]
    fn prefixes() {
        assert!(validate_prefix("kw").is_ok());
        assert!(validate_prefix("acme2024").is_ok());
        for bad in ["", "KW", "k_w", "abcdefghijk"] {
            assert!(validate_prefix(bad).is_err(), "{bad}");
        }
    }
}
