//! Signed requests in the service: the verify keys API keys carry (given as PEM or JWK, or
//! generated), and the signature step of verification (SPEC §2 "Signed requests").
//!
//! The rules, where the spec leaves a choice (docs/DECISIONS.md "Signed requests"):
//! - A key with a verify key has every signature made for it (`keyid` = its id) checked,
//!   on reads too: a bad, expired or replayed one is `signature_invalid`. A signature is not
//!   an ornament; accepting a broken one on a read would hide tampering.
//! - Without a signature, a `write` check of a key with `require_signed_writes` is
//!   `signature_required`; reads, and keys without `require_signed_writes`, pass unsigned.
//! - A key without a verify key ignores signatures (there is nothing to check them with);
//!   `require_signed_writes` cannot be set on it.
//! - A `nonce` is accepted once per key, across every node (the store's `NonceStore`), and
//!   remembered for as long as its `created` would be accepted.

use crate::cache::CachedKey;
use crate::verify::VerifyCode;
use crate::{Keyward, ServiceError, ServiceResult};
use base64::Engine;
use chrono::{DateTime, Utc};
use keyward_domain::signature::{verify_request, HttpRequest, SignatureError, Window};
use keyward_domain::signing_key::{PrivateKeyPem, SigningKey, VerifyKey};

/// Why a signature step did not pass: `signature_required` or `signature_invalid`, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureFailure {
    pub code: VerifyCode,
    pub reason: String,
}

/// A verify key as given (`verify_key`): PEM SPKI, or a JWK as a JSON string. Returns the
/// normalized form stored (PEM SPKI).
pub fn parse_verify_key(input: &str) -> ServiceResult<VerifyKey> {
    let trimmed = input.trim();
    if trimmed.starts_with('{') {
        return Ok(parse_jwk(trimmed)?);
    }
    Ok(VerifyKey::from_pem(trimmed)?)
}

fn parse_jwk(json: &str) -> Result<VerifyKey, keyward_domain::ValidationError> {
    use keyward_domain::ValidationError as V;
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| V::new("verify_key", format!("not a JSON JWK: {e}")))?;
    let field = |name: &str| value.get(name).and_then(|v| v.as_str());
    if field("kty") != Some("EC") || field("crv") != Some("P-256") {
        return Err(V::new("verify_key", "the JWK must have kty \"EC\" and crv \"P-256\" (ECDSA P-256)"));
    }
    if value.get("d").is_some() {
        return Err(V::new("verify_key", "this JWK holds a private key (`d`): give only the public key"));
    }
    let coordinate = |name: &str| {
        let text = field(name).ok_or_else(|| V::new("verify_key", format!("the JWK has no `{name}`")))?;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| V::new("verify_key", format!("the JWK's `{name}` is not base64url")))
    };
    VerifyKey::from_coordinates(&coordinate("x")?, &coordinate("y")?)
}

/// The verify key of a new key: `verify_key` as given, or with `signing: "generate"` a new pair
/// (then the private key is returned, to be shown once). At most one of the two.
pub fn new_verify_key(
    verify_key: Option<&str>,
    signing: Option<&str>,
) -> ServiceResult<(Option<VerifyKey>, Option<PrivateKeyPem>)> {
    match (verify_key, signing) {
        (Some(_), Some(_)) => Err(ServiceError::validation(
            "signing",
            "give either `verify_key` (your own public key) or `signing: \"generate\"`, not both",
        )),
        (Some(pem), None) => Ok((Some(parse_verify_key(pem)?), None)),
        (None, Some("generate")) => {
            let (public, private) = generate_pair();
            Ok((Some(public), Some(private)))
        }
        (None, Some(other)) => {
            Err(ServiceError::validation("signing", format!("the only value is \"generate\", not {other:?}")))
        }
        (None, None) => Ok((None, None)),
    }
}

/// `require_signed_writes` as it results from a request: given, or else `default`; `true` needs
/// a verify key.
pub fn require_signed_writes(given: Option<bool>, default: bool, has_verify_key: bool) -> ServiceResult<bool> {
    let value = given.unwrap_or(default);
    if value && !has_verify_key {
        return Err(ServiceError::validation(
            "require_signed_writes",
            "needs a verify key: set `verify_key` (or create the key with `signing: \"generate\"`)",
        ));
    }
    Ok(value)
}

/// A new key pair for `signing: generate`: the public half to store, and the private key as
/// PKCS#8 PEM to hand out once.
pub fn generate_pair() -> (VerifyKey, PrivateKeyPem) {
    let key = SigningKey::generate();
    (key.verify_key(), key.to_pkcs8_pem())
}

/// The verify key of a stored key, parsed once when its snapshot is loaded.
pub(crate) fn stored_verify_key(id: &str, pem: Option<&str>) -> Option<VerifyKey> {
    let pem = pem?;
    match VerifyKey::from_pem(pem) {
        Ok(k) => Some(k),
        Err(e) => {
            // Stored keys were validated when set; fail closed (writes need a signature no one
            // can make) and say why in the log.
            tracing::error!(key_id = id, error = %e, "the stored verify key does not parse");
            None
        }
    }
}

impl Keyward {
    /// The signature step for a key that passed every other check. `write`: the check is for
    /// a write (a `write` permission, or a management call that changes something).
    pub async fn check_signature(
        &self,
        key: &CachedKey,
        request: Option<&HttpRequest>,
        write: bool,
        now: DateTime<Utc>,
    ) -> ServiceResult<Result<(), SignatureFailure>> {
        let needed = write && key.require_signed_writes;
        // The reason is only worded when a signature is needed: most checks (keys without a
        // verify key, reads) pass here without any work.
        let required = |reason: &dyn Fn() -> String| {
            if needed {
                Err(SignatureFailure { code: VerifyCode::SignatureRequired, reason: reason() })
            } else {
                Ok(())
            }
        };
        let (Some(verify_key), Some(request)) = (&key.verify_key, request) else {
            return Ok(required(&|| {
                format!(
                    "key {} requires signed write requests (RFC 9421, ecdsa-p256-sha256, keyid \"{}\"): add \
                     Signature-Input and Signature headers, e.g. with `keyward sign`",
                    key.id, key.id
                )
            }));
        };
        let window =
            Window { now: now.timestamp(), max_skew_seconds: i64::from(self.config().signature_max_skew_seconds) };
        let verified = match verify_request(request, key.id.as_str(), verify_key, window) {
            Ok(v) => v,
            Err(e @ SignatureError::Missing(_)) => {
                return Ok(required(&|| {
                    format!("key {} requires signed write requests: {e} (sign with `keyward sign`)", key.id)
                }))
            }
            Err(SignatureError::Invalid(reason)) => {
                return Ok(Err(SignatureFailure { code: VerifyCode::SignatureInvalid, reason }))
            }
        };
        if let Some(nonce) = &verified.nonce {
            let until = DateTime::from_timestamp(verified.remember_until, 0)
                .ok_or_else(|| ServiceError::Internal("nonce expiry out of range".into()))?;
            if !self.store().use_nonce(&key.id, nonce, until, now).await? {
                return Ok(Err(SignatureFailure {
                    code: VerifyCode::SignatureInvalid,
                    reason: format!("the nonce {nonce:?} was already used (a replayed request)"),
                }));
            }
        }
        Ok(Ok(()))
    }

    /// Deletes nonces that can no longer be replayed, a batch at a time.
    pub async fn prune_nonces(&self) -> u64 {
        let mut total = 0;
        loop {
            match self.store().prune_nonces(self.now(), 1000).await {
                Ok(n) => {
                    total += n;
                    if n < 1000 {
                        return total;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not prune signature nonces");
                    return total;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn verify_keys_from_pem_and_jwk() {
        let (public, _) = generate_pair();
        let pem = public.to_pem();
        assert_eq!(parse_verify_key(&format!("\n{pem}\n")).unwrap(), public);
        // RFC 9421 B.1.3 test-key-ecc-p256 as a JWK.
        let jwk = r#"{"kty":"EC","crv":"P-256","kid":"test-key-ecc-p256",
            "x":"qIVYZVLCrPZHGHjP17CTW0_-D9Lfw0EkjqF7xB4FivA","y":"Mc4nN9LTDOBhfoUeg8Ye9WedFRhnZXZJA12Qp0zZ6F0"}"#;
        let from_jwk = parse_verify_key(jwk).unwrap();
        assert!(from_jwk
            .to_pem()
            .starts_with("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqIVYZVLC"));
        let detail = |input: &str| parse_verify_key(input).unwrap_err().to_string();
        assert!(detail(r#"{"kty":"RSA","n":"x","e":"AQAB"}"#).contains("P-256"));
        assert!(detail(r#"{"kty":"EC","crv":"P-384","x":"a","y":"b"}"#).contains("P-256"));
        assert!(detail(&jwk.replace("\"kid\"", "\"d\":\"x\",\"kid\"")).contains("private"));
        assert!(detail(r#"{"kty":"EC","crv":"P-256","x":"qIVY"}"#).contains("`y`"));
        assert!(detail("{nope").contains("JSON"));
        assert!(detail("ssh-ed25519 AAAA").contains("PEM"));
    }
}
