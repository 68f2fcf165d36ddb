//! The in-process verification cache: one immutable snapshot per key, holding everything a
//! verification needs (hashes, expiry, networks, effective grants, owner status), so the hot
//! path takes a read lock, hashes once and compares, without touching the database.
//!
//! Bounded: it holds at most `cache_capacity` keys, in shards that each hold their share (CLOCK
//! eviction: keys checked since the last sweep stay, see [`slots`]); a key that is not held is
//! read from the store on its next check and cached again.
//!
//! Coherence: every write through this node invalidates the affected entries before it
//! answers. A load that raced an invalidation is discarded (the generation counter moved), so a
//! stale snapshot can never be inserted after the write that made it stale.

use crate::usage::UsageHint;
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use keyward_domain::ids::{AdminId, KeyId};
use keyward_domain::key::PreviousSecret;
use keyward_domain::permission::Grant;
use keyward_domain::secret::{InnerDigest, SecretHash};
use keyward_domain::signing_key::VerifyKey;
use parking_lot::RwLock;
use smallvec::SmallVec;
use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

mod slots;
use slots::SnapshotMap;

/// Everything verification needs to know about one key, as of one moment.
///
/// In declaration order (`repr(C)`), the fields every check reads first, next to the `Arc`'s
/// counts that taking the snapshot updates, then what a valid check and forward-auth's answer
/// read (the grants, the id, the owner's email, whether there is a verify key): with many keys
/// cached, a check reads its snapshot from memory, and these then lie in the allocation's first
/// 320 bytes (five cache lines, six when the allocation starts mid-line), one after another,
/// instead of being spread over all of it by the compiler's ordering (largest alignment first)
/// or by an order that took no account of the answer. What only other paths read comes last
/// (a unit test keeps the order).
#[derive(Debug)]
#[repr(C)]
pub struct CachedKey {
    /// The inner HMAC digest of the current secret, once a check has proved it (see
    /// `Keyward::secret_matches`); never stored, never made from a secret that did not match.
    pub proven_inner: OnceLock<InnerDigest>,
    pub secret_hash: SecretHash,
    pub expires_at: Option<DateTime<Utc>>,
    /// Revoked or deleted.
    pub revoked: bool,
    pub owner_disabled: bool,
    pub require_signed_writes: bool,
    /// Where the usage log holds this snapshot's latest pending record (next to what every
    /// check reads).
    pub usage_hint: UsageHint,
    pub networks: Vec<IpNet>,
    /// The key's grants intersected with its owner's current permissions: held here, not in
    /// memory of their own, when there is one (most keys), so a check of a permission reads
    /// nothing else (with a million keys, each read elsewhere is a cache miss).
    pub grants: SmallVec<[Grant; 1]>,
    pub id: KeyId,
    pub owner_email: String,
    /// The public key its requests are signed with, parsed once (see [`crate::signing`]).
    pub verify_key: Option<VerifyKey>,
    pub previous_secret: Option<PreviousSecret>,
    pub name: String,
    pub owner_id: AdminId,
    /// What the layers above derive from the snapshot for their answers, made once.
    pub memo: Memo,
}

/// What a layer above derives from one snapshot (the HTTP server: the headers and the body it
/// answers a valid check of this key with), made on first use and dropped with the snapshot. A
/// snapshot never changes (a change of the key replaces it on every node), so what is derived
/// from it stays true for as long as it is held. The service does not look inside.
#[derive(Default)]
pub struct Memo(OnceLock<Box<dyn Any + Send + Sync>>);

impl Memo {
    /// The memo of type `T`, made by `make` the first time; `None` when the memo holds another
    /// type (one layer owns it).
    pub fn get_or_make<T: Any + Send + Sync>(&self, make: impl FnOnce() -> T) -> Option<&T> {
        self.0.get_or_init(|| Box::new(make())).downcast_ref()
    }
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() { "Memo(made)" } else { "Memo(empty)" })
    }
}

impl CachedKey {
    /// Is `hash` the stored hash of the current secret, or of the previous one within its grace
    /// period at `now_ms` (Unix milliseconds)?
    pub fn secret_matches(&self, hash: &SecretHash, now_ms: i64) -> bool {
        let current = self.secret_hash.ct_eq(hash);
        let previous =
            self.previous_secret.is_some_and(|p| p.valid_until.timestamp_millis() > now_ms && p.hash.ct_eq(hash));
        current | previous
    }

    /// The same snapshot allowed only `grants` (an access token's scope applied).
    pub fn narrowed(&self, grants: impl IntoIterator<Item = Grant>) -> CachedKey {
        CachedKey {
            id: self.id.clone(),
            name: self.name.clone(),
            owner_id: self.owner_id.clone(),
            owner_email: self.owner_email.clone(),
            owner_disabled: self.owner_disabled,
            expires_at: self.expires_at,
            revoked: self.revoked,
            proven_inner: OnceLock::new(),
            secret_hash: self.secret_hash,
            previous_secret: self.previous_secret,
            networks: self.networks.clone(),
            grants: grants.into_iter().collect(),
            verify_key: self.verify_key.clone(),
            require_signed_writes: self.require_signed_writes,
            // Another snapshot: nothing of it is pending.
            usage_hint: UsageHint::default(),
            memo: Memo::default(),
        }
    }
}

/// Unknown ids, with when that was learnt (Unix milliseconds).
type Missing = HashMap<Box<str>, i64, foldhash::fast::RandomState>;

/// How long an unknown key id is remembered as unknown, and how many are remembered at most:
/// floods of random well-formed keys then cost one lookup per id per interval, not one per
/// request, in bounded memory. A key created since is never hidden by it: creating a key
/// invalidates its id on every node.
const MISSING_TTL_MS: i64 = 5_000;
const MISSING_CAPACITY: usize = 100_000;

/// What a cache lookup found.
#[derive(Debug, Clone)]
pub enum Lookup {
    Hit(Arc<CachedKey>),
    /// Recently looked up and not in the store.
    KnownMissing,
    Miss,
}

pub struct VerifyCache {
    entries: SnapshotMap,
    /// Taken (shared) by inserts and (exclusive) by invalidations, so that checking the
    /// generation and inserting are one step an invalidation cannot fall between.
    gate: RwLock<()>,
    /// Ids recently found not to exist, with when that was learnt.
    missing: RwLock<Missing>,
    /// Bumped by every invalidation; loads started before a bump are not inserted.
    generation: AtomicU64,
}

impl VerifyCache {
    /// A cache of at most `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        VerifyCache {
            entries: SnapshotMap::new(capacity),
            gate: RwLock::new(()),
            missing: RwLock::default(),
            generation: AtomicU64::new(0),
        }
    }

    pub fn get(&self, key_id: &str) -> Option<Arc<CachedKey>> {
        self.entries.get(key_id)
    }

    /// `now_ms`: Unix milliseconds.
    pub fn lookup(&self, key_id: &str, now_ms: i64) -> Lookup {
        self.lookup_overlapping(key_id, now_ms, || ()).0
    }

    /// [`lookup`](Self::lookup), doing `meanwhile` while the processor fetches the memory the
    /// lookup reads first (see [`SnapshotMap::get_overlapping`]).
    pub fn lookup_overlapping<R>(&self, key_id: &str, now_ms: i64, meanwhile: impl FnOnce() -> R) -> (Lookup, R) {
        let (hit, done) = self.entries.get_overlapping(key_id, meanwhile);
        if let Some(hit) = hit {
            return (Lookup::Hit(hit), done);
        }
        let missing = match self.missing.read().get(key_id) {
            Some(at) if now_ms - *at < MISSING_TTL_MS => Lookup::KnownMissing,
            _ => Lookup::Miss,
        };
        (missing, done)
    }

    /// Remembers that `key_id` does not exist, unless something was invalidated meanwhile.
    pub fn insert_missing(&self, generation: u64, key_id: &str, now_ms: i64) {
        let mut missing = self.missing.write();
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if missing.len() >= MISSING_CAPACITY {
            missing.clear();
        }
        missing.insert(key_id.into(), now_ms);
    }

    /// Drops everything (notifications from other nodes may have been missed).
    pub fn clear(&self) {
        let _gate = self.gate.write();
        let mut missing = self.missing.write();
        self.entries.clear();
        missing.clear();
        self.invalidated();
    }

    /// Take this before reading the store for a miss, or before a lookup whose result is kept
    /// (an access token's resolution): while the generation has not moved, a snapshot found
    /// after reading it is still current.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Inserts a snapshot loaded since `generation`, unless something was invalidated meanwhile.
    pub fn insert(&self, generation: u64, entry: Arc<CachedKey>) {
        let _gate = self.gate.read();
        if self.generation.load(Ordering::Acquire) == generation {
            self.entries.insert(entry);
        }
    }

    pub fn invalidate_key(&self, id: &KeyId) {
        let _gate = self.gate.write();
        let mut missing = self.missing.write();
        self.entries.remove(id.as_str());
        missing.remove(id.as_str());
        self.invalidated();
    }

    /// Drops every key of an owner (their status or permissions changed).
    pub fn invalidate_owner(&self, owner: &AdminId) {
        let _gate = self.gate.write();
        self.entries.retain(|e| &e.owner_id != owner);
        self.invalidated();
    }

    /// Moves the generation on, *after* the entries went: whoever reads the new generation then
    /// finds them gone, so a snapshot found after reading a generation was current when it was
    /// read ([`generation`](Self::generation)).
    fn invalidated(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use keyward_domain::ids::INLINE_LEN;

    pub(crate) fn entry(id: &str, owner: &str) -> Arc<CachedKey> {
        Arc::new(CachedKey {
            id: KeyId::from_string(id),
            name: id.into(),
            owner_id: AdminId::from_string(owner),
            owner_email: "o@x".into(),
            owner_disabled: false,
            expires_at: None,
            revoked: false,
            proven_inner: OnceLock::new(),
            secret_hash: SecretHash([0; 32]),
            previous_secret: None,
            networks: vec![],
            grants: SmallVec::new(),
            verify_key: None,
            require_signed_writes: false,
            usage_hint: UsageHint::default(),
            memo: Memo::default(),
        })
    }

    #[test]
    fn what_a_valid_check_and_its_answer_read_lies_in_the_first_320_bytes() {
        use std::mem::{offset_of, size_of};
        // The `Arc`'s two counts come first in its allocation.
        let arc_counts = 2 * size_of::<usize>();
        let read = [
            offset_of!(CachedKey, proven_inner) + size_of::<OnceLock<InnerDigest>>(),
            offset_of!(CachedKey, secret_hash) + size_of::<SecretHash>(),
            offset_of!(CachedKey, expires_at) + size_of::<Option<DateTime<Utc>>>(),
            offset_of!(CachedKey, require_signed_writes) + 1,
            offset_of!(CachedKey, usage_hint) + size_of::<UsageHint>(),
            offset_of!(CachedKey, networks) + size_of::<Vec<IpNet>>(),
            offset_of!(CachedKey, grants) + size_of::<SmallVec<[Grant; 1]>>(),
            offset_of!(CachedKey, id) + size_of::<KeyId>(),
            offset_of!(CachedKey, owner_email) + size_of::<String>(),
            // Whether there is one: its tag, at its start.
            offset_of!(CachedKey, verify_key) + 1,
        ];
        let end = arc_counts + read.into_iter().max().unwrap_or(0);
        assert!(end <= 5 * 64, "the fields a valid check reads end at byte {end} of the allocation");
        let unread = [
            offset_of!(CachedKey, previous_secret),
            offset_of!(CachedKey, name),
            offset_of!(CachedKey, owner_id),
            offset_of!(CachedKey, memo),
        ];
        assert!(unread.into_iter().all(|o| arc_counts + o >= end), "only other paths' fields come after them");
    }

    #[test]
    fn a_load_that_raced_an_invalidation_is_discarded() {
        let cache = VerifyCache::new(100);
        let before = cache.generation();
        cache.invalidate_key(&KeyId::from_string("a"));
        cache.insert(before, entry("a", "o"));
        assert!(cache.get("a").is_none());
        cache.insert(cache.generation(), entry("a", "o"));
        assert!(cache.get("a").is_some());
    }

    #[test]
    fn unknown_ids_are_remembered_briefly_and_forgotten_when_created() {
        let cache = VerifyCache::new(100);
        let now = Utc::now().timestamp_millis();
        assert!(matches!(cache.lookup("a", now), Lookup::Miss));
        cache.insert_missing(cache.generation(), "a", now);
        assert!(matches!(cache.lookup("a", now), Lookup::KnownMissing));
        assert!(matches!(cache.lookup("a", now + MISSING_TTL_MS - 1), Lookup::KnownMissing));
        let later = now + MISSING_TTL_MS;
        assert!(matches!(cache.lookup("a", later), Lookup::Miss), "remembered only briefly");
        cache.invalidate_key(&KeyId::from_string("a"));
        assert!(matches!(cache.lookup("a", now), Lookup::Miss), "a created key is found at once");
        cache.insert_missing(cache.generation(), "a", now);
        cache.clear();
        assert!(matches!(cache.lookup("a", now), Lookup::Miss));
    }

    #[test]
    fn a_lookup_does_the_work_it_overlaps_once_whatever_it_finds() {
        let cache = VerifyCache::new(100);
        cache.insert(cache.generation(), entry("a", "o"));
        cache.insert_missing(cache.generation(), "gone", 0);
        let runs = std::cell::Cell::new(0);
        let work = |n| {
            runs.set(runs.get() + 1);
            n * 2
        };
        let (hit, done) = cache.lookup_overlapping("a", 0, || work(1));
        assert!(matches!(hit, Lookup::Hit(e) if e.id.as_str() == "a") && done == 2);
        let (missing, done) = cache.lookup_overlapping("gone", 0, || work(2));
        assert!(matches!(missing, Lookup::KnownMissing) && done == 4);
        let (miss, done) = cache.lookup_overlapping("b", 0, || work(3));
        assert!(matches!(miss, Lookup::Miss) && done == 6);
        assert_eq!(runs.get(), 3);
    }

    #[test]
    fn short_and_long_ids_are_found_and_told_apart() {
        let cache = VerifyCache::new(100);
        let long = "L".repeat(INLINE_LEN + 1);
        let ids = ["a", "0123456789ABCDEF", &"S".repeat(INLINE_LEN), &long, &"L".repeat(INLINE_LEN + 2)];
        for id in ids {
            cache.insert(cache.generation(), entry(id, "o"));
        }
        for id in ids {
            assert_eq!(cache.get(id).map(|e| e.id.to_string()).as_deref(), Some(id));
        }
        for absent in
            ["", "b", "0123456789ABCDE", "0123456789ABCDEF0", &"S".repeat(INLINE_LEN - 1), &"L".repeat(INLINE_LEN)]
        {
            assert!(cache.get(absent).is_none(), "{absent:?}");
        }
        cache.invalidate_key(&KeyId::from_string(long.clone()));
        assert!(cache.get(&long).is_none());
        assert!(cache.get("a").is_some());
    }

    #[test]
    fn a_memo_is_made_once_per_snapshot_and_holds_one_type() {
        let key = entry("a", "o");
        let mut made = 0;
        for _ in 0..3 {
            let memo = key.memo.get_or_make(|| {
                made += 1;
                format!("rendered {}", key.id)
            });
            assert_eq!(memo.map(String::as_str), Some("rendered a"));
        }
        assert_eq!(made, 1);
        assert!(key.memo.get_or_make(|| 7u32).is_none(), "a memo of another type is not made over it");
        assert!(key.narrowed([]).memo.get_or_make(|| 7u32).is_some(), "a narrowed snapshot has its own memo");
    }

    #[test]
    fn owner_invalidation_drops_only_their_keys() {
        let cache = VerifyCache::new(100);
        let g = cache.generation();
        cache.insert(g, entry("a", "o1"));
        cache.insert(g, entry("b", "o2"));
        cache.invalidate_owner(&AdminId::from_string("o1"));
        assert!(cache.get("a").is_none());
        assert!(cache.get("b").is_some());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_cache_holds_at_most_its_capacity_and_keeps_keys_checked_often() {
        let cache = VerifyCache::new(100);
        cache.insert(cache.generation(), entry("hot", "o"));
        for i in 0..1000 {
            assert!(cache.get("hot").is_some(), "a key checked between every insert stays (insert {i})");
            cache.insert(cache.generation(), entry(&format!("k{i}"), "o"));
            assert!(cache.len() <= 100, "{} keys held", cache.len());
        }
        assert!(cache.len() >= 50, "the cache is used up to near its capacity: {}", cache.len());
    }
}
