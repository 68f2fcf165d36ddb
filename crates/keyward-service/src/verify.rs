//! The data plane: is this presented key valid, from this address, for this permission?
//!
//! Order of checks, and why: malformed input is rejected before any lookup (no storage access
//! for garbage); an unknown id or a secret that does not match is `not_found`, so nothing about
//! a key is revealed to a caller without its full secret; then revoked (which wins over
//! expired), expired, owner disabled, network, permission, and last the request's signature
//! (see [`crate::signing`]), the one step that may write (a nonce).

use crate::cache::{CachedKey, Lookup};
use crate::usage::UsageEvent;
use crate::{Keyward, ServiceResult};
use chrono::{DateTime, Utc};
use keyward_domain::clock::{to_millis, Reading};
use keyward_domain::network;
use keyward_domain::permission::{allows, Access, Permission};
use keyward_domain::secret::{parse_presented_shape, InnerDigest, PresentedKey};
use keyward_domain::signature::HttpRequest;
use keyward_domain::token::JWS_START;
use std::net::IpAddr;
use std::sync::Arc;

/// The answer codes of SPEC §2 "Verification" (in the order of [`crate::metrics::CODES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyCode {
    Valid,
    NotFound,
    Expired,
    Revoked,
    OwnerDisabled,
    IpNotAllowed,
    InsufficientPermission,
    SignatureRequired,
    SignatureInvalid,
}

impl VerifyCode {
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyCode::Valid => "valid",
            VerifyCode::NotFound => "not_found",
            VerifyCode::Expired => "expired",
            VerifyCode::Revoked => "revoked",
            VerifyCode::OwnerDisabled => "owner_disabled",
            VerifyCode::IpNotAllowed => "ip_not_allowed",
            VerifyCode::InsufficientPermission => "insufficient_permission",
            VerifyCode::SignatureRequired => "signature_required",
            VerifyCode::SignatureInvalid => "signature_invalid",
        }
    }

    /// Would forward-auth answer `401` (the credential itself is no good) rather than `403`?
    pub fn is_authentication_failure(self) -> bool {
        matches!(self, VerifyCode::NotFound | VerifyCode::Expired | VerifyCode::Revoked)
    }
}

/// One verification question. `key` may also be an access token, or a jwt-format key (alone
/// or as `id:jws`).
#[derive(Debug, Clone, Copy)]
pub struct VerifyQuery<'a> {
    /// The credential as presented: `<prefix>_<id>_<secret><check>` or `id:secret`.
    pub key: &'a str,
    pub permission: Option<&'a Permission>,
    pub target: Option<&'a str>,
    pub client_ip: Option<IpAddr>,
    /// The client's request, for keys with a verify key (RFC 9421 signatures).
    pub request: Option<&'a HttpRequest>,
}

/// The answer: a code, and the key's snapshot when the caller proved they hold its secret.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub code: VerifyCode,
    pub key: Option<Arc<CachedKey>>,
    /// When the check was made: the clock's reading, at its full precision (the clock is read
    /// once per check; the checks themselves use it in milliseconds, as times are stored). The
    /// usage log orders checks of one millisecond by it.
    pub time: Reading,
}

impl Verdict {
    pub(crate) fn not_found(time: Reading) -> Self {
        Verdict { code: VerifyCode::NotFound, key: None, time }
    }
}

/// What is left of a check after its synchronous part ([`Keyward::verify_cached`]).
enum Rest<'q> {
    /// Nothing: this is the verdict.
    Done(Verdict),
    /// Not an opaque key: a token or a jwt-format key, alone or as `id:jws`.
    Jws { jws: &'q str, id: Option<&'q str> },
    /// A well-formed opaque key whose snapshot must be read from the store, with its secret's
    /// HMAC inner digest (already computed during the lookup).
    Load(PresentedKey<'q>, InnerDigest),
    /// A check that passed, of a key with a verify key or that requires signed writes.
    Signature(Arc<CachedKey>, VerifyCode),
}

/// A presented credential judged against its key's snapshot.
pub(crate) enum Judged {
    Final(Verdict),
    /// Passed so far; the key's signature step is left.
    Signature(Arc<CachedKey>, VerifyCode),
}

impl Judged {
    /// The judgement on a credential the caller proved they hold: `code`, unless the check
    /// passed for a key with a signature step, which is left to [`Keyward::conclude`].
    pub(crate) fn passed(entry: Arc<CachedKey>, code: VerifyCode, now: Reading) -> Judged {
        if Keyward::has_signature_step(&entry, code) {
            return Judged::Signature(entry, code);
        }
        Judged::Final(Verdict { code, key: Some(entry), time: now })
    }
}

impl From<Judged> for Rest<'_> {
    fn from(judged: Judged) -> Self {
        match judged {
            Judged::Final(verdict) => Rest::Done(verdict),
            Judged::Signature(entry, code) => Rest::Signature(entry, code),
        }
    }
}

/// Which data-plane endpoint a check came through, as the usage log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `POST /v1/verify` (`key.verified`).
    Verify,
    /// `GET /v1/forward-auth` (`forward_auth`).
    ForwardAuth,
}

impl Channel {
    fn action(self) -> &'static str {
        match self {
            Channel::Verify => "key.verified",
            Channel::ForwardAuth => "forward_auth",
        }
    }
}

impl Keyward {
    /// A data-plane check: [`verify`](Self::verify), counted by code and recorded in the usage
    /// log (without waiting for it to be written).
    pub async fn check(&self, query: VerifyQuery<'_>, channel: Channel) -> ServiceResult<Verdict> {
        let verdict = self.verify(query).await?;
        self.inner.counters.count(verdict.code);
        if self.inner.usage.enabled() {
            self.inner.usage.record(UsageEvent {
                time: verdict.time,
                action: channel.action(),
                key: verdict.key.as_ref(),
                code: verdict.code.as_str(),
                permission: query.permission,
                target: query.target,
                client_ip: query.client_ip,
                success: verdict.code == VerifyCode::Valid,
            });
        }
        Ok(verdict)
    }

    /// Is the key valid for this query? The answer only: nothing is logged or counted (the
    /// management API authenticates its callers with this).
    ///
    /// The usual check (an opaque key whose snapshot is cached, or a token this node has
    /// resolved, without a signature step) is made without awaiting anything
    /// ([`verify_cached`](Self::verify_cached)); what is left of any other check is one boxed
    /// future, so the future every check creates and moves stays small.
    pub async fn verify(&self, query: VerifyQuery<'_>) -> ServiceResult<Verdict> {
        let reading = self.inner.clock.reading();
        let mut verdict = match self.verify_cached(&query, reading) {
            Rest::Done(verdict) => return Ok(verdict),
            // The slower steps compare times as `DateTime`s, in milliseconds.
            rest => Box::pin(self.verify_rest(rest, &query, to_millis(reading.to_datetime()))).await?,
        };
        verdict.time = reading;
        Ok(verdict)
    }

    /// The part of a check that never waits: parse the credential (its shape: the checksum is
    /// checked before the store is read, see [`parse_presented_shape`]), find the key's snapshot
    /// in the cache, compare the secret and judge; or answer a token from its resolution.
    fn verify_cached<'q>(&self, query: &VerifyQuery<'q>, now: Reading) -> Rest<'q> {
        // An opaque key first (the usual credential); the forms never overlap: a JWS has `.`s,
        // which an opaque key cannot hold.
        let Ok(presented) = parse_presented_shape(query.key) else {
            return self.verify_jws_cached(query, now);
        };
        // The presented secret is hashed while the processor fetches the cache's slot for the
        // id (with many keys cached, from memory): hashing first and then looking up would wait
        // for the two in turn.
        let hasher = &self.inner.hasher;
        let (found, inner) = self.cached(presented.key_id, now.unix_millis(), || hasher.inner_digest(presented.secret));
        let entry = match found {
            Some(Some(entry)) => entry,
            Some(None) => return Rest::Done(Verdict::not_found(now)),
            None if presented.checksum_matches() => return Rest::Load(presented, inner),
            // Mistyped or truncated: rejected without reading the store.
            None => return Rest::Done(Verdict::not_found(now)),
        };
        self.judge_presented(entry, &inner, query, now).into()
    }

    /// A credential that is not an opaque key: a JWS, alone or as `id:jws`, answered here when
    /// this node has verified and resolved it ([`verify_jws_resolved`](Self::verify_jws_resolved)).
    fn verify_jws_cached<'q>(&self, query: &VerifyQuery<'q>, now: Reading) -> Rest<'q> {
        // Whether a credential that starts like a JWS is one is for `verify_jws` to say: a
        // token it has verified before is found without reading it through again.
        let (jws, id) = if query.key.starts_with(JWS_START) {
            (query.key, None)
        } else if let Some((id, jws)) = query.key.split_once(':').filter(|(_, s)| s.starts_with(JWS_START)) {
            (jws, Some(id))
        } else {
            return Rest::Done(Verdict::not_found(now));
        };
        match self.verify_jws_resolved(query, jws, id, now) {
            Some(judged) => judged.into(),
            None => Rest::Jws { jws, id },
        }
    }

    /// The rest of a check that [`verify_cached`](Self::verify_cached) could not finish.
    async fn verify_rest(&self, rest: Rest<'_>, query: &VerifyQuery<'_>, now: DateTime<Utc>) -> ServiceResult<Verdict> {
        let (entry, code) = match rest {
            Rest::Done(verdict) => return Ok(verdict),
            Rest::Jws { jws, id } => return self.verify_jws(query, jws, id, false, now).await,
            Rest::Load(presented, inner) => {
                let Some(entry) = self.load_key(presented.key_id, now).await? else {
                    return Ok(Verdict::not_found(Reading::from_datetime(now)));
                };
                match self.judge_presented(entry, &inner, query, Reading::from_datetime(now)) {
                    Judged::Final(verdict) => return Ok(verdict),
                    Judged::Signature(entry, code) => (entry, code),
                }
            }
            Rest::Signature(entry, code) => (entry, code),
        };
        self.conclude(entry, query, code, now).await
    }

    /// The verdict on a presented secret (its HMAC's inner digest) for the key's snapshot:
    /// `not_found` unless it is the key's secret, then [`judge`](Self::judge); a check that
    /// passed, of a key with a signature step, is left to [`conclude`](Self::conclude).
    fn judge_presented(
        &self,
        entry: Arc<CachedKey>,
        inner: &InnerDigest,
        query: &VerifyQuery<'_>,
        now: Reading,
    ) -> Judged {
        let now_ms = now.unix_millis();
        if !self.secret_matches(&entry, inner, now_ms) {
            return Judged::Final(Verdict::not_found(now));
        }
        let code = Self::judge(&entry, query, now_ms);
        Judged::passed(entry, code, now)
    }

    /// Is the secret whose HMAC inner digest is `inner` the key's current secret, or its
    /// previous one within its grace period?
    ///
    /// Once a check has proved the current secret, the snapshot remembers its inner digest
    /// ([`InnerDigest`]: why that is safe is said there), and later checks compare that, which
    /// spares them the HMAC's outer SHA-256. Any other secret is hashed in full and compared
    /// with the stored hashes, in constant time like every comparison here.
    fn secret_matches(&self, entry: &CachedKey, inner: &InnerDigest, now_ms: i64) -> bool {
        if entry.proven_inner.get().is_some_and(|proven| proven.ct_eq(inner)) {
            return true;
        }
        let hash = self.inner.hasher.finish(inner);
        let current = entry.secret_hash.ct_eq(&hash);
        if current {
            // Only a secret whose full hash matched the stored one is remembered.
            let _ = entry.proven_inner.set(*inner);
        }
        current | entry.secret_matches(&hash, now_ms)
    }

    /// Does [`conclude`](Self::conclude) have a signature step to take? Only for a check that
    /// passed, of a key with a verify key or one that requires signed writes: for any other key
    /// [`check_signature`](Self::check_signature) finds nothing to check and nothing required,
    /// so the usual check is answered here without awaiting it.
    fn has_signature_step(entry: &CachedKey, code: VerifyCode) -> bool {
        code == VerifyCode::Valid && (entry.verify_key.is_some() || entry.require_signed_writes)
    }

    /// The checks after the caller proved they hold the credential, in the order of SPEC §2.
    ///
    /// `now_ms`: Unix milliseconds (times are stored in milliseconds).
    pub(crate) fn judge(entry: &CachedKey, query: &VerifyQuery<'_>, now_ms: i64) -> VerifyCode {
        if entry.revoked {
            VerifyCode::Revoked
        } else if entry.expires_at.is_some_and(|e| e.timestamp_millis() <= now_ms) {
            VerifyCode::Expired
        } else if entry.owner_disabled {
            VerifyCode::OwnerDisabled
        } else if !network::allows(&entry.networks, query.client_ip) {
            VerifyCode::IpNotAllowed
        } else if query.permission.is_some_and(|p| !allows(&entry.grants, p, query.target)) {
            VerifyCode::InsufficientPermission
        } else {
            VerifyCode::Valid
        }
    }

    /// The verdict on a credential the caller proved they hold: `code` from [`judge`]
    /// (Self::judge) (and the token rules), then, for a check that passed, the signature step
    /// of a key with a verify key (signed requests), whatever the credential's form, so that
    /// exchanging a key for an access token cannot skip it.
    pub(crate) async fn conclude(
        &self,
        entry: Arc<CachedKey>,
        query: &VerifyQuery<'_>,
        code: VerifyCode,
        now: DateTime<Utc>,
    ) -> ServiceResult<Verdict> {
        let code = if code == VerifyCode::Valid {
            let write = query.permission.is_some_and(|p| p.access == Access::Write);
            match self.check_signature(&entry, query.request, write, now).await? {
                Ok(()) => VerifyCode::Valid,
                Err(failure) => failure.code,
            }
        } else {
            code
        };
        Ok(Verdict { code, key: Some(entry), time: Reading::from_datetime(now) })
    }

    /// The key's snapshot, from the cache or loaded from the store on a miss.
    pub(crate) async fn cached_key(&self, key_id: &str, now: DateTime<Utc>) -> ServiceResult<Option<Arc<CachedKey>>> {
        match self.cached(key_id, now.timestamp_millis(), || ()).0 {
            Some(answer) => Ok(answer),
            None => self.load_key(key_id, now).await,
        }
    }

    /// What the cache knows (counted as a hit or a miss): the key's snapshot, `Some(None)` for
    /// an id recently found not to exist, `None` when the store must be asked; with the result
    /// of `meanwhile`, done while the lookup's first read is fetched
    /// ([`VerifyCache::lookup_overlapping`](crate::cache::VerifyCache::lookup_overlapping)).
    fn cached<R>(
        &self,
        key_id: &str,
        now_ms: i64,
        meanwhile: impl FnOnce() -> R,
    ) -> (Option<Option<Arc<CachedKey>>>, R) {
        let counters = &self.inner.counters;
        let (lookup, done) = self.inner.cache.lookup_overlapping(key_id, now_ms, meanwhile);
        let found = match lookup {
            Lookup::Hit(entry) => {
                counters.cache_hit();
                Some(Some(entry))
            }
            Lookup::KnownMissing => {
                counters.cache_hit();
                Some(None)
            }
            Lookup::Miss => {
                counters.cache_miss();
                None
            }
        };
        (found, done)
    }

    /// Reads a key (and its owner) from the store after a cache miss, and caches its snapshot
    /// (or that it does not exist) unless something was invalidated meanwhile.
    async fn load_key(&self, key_id: &str, now: DateTime<Utc>) -> ServiceResult<Option<Arc<CachedKey>>> {
        let generation = self.inner.cache.generation();
        let id = keyward_domain::ids::KeyId::from_string(key_id);
        let Some(key) = self.store().get_key(&id).await? else {
            self.inner.cache.insert_missing(generation, key_id, now.timestamp_millis());
            return Ok(None);
        };
        let owner = self.store().get_admin(&key.owner_id).await?;
        let (owner_email, owner_disabled, owner_grants) = match &owner {
            Some(o) => (o.email.clone(), o.disabled, o.permissions.clone()),
            None => (String::new(), true, Vec::new()),
        };
        let verify_key = crate::signing::stored_verify_key(key.id.as_str(), key.verify_key.as_deref());
        let entry = Arc::new(CachedKey {
            // Collected, so that one grant is held inline (a `Vec`'s buffer would be kept).
            grants: key.privileges.effective(self.catalog(), &owner_grants).into_iter().collect(),
            revoked: key.revoked_at.is_some() || key.deleted_at.is_some(),
            id: key.id,
            name: key.name,
            owner_id: key.owner_id,
            owner_email,
            owner_disabled,
            expires_at: key.expires_at,
            proven_inner: Default::default(),
            secret_hash: key.secret_hash,
            previous_secret: key.previous_secret,
            networks: key.networks,
            verify_key,
            require_signed_writes: key.require_signed_writes,
            usage_hint: Default::default(),
            memo: Default::default(),
        });
        self.inner.cache.insert(generation, entry.clone());
        Ok(Some(entry))
    }
}
