//! Checking a JWS (an access token or a jwt-format key) on the data plane, at an opaque key's
//! cost once this node has seen it.
//!
//! The first check of a JWS pays one ECDSA verification. What a JWS with a good signature says
//! is then remembered (bounded) under the SHA-256 of its signature, never the signature itself,
//! with its signing input (header and payload: no secret, anyone holding the token reads them),
//! compared in full: memory holds nothing that could be presented as a credential. A lookup by
//! that digest compares digests, not secrets: what its timing could tell is about a SHA-256 of a
//! signature, of no use without a preimage.
//!
//! A remembered token also holds its *resolution* on this node: its key's snapshot (an access
//! token's narrowed to its scope) and whether it is on the denylist, as of the verification
//! cache's generation and the denylist's epoch. While neither has moved, a later check takes
//! the resolution as it is: one SHA-256 of ~86 bytes, one lookup, and the judging every key
//! gets, about what an opaque key's check costs (with many tokens checked in random order a
//! third more: a token's 390 bytes and the 300 bytes of signing input it is compared with are
//! read from memory, where a key is a line or two; see docs/BENCHMARKS.md). Whatever could
//! change the answer moves one of them (every invalidation of the cache, on this node or learnt
//! from another, whichever key it concerns; every change to the denylist), and the next check
//! resolves again. What changes with time alone (the key's and the token's expiry, a previous
//! secret's grace period) is judged on every check.

use super::signing::KeySet;
use super::{Keyward, UnknownKid};
use crate::cache::CachedKey;
use crate::verify::{Judged, Verdict, VerifyCode, VerifyQuery};
use crate::ServiceResult;
use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use crossbeam_utils::sync::ShardedLock;
use jsonwebtoken::{Algorithm, Validation};
use keyward_domain::clock::Reading;
use keyward_domain::permission::Permission;
use keyward_domain::secret::SecretHash;
use keyward_domain::token::{
    check_time, looks_like_jws, parse_scope, token_grants, AccessClaims, KeyClaims, TokenTime, ACCESS_TOKEN_TYP,
    KEY_TYP,
};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};

/// Verified tokens remembered at most (each holds its signing input and claims, ~0.5–1 KB, and
/// in its resolution an access token's own narrowed snapshot of its key, ~0.5 KB more); the
/// cache is emptied when full (cheap, and bounded).
const VERIFIED_CAPACITY: usize = 100_000;

/// What a JWS this instance signed says (its signature checked out).
pub(super) enum Claims {
    Access {
        claims: AccessClaims,
        scope: Vec<Permission>,
    },
    /// A jwt-format key: the keyed hash of its `jti` is what the key record stores.
    Key {
        claims: KeyClaims,
        jti_hash: SecretHash,
    },
}

impl Claims {
    /// The key the JWS names.
    fn key_id(&self) -> &str {
        match self {
            Claims::Access { claims, .. } => &claims.sub,
            Claims::Key { claims, .. } => &claims.sub,
        }
    }
}

/// A JWS whose signature this instance checked.
pub(super) struct VerifiedToken {
    /// Header and payload, as signed: a later presentation must match them in full.
    signing_input: Box<str>,
    pub(super) claims: Claims,
    /// What the token resolved to when last checked, if that may still hold.
    resolution: ArcSwapOption<Resolution>,
}

/// What a token resolved to on this node, and as of when.
struct Resolution {
    /// The verification cache's generation, read before the key was looked up.
    generation: u64,
    /// The denylist's epoch, read before the denylist was.
    denylist_epoch: u64,
    /// The key's snapshot as found, and what the token gets of it (an access token: the same
    /// narrowed to its scope); `None` when the token names no key, or a jwt-format key of which
    /// it is not a secret.
    key: Option<(Arc<CachedKey>, Arc<CachedKey>)>,
    /// An access token on the denylist.
    denied: bool,
}

/// Verified tokens by the SHA-256 of their signature.
type ByDigest = HashMap<[u8; 32], Arc<VerifiedToken>, foldhash::fast::RandomState>;

/// The tokens this node verified, and the denylist's epoch (see the module's documentation).
#[derive(Default)]
pub(super) struct VerifiedTokens {
    /// Sharded by thread: every check takes it to read.
    by_digest: ShardedLock<ByDigest>,
    denylist_epoch: AtomicU64,
}

impl VerifiedTokens {
    /// The token whose signature is `signature` and signing input `signing_input`, if this node
    /// verified it, to `with`.
    fn find<R>(&self, signing_input: &str, signature: &str, with: impl FnOnce(&Arc<VerifiedToken>) -> R) -> Option<R> {
        let digest = signature_digest(signature);
        // Without poisoning: nothing done under this lock panics.
        let tokens = self.by_digest.read().unwrap_or_else(PoisonError::into_inner);
        tokens.get(&digest).filter(|t| *t.signing_input == *signing_input).map(with)
    }

    fn insert(&self, signing_input: &str, signature: &str, claims: Claims) -> Arc<VerifiedToken> {
        let token =
            Arc::new(VerifiedToken { signing_input: signing_input.into(), claims, resolution: ArcSwapOption::empty() });
        let mut tokens = self.by_digest.write().unwrap_or_else(PoisonError::into_inner);
        if tokens.len() >= VERIFIED_CAPACITY {
            tokens.clear();
        }
        tokens.insert(signature_digest(signature), token.clone());
        token
    }

    /// To be called *after* every change to the denylist: whoever reads the new epoch then
    /// finds the change (the same order as the cache's generation).
    pub(super) fn denylist_changed(&self) {
        self.denylist_epoch.fetch_add(1, Ordering::AcqRel);
    }

    fn denylist_epoch(&self) -> u64 {
        self.denylist_epoch.load(Ordering::Acquire)
    }
}

/// What the verified-token cache holds of a token's signature.
fn signature_digest(signature: &str) -> [u8; 32] {
    Sha256::digest(signature.as_bytes()).into()
}

impl VerifiedToken {
    /// Whether this token may be presented where `expected_key` names a key (an `id:jws` pair)
    /// and where only keys are taken (`keys_only`: client authentication).
    fn may_stand_for(&self, expected_key: Option<&str>, keys_only: bool) -> bool {
        let access = matches!(self.claims, Claims::Access { .. });
        !(keys_only && access) && expected_key.is_none_or(|k| k == self.claims.key_id())
    }

    /// The verdict on a check of this token resolved as `resolution`, at `now`: `None` for
    /// `not_found`; else the snapshot the token gets and the code of [`Keyward::judge`], with
    /// the token's own time and revocation, in the order of keys' checks.
    fn judge(
        &self,
        resolution: &Resolution,
        query: &VerifyQuery<'_>,
        now: Reading,
    ) -> Option<(Arc<CachedKey>, VerifyCode)> {
        let (_, key) = resolution.key.as_ref()?;
        let now_ms = now.unix_millis();
        let seconds = now_ms.div_euclid(1000);
        let code = match &self.claims {
            Claims::Access { claims, .. } => {
                let time = check_time(claims.iat, Some(claims.exp), seconds);
                if time == TokenTime::NotYetValid {
                    return None;
                }
                // The key's own revocation or expiry comes first (as for keys); then the token's.
                match Keyward::judge(key, query, now_ms) {
                    key @ (VerifyCode::Revoked | VerifyCode::Expired) => key,
                    _ if resolution.denied => VerifyCode::Revoked,
                    _ if time == TokenTime::Expired => VerifyCode::Expired,
                    other => other,
                }
            }
            // The key record is the authority on expiry (a PATCH may have moved it since the JWS
            // was signed); the JWS's `exp` is for verifiers working offline.
            Claims::Key { claims, .. } => {
                if check_time(claims.iat, None, seconds) == TokenTime::NotYetValid {
                    return None;
                }
                Keyward::judge(key, query, now_ms)
            }
        };
        Some((key.clone(), code))
    }
}

impl Keyward {
    /// The check of a JWS this node has verified and resolved since anything changed that
    /// could change its answer, made without waiting; `None` when
    /// [`verify_jws`](Self::verify_jws) must make it (a JWS not seen yet, or to resolve again).
    pub(crate) fn verify_jws_resolved(
        &self,
        query: &VerifyQuery<'_>,
        jws: &str,
        expected_key: Option<&str>,
        now: Reading,
    ) -> Option<Judged> {
        let (signing_input, signature) = jws.rsplit_once('.')?;
        let judged = self.tokens().verified.find(signing_input, signature, |token| {
            let resolution = token.resolution.load();
            let resolution = resolution.as_deref().filter(|r| self.is_current(r))?;
            if !token.may_stand_for(expected_key, false) {
                return Some(Judged::Final(Verdict::not_found(now)));
            }
            Some(match token.judge(resolution, query, now) {
                None => Judged::Final(Verdict::not_found(now)),
                Some((key, code)) => Judged::passed(key, code, now),
            })
        })??;
        self.inner.counters.cache_hit();
        Some(judged)
    }

    /// The data-plane check of a JWS (an access token or a jwt-format key), with the same
    /// codes as keys. `expected_key` is the id of an `id:secret` pair; `keys_only` refuses
    /// access tokens (client authentication takes keys only).
    pub(crate) async fn verify_jws(
        &self,
        query: &VerifyQuery<'_>,
        jws: &str,
        expected_key: Option<&str>,
        keys_only: bool,
        now: DateTime<Utc>,
    ) -> ServiceResult<Verdict> {
        let reading = Reading::from_datetime(now);
        let Some(token) = self.verified(jws).await else {
            return Ok(Verdict::not_found(reading));
        };
        if !token.may_stand_for(expected_key, keys_only) {
            return Ok(Verdict::not_found(reading));
        }
        let resolution = match token.resolution.load_full().filter(|r| self.is_current(r)) {
            Some(resolution) => resolution,
            None => self.resolve(&token, now).await?,
        };
        match token.judge(&resolution, query, reading) {
            None => Ok(Verdict::not_found(reading)),
            Some((key, code)) => self.conclude(key, query, code, now).await,
        }
    }

    /// Has nothing changed since `resolution` was made that could change it?
    fn is_current(&self, resolution: &Resolution) -> bool {
        resolution.generation == self.inner.cache.generation()
            && resolution.denylist_epoch == self.tokens().verified.denylist_epoch()
    }

    /// Resolves a token on this node, and keeps the resolution for later checks when it holds
    /// until something changes.
    async fn resolve(&self, token: &VerifiedToken, now: DateTime<Utc>) -> ServiceResult<Arc<Resolution>> {
        // Read before what they guard: see `VerifyCache::generation` and `denylist_changed`.
        let generation = self.inner.cache.generation();
        let denylist_epoch = self.tokens().verified.denylist_epoch();
        let previous = token.resolution.load_full();
        let found = self.cached_key(token.claims.key_id(), now).await?;
        let mut lasting = true;
        let key = found.and_then(|entry| match &token.claims {
            Claims::Access { scope, .. } => {
                // The same snapshot as last time keeps its narrowed copy (and what is memoised of it).
                let reused = previous.as_ref().and_then(|p| p.key.clone()).filter(|(s, _)| Arc::ptr_eq(s, &entry));
                reused.or_else(|| {
                    let narrowed = Arc::new(entry.narrowed(token_grants(scope, &entry.grants)));
                    Some((entry, narrowed))
                })
            }
            Claims::Key { jti_hash, .. } => {
                if entry.secret_hash.ct_eq(jti_hash) {
                    Some((entry.clone(), entry))
                } else if entry.secret_matches(jti_hash, now.timestamp_millis()) {
                    // A previous secret within its grace period: true for now only.
                    lasting = false;
                    Some((entry.clone(), entry))
                } else {
                    None
                }
            }
        });
        let denied = match &token.claims {
            Claims::Access { claims, .. } => self.tokens().denylist.read().contains_key(claims.jti.as_str()),
            Claims::Key { .. } => false,
        };
        let resolution = Arc::new(Resolution { generation, denylist_epoch, key, denied });
        if lasting {
            token.resolution.store(Some(resolution.clone()));
        }
        Ok(resolution)
    }

    /// The verified content of a JWS, from the cache or by checking its signature once; `None`
    /// for anything this instance did not sign (never remembered: the cache cannot be filled
    /// with garbage).
    pub(super) async fn verified(&self, jws: &str) -> Option<Arc<VerifiedToken>> {
        let (signing_input, signature) = jws.rsplit_once('.')?;
        let verified = &self.tokens().verified;
        if let Some(token) = verified.find(signing_input, signature, Arc::clone) {
            return Some(token);
        }
        if !looks_like_jws(jws) {
            return None;
        }
        let keys = self.tokens().keys.read().clone();
        let mut result = self.check_jws_signature(&keys, jws);
        if matches!(result, Err(UnknownKid)) && self.may_reload() {
            if let Err(e) = self.reload_signing_keys().await {
                tracing::warn!(error = %e, "cannot reload the signing keys");
            }
            let keys = self.tokens().keys.read().clone();
            result = self.check_jws_signature(&keys, jws);
        }
        // A kid still unknown is not remembered: the rotation that made it may be loading now.
        let claims = result.ok()??;
        Some(verified.insert(signing_input, signature, claims))
    }

    /// What the JWS says, if `keys` signed it; `None` for a bad signature or a JWS of another
    /// kind than this instance's tokens and keys.
    fn check_jws_signature(&self, keys: &KeySet, jws: &str) -> Result<Option<Claims>, UnknownKid> {
        let Ok(header) = jsonwebtoken::decode_header(jws) else {
            return Ok(None);
        };
        let Some(kid) = header.kid.as_deref() else {
            return Ok(None);
        };
        let key = keys.by_kid.get(kid).ok_or(UnknownKid)?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        Ok(match header.typ.as_deref() {
            Some(ACCESS_TOKEN_TYP) => {
                jsonwebtoken::decode::<AccessClaims>(jws, &key.decoding, &validation).ok().and_then(|data| {
                    let scope = parse_scope(&data.claims.scope).ok()?;
                    Some(Claims::Access { claims: data.claims, scope })
                })
            }
            Some(KEY_TYP) => jsonwebtoken::decode::<KeyClaims>(jws, &key.decoding, &validation).ok().map(|data| {
                let jti_hash = self.inner.hasher.hash(&data.claims.jti);
                Claims::Key { claims: data.claims, jti_hash }
            }),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key_claims(sub: &str) -> Claims {
        let claims = KeyClaims { iss: "i".into(), sub: sub.into(), iat: 0, exp: None, jti: "j".into() };
        Claims::Key { claims, jti_hash: SecretHash([7; 32]) }
    }

    #[test]
    fn a_token_is_found_by_its_exact_signature_and_signing_input_only() {
        let tokens = VerifiedTokens::default();
        tokens.insert("eyJh.eyJw", "sig-one", key_claims("k1"));
        let found = |input: &str, signature: &str| tokens.find(input, signature, |t| t.claims.key_id().to_string());
        assert_eq!(found("eyJh.eyJw", "sig-one").as_deref(), Some("k1"));
        assert_eq!(found("eyJh.eyJw", "sig-onE"), None, "another signature");
        assert_eq!(found("eyJh.eyJx", "sig-one"), None, "the same signature on another payload");
        assert_eq!(found("eyJh.eyJ", "sig-one"), None, "a truncated payload");
        assert_eq!(found("eyJh.eyJw", "sig-on"), None, "a truncated signature");
    }

    #[test]
    fn the_cache_is_emptied_when_full_and_never_holds_more() {
        let tokens = VerifiedTokens::default();
        for i in 0..VERIFIED_CAPACITY + 1 {
            tokens.insert("eyJh.eyJw", &format!("sig-{i}"), key_claims("k"));
        }
        let held = tokens.by_digest.read().unwrap().len();
        assert_eq!(held, 1, "the full cache was emptied before the last insert");
        assert!(tokens.find("eyJh.eyJw", &format!("sig-{VERIFIED_CAPACITY}"), |_| ()).is_some());
    }

    #[test]
    fn a_token_stands_only_for_its_own_key_and_an_access_token_not_for_a_client() {
        let key =
            VerifiedToken { signing_input: "".into(), claims: key_claims("k1"), resolution: ArcSwapOption::empty() };
        assert!(key.may_stand_for(None, false) && key.may_stand_for(Some("k1"), true));
        assert!(!key.may_stand_for(Some("k2"), false));
        let claims = AccessClaims {
            iss: "i".into(),
            sub: "k1".into(),
            aud: "i".into(),
            exp: 1,
            iat: 0,
            jti: "j".into(),
            client_id: "k1".into(),
            scope: String::new(),
        };
        let access = VerifiedToken {
            signing_input: "".into(),
            claims: Claims::Access { claims, scope: Vec::new() },
            resolution: ArcSwapOption::empty(),
        };
        assert!(access.may_stand_for(Some("k1"), false));
        assert!(!access.may_stand_for(None, true), "client authentication takes keys only");
        assert!(!access.may_stand_for(Some("k2"), false));
    }

    #[test]
    fn the_denylist_epoch_moves_with_every_change() {
        let tokens = VerifiedTokens::default();
        let before = tokens.denylist_epoch();
        tokens.denylist_changed();
        assert_ne!(tokens.denylist_epoch(), before);
    }
}
