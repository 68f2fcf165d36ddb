//! ECDSA P-256 keys of signed requests: the public half a key carries (its `verify_key`) and the
//! private half a client signs with.
//!
//! Parsing and normalizing key formats is off the hot path and uses RustCrypto's `p256`; the
//! check of a signature, which runs on every signed request, uses `ring` (about four times
//! faster on P-256 here). A [`VerifyKey`] is parsed once, when the key's snapshot is loaded, so
//! a check never re-parses PEM. JWK (a JSON object) is decoded by the caller, which knows JSON,
//! and handed over as its `x`/`y` coordinates ([`VerifyKey::from_coordinates`]).

use crate::ValidationError;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use zeroize::Zeroizing;

/// A P-256 public key, validated (a point on the curve), in the form `ring` verifies with.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyKey {
    /// The uncompressed SEC1 point (`0x04 || x || y`).
    point: [u8; 65],
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifyKey(P-256)")
    }
}

const KEY_HINT: &str = "give an ECDSA P-256 (prime256v1) public key as PEM SPKI (`-----BEGIN PUBLIC KEY-----`, e.g. \
                        from `openssl pkey -pubout`) or as a JWK with kty \"EC\" and crv \"P-256\"";

impl VerifyKey {
    fn from_public(key: &p256::PublicKey) -> Self {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        let mut point = [0u8; 65];
        // The uncompressed encoding of a point that is not the identity is always 65 bytes.
        let encoded = key.to_encoded_point(false);
        point.copy_from_slice(&encoded.as_bytes()[..65]);
        VerifyKey { point }
    }

    /// A PEM `PUBLIC KEY` (SubjectPublicKeyInfo) of a P-256 key.
    pub fn from_pem(pem: &str) -> Result<Self, ValidationError> {
        let pem = pem.trim();
        if pem.contains("PRIVATE KEY") {
            return Err(ValidationError::new(
                "verify_key",
                "this is a private key: give only its public half (`openssl pkey -in key.pem -pubout`); keep the \
                 private key to yourself",
            ));
        }
        if !pem.starts_with("-----BEGIN PUBLIC KEY-----") {
            return Err(ValidationError::new("verify_key", format!("not a PEM public key: {KEY_HINT}")));
        }
        p256::PublicKey::from_public_key_pem(pem).map(|k| Self::from_public(&k)).map_err(|e| {
            ValidationError::new(
                "verify_key",
                format!(
                    "not an ECDSA P-256 public key ({e}; RSA, Ed25519 and other curves are not accepted): {KEY_HINT}"
                ),
            )
        })
    }

    /// The affine coordinates of a JWK (`x`, `y`, each 32 bytes once base64url-decoded).
    pub fn from_coordinates(x: &[u8], y: &[u8]) -> Result<Self, ValidationError> {
        if x.len() != 32 || y.len() != 32 {
            return Err(ValidationError::new(
                "verify_key",
                "the JWK's x and y must each be 32 bytes (base64url) for P-256",
            ));
        }
        let mut point = [0u8; 65];
        point[0] = 4;
        point[1..33].copy_from_slice(x);
        point[33..].copy_from_slice(y);
        p256::PublicKey::from_sec1_bytes(&point)
            .map(|k| Self::from_public(&k))
            .map_err(|_| ValidationError::new("verify_key", "the JWK's x and y are not a point on the P-256 curve"))
    }

    /// The normalized form stored and shown: PEM SPKI with `\n` line endings.
    pub fn to_pem(&self) -> String {
        p256::PublicKey::from_sec1_bytes(&self.point)
            .ok()
            .and_then(|k| k.to_public_key_pem(LineEnding::LF).ok())
            .unwrap_or_default()
    }

    /// Checks a raw `r || s` (64 bytes) ECDSA P-256 SHA-256 signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &self.point[..])
            .verify(message, signature)
            .is_ok()
    }
}

/// A private key in PEM, as handed out once: zeroized on drop, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKeyPem(Zeroizing<String>);

impl PrivateKeyPem {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PrivateKeyPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKeyPem(<redacted>)")
    }
}

/// A P-256 private key that signs requests (the client's half; Keyward never stores one).
pub struct SigningKey(p256::ecdsa::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// A new random key pair.
    pub fn generate() -> Self {
        SigningKey(p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng))
    }

    /// A PEM private key: PKCS#8 (`PRIVATE KEY`, e.g. `openssl pkey`) or SEC1 (`EC PRIVATE
    /// KEY`, `openssl ecparam -genkey`).
    pub fn from_pem(pem: &str) -> Result<Self, ValidationError> {
        let pem = pem.trim();
        let parsed = if pem.contains("BEGIN EC PRIVATE KEY") {
            p256::SecretKey::from_sec1_pem(pem).map_err(|e| e.to_string())
        } else {
            p256::SecretKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())
        };
        parsed.map(|k| SigningKey(k.into())).map_err(|e| {
            ValidationError::new("key_file", format!("not a P-256 private key in PEM (PKCS#8 or SEC1): {e}"))
        })
    }

    /// The private key as PKCS#8 PEM (what `signing: generate` hands out once).
    pub fn to_pkcs8_pem(&self) -> PrivateKeyPem {
        let secret = p256::SecretKey::from(&self.0);
        // Encoding a valid P-256 key cannot fail; an empty PEM would fail to parse loudly.
        PrivateKeyPem(secret.to_pkcs8_pem(LineEnding::LF).map(|p| Zeroizing::new(p.to_string())).unwrap_or_default())
    }

    pub fn verify_key(&self) -> VerifyKey {
        VerifyKey::from_public(&p256::PublicKey::from(self.0.verifying_key()))
    }

    /// A raw `r || s` signature of `message` (RFC 9421 §3.3.4).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let signature: p256::ecdsa::Signature = self.0.sign(message);
        signature.to_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn generated_pairs_round_trip_through_pem() {
        let key = SigningKey::generate();
        let again = SigningKey::from_pem(key.to_pkcs8_pem().expose()).unwrap();
        let public = VerifyKey::from_pem(&key.verify_key().to_pem()).unwrap();
        assert_eq!(public, again.verify_key());
        let signature = key.sign(b"hello");
        assert!(public.verify(b"hello", &signature));
        assert!(!public.verify(b"hellO", &signature));
        assert!(!public.verify(b"hello", &signature[..63]));
    }

    #[test]
    fn bad_public_keys_are_explained() {
        let private = SigningKey::generate().to_pkcs8_pem();
        assert_eq!(format!("{private:?}"), "PrivateKeyPem(<redacted>)");
        assert!(VerifyKey::from_pem(private.expose()).unwrap_err().message.contains("private key"));
        assert!(VerifyKey::from_pem("hello").unwrap_err().message.contains("PEM"));
        // An Ed25519 public key (RFC 9421 B.1.4).
        let ed25519 = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n-----END PUBLIC KEY-----";
        assert!(VerifyKey::from_pem(ed25519).unwrap_err().message.contains("P-256"));
        assert!(VerifyKey::from_coordinates(&[1; 32], &[2; 32]).is_err(), "not on the curve");
        assert!(VerifyKey::from_coordinates(&[1; 31], &[2; 32]).is_err());
    }
}
