//! The instance's token-signing keys: ES256 (P-256) key pairs made with aws-lc-rs, whose
//! private halves are stored encrypted with AES-256-GCM under a key derived from the pepper
//! (HKDF-SHA-256 with a purpose label), so a stolen database alone cannot mint tokens. The key id
//! (`kid`) is the RFC 7638 thumbprint of the public key. Private keys exist in the clear only in
//! this process's memory and never reach a log (`Debug` is redacted).

use crate::{ServiceError, ServiceResult};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};
use keyward_store::SigningKeyRecord;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use zeroize::Zeroizing;

pub const ALGORITHM: &str = "ES256";
/// What the key derived from the pepper is for; another purpose gets another key.
const PURPOSE: &[u8] = b"keyward token-signing private key encryption v1";
const NONCE_LEN: usize = 12;

/// Encrypts and decrypts private keys at rest.
pub(crate) struct Sealer(Aes256Gcm);

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

impl Sealer {
    pub(crate) fn new(pepper: &[u8]) -> Self {
        let mut okm = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA-256's limit of 255 × 32: expand cannot fail.
        let _ = hkdf::Hkdf::<Sha256>::new(None, pepper).expand(PURPOSE, okm.as_mut());
        Sealer(Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(okm.as_ref())))
    }

    /// `nonce ‖ ciphertext`, bound to the key id (a sealed key cannot be moved to another row).
    fn seal(&self, kid: &str, plaintext: &[u8]) -> ServiceResult<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .0
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: kid.as_bytes() })
            .map_err(|_| ServiceError::Internal("cannot encrypt a signing key".into()))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    fn open(&self, kid: &str, sealed: &[u8]) -> ServiceResult<Zeroizing<Vec<u8>>> {
        let fail = || {
            ServiceError::Internal(format!(
                "cannot decrypt the signing key {kid}: the pepper is not the one it was stored with"
            ))
        };
        if sealed.len() <= NONCE_LEN {
            return Err(fail());
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.0
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: kid.as_bytes() })
            .map(Zeroizing::new)
            .map_err(|_| fail())
    }
}

/// A public signing key, as the JWKS publishes it and verification uses it.
pub struct PublicKey {
    pub kid: String,
    /// Base64url coordinates of the P-256 point.
    pub x: String,
    pub y: String,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub(crate) decoding: DecodingKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey").field("kid", &self.kid).field("retired_at", &self.retired_at).finish()
    }
}

/// The key that signs now.
pub(crate) struct CurrentKey {
    pub(crate) kid: String,
    pub(crate) encoding: EncodingKey,
}

impl std::fmt::Debug for CurrentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// Every signing key this node knows, as loaded from the store.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    pub(crate) current: Option<CurrentKey>,
    /// Current first, then retired, newest first.
    pub(crate) public: Vec<Arc<PublicKey>>,
    pub(crate) by_kid: HashMap<String, Arc<PublicKey>>,
}

impl KeySet {
    pub(crate) fn load(records: &[SigningKeyRecord], sealer: &Sealer) -> ServiceResult<KeySet> {
        let mut set = KeySet::default();
        for r in records {
            let public = Arc::new(public_key(r)?);
            set.by_kid.insert(r.kid.clone(), public.clone());
            set.public.push(public);
            if let (None, None, Some(sealed)) = (&set.current, r.retired_at, &r.encrypted_private_key) {
                let pkcs8 = sealer.open(&r.kid, sealed)?;
                set.current = Some(CurrentKey { kid: r.kid.clone(), encoding: EncodingKey::from_ec_der(&pkcs8) });
            }
        }
        Ok(set)
    }
}

fn public_key(r: &SigningKeyRecord) -> ServiceResult<PublicKey> {
    let point = &r.public_key;
    if r.algorithm != ALGORITHM || point.len() != 65 || point[0] != 4 {
        return Err(ServiceError::Internal(format!("the signing key {} is not an ES256 public key", r.kid)));
    }
    let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
    let y = URL_SAFE_NO_PAD.encode(&point[33..]);
    let decoding = DecodingKey::from_ec_components(&x, &y)
        .map_err(|e| ServiceError::Internal(format!("the signing key {} is unusable: {e}", r.kid)))?;
    Ok(PublicKey { kid: r.kid.clone(), x, y, created_at: r.created_at, retired_at: r.retired_at, decoding })
}

/// RFC 7638: SHA-256 over the required members in lexicographic order, base64url.
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A new key pair, its private half sealed, ready to store.
pub(crate) fn generate(sealer: &Sealer, now: DateTime<Utc>) -> ServiceResult<SigningKeyRecord> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| ServiceError::Internal("cannot generate a signing key".into()))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|_| ServiceError::Internal("cannot read back a generated signing key".into()))?;
    let point = pair.public_key().as_ref().to_vec();
    if point.len() != 65 {
        return Err(ServiceError::Internal("unexpected P-256 public key encoding".into()));
    }
    let kid = thumbprint(&URL_SAFE_NO_PAD.encode(&point[1..33]), &URL_SAFE_NO_PAD.encode(&point[33..]));
    let sealed = sealer.seal(&kid, pkcs8.as_ref())?;
    Ok(SigningKeyRecord {
        kid,
        algorithm: ALGORITHM.into(),
        public_key: point,
        encrypted_private_key: Some(sealed),
        created_at: now,
        retired_at: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_with_the_same_pepper_and_kid() {
        let sealer = Sealer::new(&[1; 32]);
        let record = generate(&sealer, Utc::now()).unwrap();
        let sealed = record.encrypted_private_key.clone().unwrap();
        assert!(sealer.open(&record.kid, &sealed).is_ok());
        assert!(Sealer::new(&[2; 32]).open(&record.kid, &sealed).is_err(), "another pepper");
        assert!(sealer.open("other", &sealed).is_err(), "another row");
        let set = KeySet::load(std::slice::from_ref(&record), &sealer).unwrap();
        assert_eq!(set.current.unwrap().kid, record.kid);
        assert_eq!(record.kid.len(), 43, "a SHA-256 thumbprint");
    }
}
