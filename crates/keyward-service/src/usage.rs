//! The usage log: every data-plane check (verification, forward-auth, token issue and
//! introspection), allowed or denied, recorded off the hot path.
//!
//! A check adds itself to its thread's share of the pending records, under a lock no other
//! thread takes on the hot path: identical checks (same action, key snapshot, answer,
//! permission, target and client address) become one record with a count, so a check that
//! repeats a recent one only bumps counters — no allocation, no channel, no cross-thread
//! traffic. A background writer takes every share at most once per [`WRITE_INTERVAL`] (at once
//! after a quiet spell, so a lone check is written without delay; early when the pending set is
//! half full), merges them, and writes the records with the `last_used_*` and use counts they
//! imply, in one transaction. Under load its work grows with the number of distinct clients and
//! keys, not with the number of checks.
//!
//! A key's snapshot remembers where its latest pending record lies ([`UsageHint`]): a check of a
//! key repeated since the last write goes straight to its record (hashing nothing), and a check
//! of a key with nothing pending in its thread's share (with many keys in random order, most
//! checks) is known as such without searching the share's index, whose lines are then seldom in
//! the processor's caches.
//!
//! The pending set is the bounded queue: it holds at most `usage_queue_capacity` distinct
//! records. A check that would add one more is dropped and counted (a metric, and a warning at
//! most every ten seconds): verification never blocks on storage. Audit records never travel
//! this way; they are written with their change.

use crate::cache::CachedKey;
use crate::Keyward;
use chrono::SubsecRound as _;
use hashbrown::HashTable;
use keyward_domain::clock::Reading;
use keyward_domain::ids::KeyId;
use keyward_domain::network;
use keyward_domain::permission::Permission;
use keyward_domain::policy::Actor;
use keyward_store::{KeyUse, LogKind, LogRecord};
use std::collections::HashMap;
use std::hash::{BuildHasher as _, Hash, Hasher as _};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the writer writes at most while checks keep arriving.
pub const WRITE_INTERVAL: Duration = Duration::from_secs(1);
/// Shares of the pending records: each thread adds to one (chosen once per thread), so checks
/// on different threads never wait for each other.
const SHARDS: usize = 16;
/// A full pending set is warned about at most this often (milliseconds of check time).
const WARNING_INTERVAL_MS: i64 = 10_000;

/// One data-plane check, as the usage log records it. Borrowed: recording a check that repeats
/// a pending one copies nothing; strings are made by the writer, off the hot path.
#[derive(Debug, Clone, Copy)]
pub struct UsageEvent<'a> {
    pub time: Reading,
    /// `key.verified`, `forward_auth`, …
    pub action: &'static str,
    /// The key's snapshot, when the caller held its full secret.
    pub key: Option<&'a Arc<CachedKey>>,
    pub code: &'static str,
    pub permission: Option<&'a Permission>,
    pub target: Option<&'a str>,
    pub client_ip: Option<IpAddr>,
    /// Counts as a use of the key (`last_used_*`, use count): only successful checks do.
    pub success: bool,
}

pub struct UsageLog {
    enabled: bool,
    /// Which node wrote a record.
    node: String,
    /// Distinct records held pending at most.
    capacity: usize,
    shards: [ShardSlot; SHARDS],
    hasher: foldhash::fast::RandomState,
    /// Distinct records pending, over all shards.
    pending: AtomicUsize,
    /// Checks whose records were dropped by the writer (a failed write); the shards count those
    /// dropped because the pending set was full.
    dropped: AtomicU64,
    written: AtomicU64,
    /// Checks taken from the shards and not yet committed.
    unwritten: AtomicU64,
    /// Wakes the writer: a new record is pending.
    arrived: tokio::sync::Notify,
    /// Wakes a resting writer early: the pending set is half full.
    pressure: tokio::sync::Notify,
    /// The earliest check time (Unix milliseconds) at which a full pending set is warned about
    /// again: a warning at most every ten seconds, without reading the clock again or taking a
    /// lock on the path that drops.
    next_warning: AtomicI64,
}

/// A shard on cache lines of its own: threads locking neighbouring shards would otherwise
/// write the same line on every check (false sharing).
///
/// Its lock is a spin lock: it is released by a plain store, where a parking lock is released
/// by an atomic read-modify-write (its count of parked threads), which costs every check a few
/// nanoseconds more (measured in docs/BENCHMARKS.md). It is held for a few dozen nanoseconds, by
/// one check or by the writer swapping the shard out; a thread that finds it held yields.
#[repr(align(128))]
struct ShardSlot {
    records: spin::mutex::SpinMutex<Shard, spin::relax::Yield>,
    /// Checks of this shard dropped because the pending set was full.
    dropped: AtomicU64,
}

/// One share of the pending records, and how many checks they hold; its generation counts the
/// times the writer took it (see [`UsageHint`]).
///
/// The records lie in arrival order in `groups`, their hashes in the same order in `hashes`;
/// `index` finds a record by its identity's hash. The index holds only positions (a control byte
/// and four bytes a record, so it stays in the processor's caches with tens of thousands
/// pending): it is grown and searched through `hashes`, and a record is read only when its hash
/// matches, where a table of whole records read a line from memory for each record a search
/// passed (and growing it, every record).
///
/// The index is brought up to date only when a check must search it: a new record appends its
/// hash to `hashes` and leaves the index alone, so with many keys in random order (where the
/// key's hint says nothing of it is pending, and nothing is searched) adding a record writes no
/// line at a random place; a search first indexes the records after `indexed`.
#[derive(Default)]
struct Shard {
    index: HashTable<u32>,
    groups: Vec<Pending>,
    /// Each record's hash, in the records' order.
    hashes: Vec<u64>,
    /// How many of the records (the first ones) the index holds.
    indexed: usize,
    /// The permissions the records name, by place (see [`permission_place`]).
    permissions: Vec<Permission>,
    checks: u64,
    generation: u32,
}

/// Where a snapshot's latest pending record lies: the share it was added to, that share's
/// generation then, and its position there. Written only when a record is added (by the
/// thread holding that share's lock), read by every check of the key's snapshot, whose first
/// lines the check has just read.
///
/// What it proves: a record is added to a share only with its snapshot's hint set to that
/// share and its current generation, and the writer empties a share exactly when its generation
/// changes. So while the hint names a share with another generation than the share's current
/// one, no record of the snapshot is pending there (a later one would have set the hint, to
/// this share or, from another share, to that one). Any other hint is only where to look first;
/// the record found there is compared in full, and the index searched when it differs. The
/// generation wraps (24 bits): a hint that seems current after 2²⁴ writes costs that comparison.
/// A snapshot belongs to one node's cache, so to one usage log.
#[derive(Debug, Default)]
pub struct UsageHint(AtomicU64);

/// What a hint says about a share.
enum Hinted {
    /// The snapshot's latest record was added at this position in the share's current generation.
    At(usize),
    /// No record of the snapshot is pending in the share.
    Absent,
    /// The share's index knows.
    Unknown,
}

impl UsageHint {
    const GENERATION_BITS: u32 = 24;

    fn set(&self, share: usize, generation: u32, position: u32) {
        let generation = u64::from(generation) & ((1 << Self::GENERATION_BITS) - 1);
        let word = ((share as u64 + 1) << (32 + Self::GENERATION_BITS)) | (generation << 32) | u64::from(position);
        self.0.store(word, Ordering::Relaxed);
    }

    fn about(&self, share: usize, generation: u32) -> Hinted {
        let word = self.0.load(Ordering::Relaxed);
        let hinted_share = (word >> (32 + Self::GENERATION_BITS)) as usize;
        if hinted_share != share + 1 {
            // Never set, or set from another share: no record, or one elsewhere.
            return if hinted_share == 0 { Hinted::Absent } else { Hinted::Unknown };
        }
        let mask = (1 << Self::GENERATION_BITS) - 1;
        if (word >> 32) & mask == u64::from(generation) & mask {
            Hinted::At((word & u64::from(u32::MAX)) as usize)
        } else {
            Hinted::Absent
        }
    }
}

/// Identical checks: what makes them one usage record (apart from their times), the first and
/// the latest time, and how many. The key is its cache snapshot, compared by address: checks of
/// one key share a snapshot until the key changes (then a change splits its checks of one
/// interval into two records).
///
/// `P` holds the permission: while the record is pending, its place in its share's table
/// ([`Pending`]), which keeps a record near 100 bytes where the permission itself would double
/// it (with many keys checked in random order nearly every check writes a new record, each of
/// its lines one more to fetch); once taken, the permission itself ([`Taken`]).
struct Group<P> {
    key: Option<Arc<CachedKey>>,
    action: &'static str,
    code: &'static str,
    target: Option<Box<str>>,
    client_ip: Option<IpAddr>,
    success: bool,
    permission: P,
    first: Reading,
    last: Reading,
    count: u64,
}

/// A pending record: its permission is its place (from 1) in its share's `permissions`.
type Pending = Group<Option<NonZeroU32>>;
/// A record taken from its share, ready to merge and write.
type Taken = Group<Option<Permission>>;

impl<P> Group<P> {
    fn add(&mut self, time: Reading) {
        self.count += 1;
        self.first = self.first.min(time);
        self.last = self.last.max(time);
    }

    fn merge(&mut self, other: Group<P>) {
        self.count += other.count;
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
    }

    fn with_permission<Q>(self, permission: Q) -> Group<Q> {
        let Group { key, action, code, target, client_ip, success, permission: _, first, last, count } = self;
        Group { key, action, code, target, client_ip, success, permission, first, last, count }
    }

    fn identity<'a>(&'a self, permission: Option<&'a Permission>) -> Identity<'a> {
        Identity {
            key: self.key.as_ref().map(snapshot_address),
            client_ip: self.client_ip,
            success: self.success,
            code: Text(self.code),
            action: Text(self.action),
            permission,
            target: self.target.as_deref(),
        }
    }
}

impl Pending {
    fn identity_in<'a>(&'a self, permissions: &'a [Permission]) -> Identity<'a> {
        self.identity(self.permission.and_then(|p| permissions.get(p.get() as usize - 1)))
    }
}

impl Taken {
    fn own_identity(&self) -> Identity<'_> {
        self.identity(self.permission.as_ref())
    }
}

/// What makes two checks one record, borrowed for comparing and hashing; compared in this
/// order, the cheapest and likeliest to differ first.
#[derive(PartialEq)]
struct Identity<'a> {
    key: Option<usize>,
    client_ip: Option<IpAddr>,
    success: bool,
    code: Text,
    action: Text,
    permission: Option<&'a Permission>,
    target: Option<&'a str>,
}

/// A static string (a code, an action). Equal ones are usually the same constant: their
/// addresses are compared first, and their bytes only when those differ.
#[derive(Clone, Copy)]
struct Text(&'static str);

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        std::ptr::eq(self.0, other.0) || self.0 == other.0
    }
}

fn snapshot_address(key: &Arc<CachedKey>) -> usize {
    Arc::as_ptr(key) as usize
}

/// The place (from 1) of `permission` in a share's table: the latest entry when it is the
/// same (a share's new records mostly ask what the one before asked), else a new one. The table
/// grows by at most one entry a record, so the capacity bounds it too.
fn permission_place(permissions: &mut Vec<Permission>, permission: &Permission) -> Option<NonZeroU32> {
    if permissions.last() != Some(permission) {
        permissions.push(permission.clone());
    }
    // At most one entry a pending record, and those are at most `u32::MAX` (see `UsageLog::new`).
    NonZeroU32::new(permissions.len() as u32)
}

impl UsageEvent<'_> {
    fn identity(&self) -> Identity<'_> {
        Identity {
            key: self.key.map(snapshot_address),
            client_ip: self.client_ip,
            success: self.success,
            code: Text(self.code),
            action: Text(self.action),
            permission: self.permission,
            target: self.target,
        }
    }
}

impl UsageLog {
    pub fn new(enabled: bool, capacity: usize, node: String) -> Self {
        UsageLog {
            enabled,
            node,
            // A shard's positions are `u32`s: more pending records than that (hundreds of
            // gigabytes) are not held whatever `usage_queue_capacity` says.
            capacity: capacity.clamp(1, u32::MAX as usize),
            shards: std::array::from_fn(|_| ShardSlot {
                records: spin::mutex::SpinMutex::new(Shard::default()),
                dropped: AtomicU64::new(0),
            }),
            hasher: foldhash::fast::RandomState::default(),
            pending: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            written: AtomicU64::new(0),
            unwritten: AtomicU64::new(0),
            arrived: tokio::sync::Notify::new(),
            pressure: tokio::sync::Notify::new(),
            next_warning: AtomicI64::new(i64::MIN),
        }
    }

    /// Whether checks are logged at all (`usage_log`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The hash of an identity: its key snapshot, client address, code and target. The action
    /// and permission are left out (few differ for one key and address, and comparing them is
    /// cheaper than hashing them for every search of the index); finding a record compares
    /// everything.
    fn hash(&self, identity: &Identity<'_>) -> u64 {
        let mut h = self.hasher.build_hasher();
        identity.key.hash(&mut h);
        identity.client_ip.hash(&mut h);
        identity.code.0.hash(&mut h);
        identity.target.hash(&mut h);
        h.finish()
    }

    /// Adds a check to the pending records without waiting; drops and counts it when it would
    /// be one distinct record more than the capacity.
    pub fn record(&self, event: UsageEvent<'_>) {
        if !self.enabled {
            return;
        }
        let share = crate::metrics::thread_number() % SHARDS;
        let slot = &self.shards[share];
        let mut shard = slot.records.lock();
        let Shard { index, groups, hashes, indexed, permissions, checks, generation } = &mut *shard;
        let identity = event.identity();
        let hinted = event.key.map_or(Hinted::Unknown, |key| key.usage_hint.about(share, *generation));
        // A check found where its key's hint points (a key checked again) is compared in full,
        // without hashing its identity: the hash is for the index, which that check never reads.
        let mut hash = None;
        let found = match hinted {
            Hinted::At(i) if groups.get(i).is_some_and(|g| g.identity_in(permissions) == identity) => Some(i),
            Hinted::Absent => None,
            Hinted::At(_) | Hinted::Unknown => {
                let hash = *hash.insert(self.hash(&identity));
                for (position, &h) in hashes.iter().enumerate().skip(*indexed) {
                    // Positions fit in a `u32`: the capacity is at most `u32::MAX` (see `new`).
                    index.insert_unique(h, position as u32, |&i| hashes[i as usize]);
                }
                *indexed = hashes.len();
                index
                    .find(hash, |&i| {
                        hashes[i as usize] == hash && groups[i as usize].identity_in(permissions) == identity
                    })
                    .map(|&i| i as usize)
            }
        };
        if let Some(i) = found {
            groups[i].add(event.time);
            *checks += 1;
            return;
        }
        // A full pending set is seen without writing the shared count (both cores would write
        // its line on every dropped check).
        if self.pending.load(Ordering::Acquire) >= self.capacity {
            drop(shard);
            self.count_drop(slot, event.time);
            return;
        }
        let pending = self.pending.fetch_add(1, Ordering::AcqRel) + 1;
        if pending > self.capacity {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            drop(shard);
            self.count_drop(slot, event.time);
            return;
        }
        let hash = hash.unwrap_or_else(|| self.hash(&identity));
        let group = Pending {
            key: event.key.cloned(),
            action: event.action,
            code: event.code,
            target: event.target.map(Box::from),
            client_ip: event.client_ip,
            success: event.success,
            permission: event.permission.and_then(|p| permission_place(permissions, p)),
            first: event.time,
            last: event.time,
            count: 1,
        };
        // Positions fit in a `u32`: the capacity is at most `u32::MAX` (see `new`).
        let position = groups.len() as u32;
        hashes.push(hash);
        groups.push(group);
        if let Some(key) = event.key {
            key.usage_hint.set(share, *generation, position);
        }
        *checks += 1;
        drop(shard);
        // The writer empties every share when it takes them: it is woken by a share's first
        // record since (its wake-up is remembered until it waits), not by every record, which
        // would cost each new record an atomic read-modify-write on a line the writer writes too.
        if position == 0 {
            self.arrived.notify_one();
        }
        if pending == self.capacity / 2 {
            self.pressure.notify_one();
        }
    }

    fn count_drop(&self, slot: &ShardSlot, time: Reading) {
        slot.dropped.fetch_add(1, Ordering::Relaxed);
        if self.warning_due(time.unix_millis()) {
            tracing::warn!(dropped_total = self.dropped(), "usage log is full: usage records are being dropped");
        }
    }

    /// Is a warning about a full pending set due at `now` (a check's time, in milliseconds)? At
    /// most one per [`WARNING_INTERVAL_MS`]; when threads race, one of them warns.
    fn warning_due(&self, now: i64) -> bool {
        let next = self.next_warning.load(Ordering::Relaxed);
        now >= next
            && self
                .next_warning
                .compare_exchange(next, now + WARNING_INTERVAL_MS, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Distinct records waiting to be written.
    pub fn depth(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    pub fn dropped(&self) -> u64 {
        let full: u64 = self.shards.iter().map(|s| s.dropped.load(Ordering::Relaxed)).sum();
        self.dropped.load(Ordering::Relaxed) + full
    }

    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Takes every shard's records, merged across shards (one identity has the same hash in
    /// every shard); the checks they hold now count as unwritten until
    /// [`Keyward::write_usage`] is done with them.
    fn take(&self) -> Aggregate {
        let mut merged: HashTable<(u64, Taken)> = HashTable::new();
        let mut checks = 0;
        for shard in &self.shards {
            let taken = {
                let mut records = shard.records.lock();
                let generation = records.generation.wrapping_add(1);
                std::mem::replace(&mut *records, Shard { generation, ..Shard::default() })
            };
            if taken.checks == 0 {
                continue;
            }
            self.unwritten.fetch_add(taken.checks, Ordering::AcqRel);
            self.pending.fetch_sub(taken.groups.len(), Ordering::AcqRel);
            checks += taken.checks;
            for group in taken.groups {
                let permission = group.permission.and_then(|p| taken.permissions.get(p.get() as usize - 1)).cloned();
                let group = group.with_permission(permission);
                let hash = self.hash(&group.own_identity());
                match merged.find_mut(hash, |(_, g)| g.own_identity() == group.own_identity()) {
                    Some((_, existing)) => existing.merge(group),
                    None => {
                        merged.insert_unique(hash, (hash, group), |(hash, _)| *hash);
                    }
                }
            }
        }
        Aggregate { groups: merged.into_iter().map(|(_, group)| group).collect(), checks }
    }
}

/// Pending records taken for one write, and the number of checks they hold.
struct Aggregate {
    groups: Vec<Taken>,
    checks: u64,
}

impl Aggregate {
    /// The records and key uses to write, in the order of their times. A key's uses are its
    /// successful checks: how many, and the latest one's time and client address.
    fn into_rows(self, node: &str) -> (Vec<LogRecord>, Vec<KeyUse>) {
        let mut uses: HashMap<KeyId, KeyUse, foldhash::fast::RandomState> = HashMap::default();
        let mut rng = rand::thread_rng();
        let mut records: Vec<LogRecord> = Vec::with_capacity(self.groups.len());
        for g in self.groups {
            let client_ip = g.client_ip.map(|ip| network::canonical(ip).to_string());
            if let (true, Some(key)) = (g.success, &g.key) {
                // Compared at the clock's full reading: two uses in one millisecond keep their
                // order. Times are stored in milliseconds.
                let entry = uses.entry(key.id.clone()).or_insert_with(|| KeyUse {
                    key_id: key.id.clone(),
                    last_used_at: g.last.to_datetime(),
                    last_used_ip: client_ip.clone(),
                    count: 0,
                });
                entry.count += g.count;
                if g.last.to_datetime() > entry.last_used_at {
                    (entry.last_used_at, entry.last_used_ip) = (g.last.to_datetime(), client_ip.clone());
                }
            }
            let (first, last) = (g.first.to_datetime().trunc_subsecs(3), g.last.to_datetime().trunc_subsecs(3));
            records.push(LogRecord {
                id: keyward_domain::ids::log_record_id(&mut rng, last.timestamp_millis()),
                time: last,
                kind: LogKind::Usage,
                action: g.action.into(),
                key_id: g.key.as_ref().map(|k| k.id.clone()),
                key_owner_id: g.key.as_ref().map(|k| k.owner_id.clone()),
                subject_admin_id: None,
                actor: match &g.key {
                    Some(k) => Actor::Key { id: k.id.clone(), owner_email: k.owner_email.clone() },
                    None => Actor::System,
                },
                client_ip,
                code: Some(g.code.into()),
                permission: g.permission.as_ref().map(ToString::to_string),
                target: g.target.map(String::from),
                node: Some(node.to_owned()),
                details: (g.count > 1).then(|| {
                    serde_json::json!({
                        "count": g.count,
                        "first_at": first.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    })
                }),
            });
        }
        records.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        let uses = uses.into_values().map(|u| KeyUse { last_used_at: u.last_used_at.trunc_subsecs(3), ..u }).collect();
        (records, uses)
    }
}

/// Aborts a task when dropped, so background work stops together.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How often retention runs, and how many usage records it deletes per statement.
const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);
const RETENTION_BATCH: u32 = 1000;

impl Keyward {
    /// Writes one aggregate in one transaction. Spawned, so that stopping the background tasks
    /// never cuts a write short.
    async fn write_usage(&self, batch: Aggregate) {
        if batch.checks == 0 {
            return;
        }
        let usage = &self.inner.usage;
        let checks = batch.checks;
        let (records, uses) = batch.into_rows(&usage.node);
        let keyward = self.clone();
        let written = tokio::spawn(async move { keyward.store().record_usage(&records, &uses).await }).await;
        match written {
            Ok(Ok(())) => {
                usage.written.fetch_add(checks, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                usage.dropped.fetch_add(checks, Ordering::Relaxed);
                tracing::warn!(error = %e, checks, "could not write usage records");
            }
            Err(e) => {
                usage.dropped.fetch_add(checks, Ordering::Relaxed);
                tracing::warn!(error = %e, checks, "the usage write did not finish");
            }
        }
        usage.unwritten.fetch_sub(checks, Ordering::AcqRel);
    }

    /// Writes every pending usage record now (at shutdown, and in tests), and waits (at most ten
    /// seconds) until what the background writer holds is committed too.
    pub async fn flush_usage(&self) {
        let usage = &self.inner.usage;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.write_usage(usage.take()).await;
            let done = usage.depth() == 0 && usage.unwritten.load(Ordering::Acquire) == 0;
            if done || Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Writes the pending records when one arrives, at most once per [`WRITE_INTERVAL`] (sooner
    /// when the pending set is half full): a lone check after a quiet spell is written at once;
    /// under load, one transaction a second holds everything that arrived in it.
    async fn write_usage_forever(self) {
        let usage = &self.inner.usage;
        loop {
            usage.arrived.notified().await;
            let started = tokio::time::Instant::now();
            self.write_usage(usage.take()).await;
            tokio::select! {
                () = tokio::time::sleep_until(started + WRITE_INTERVAL) => {}
                () = usage.pressure.notified() => {}
            }
        }
    }

    /// Deletes usage records older than `usage_retention_days`, a small batch at a time so
    /// writers are never held up; audit records are never touched.
    pub async fn prune_usage(&self) -> u64 {
        let before = self.now() - chrono::Duration::days(i64::from(self.config().usage_retention_days));
        let mut total = 0;
        loop {
            match self.store().prune_usage(before, RETENTION_BATCH).await {
                Ok(n) => {
                    total += n;
                    if n < u64::from(RETENTION_BATCH) {
                        return total;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "usage retention failed");
                    return total;
                }
            }
        }
    }

    /// The node's housekeeping: the usage writer, retention, expired sessions and signature
    /// nonces hourly, and (on a shared database) cross-node cache coherence. Runs until the returned handle is aborted.
    pub fn spawn_background(&self) -> tokio::task::JoinHandle<()> {
        let keyward = self.clone();
        tokio::spawn(async move {
            let _coherence = AbortOnDrop(tokio::spawn(keyward.clone().keep_cache_coherent()));
            let _writer = AbortOnDrop(tokio::spawn(keyward.clone().write_usage_forever()));
            let mut tick = tokio::time::interval(RETENTION_INTERVAL);
            loop {
                tick.tick().await;
                let pruned = keyward.prune_usage().await;
                if pruned > 0 {
                    tracing::info!(pruned, "usage records past retention deleted");
                }
                keyward.prune_nonces().await;
                if let Err(e) = keyward.store().delete_expired_sessions(keyward.now()).await {
                    tracing::warn!(error = %e, "could not prune expired sessions");
                }
                keyward.prune_revoked_tokens().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(target: &'a str, code: &'static str) -> UsageEvent<'a> {
        UsageEvent {
            time: Reading::from_datetime(chrono::DateTime::UNIX_EPOCH),
            action: "forward_auth",
            key: None,
            code,
            permission: None,
            target: Some(target),
            client_ip: None,
            success: false,
        }
    }

    #[test]
    fn a_repeated_check_is_found_among_thousands_pending_and_counted_on_its_record() {
        // Enough distinct records that the shard's index grows (and rehashes) many times while
        // they are added; each is then checked again, some with a code that makes another record.
        let log = UsageLog::new(true, 100_000, "node".into());
        let targets: Vec<String> = (0..5_000).map(|i| format!("acct-{i}")).collect();
        for round in 0..3 {
            for (i, target) in targets.iter().enumerate() {
                let code = if round == 2 && i % 2 == 0 { "insufficient_permission" } else { "valid" };
                log.record(event(target, code));
            }
        }
        assert_eq!(log.depth(), 7_500);
        let batch = log.take();
        assert_eq!((batch.checks, batch.groups.len(), log.depth()), (15_000, 7_500, 0));
        for g in &batch.groups {
            let target = g.target.as_deref().unwrap_or_default();
            let i: usize = target.trim_start_matches("acct-").parse().unwrap_or(usize::MAX);
            let expected = match (i % 2, g.code) {
                (0, "valid") => 2,
                (0, _) => 1,
                _ => 3,
            };
            assert_eq!(g.count, expected, "{target} {}", g.code);
        }
    }

    fn keyed<'a>(key: &'a Arc<CachedKey>, target: &'a str) -> UsageEvent<'a> {
        UsageEvent { key: Some(key), code: "valid", success: true, ..event(target, "valid") }
    }

    #[test]
    fn a_key_checked_again_is_counted_on_its_pending_record_wherever_its_hint_points() {
        let log = UsageLog::new(true, 100, "node".into());
        let key = crate::cache::tests::entry("k1", "o1");
        let share = crate::metrics::thread_number() % SHARDS;
        // Two records of one key (two targets), checked in turn: the hint names the latest.
        for _ in 0..3 {
            log.record(keyed(&key, "a"));
            log.record(keyed(&key, "b"));
        }
        assert_eq!(log.depth(), 2);
        // As if another thread's share had added a record of the key since: this share's
        // records are still found (through the index), not added again.
        key.usage_hint.set((share + 1) % SHARDS, 0, 0);
        log.record(keyed(&key, "a"));
        // A hint pointing past this share's records, in its current generation.
        key.usage_hint.set(share, 0, 7);
        log.record(keyed(&key, "b"));
        assert_eq!(log.depth(), 2, "no record was added twice");
        let batch = log.take();
        let mut counts: Vec<_> = batch.groups.iter().map(|g| (g.target.as_deref(), g.count)).collect();
        counts.sort();
        assert_eq!(counts, [(Some("a"), 4), (Some("b"), 4)]);
        // Taken: the share's generation moved on, so the hint says nothing is pending, and the
        // next check makes a record of its own.
        let generation = log.shards[share].records.lock().generation;
        assert!(matches!(key.usage_hint.about(share, generation), Hinted::Absent));
        log.record(keyed(&key, "a"));
        log.record(keyed(&key, "a"));
        assert_eq!(log.depth(), 1);
        let batch = log.take();
        assert_eq!((batch.groups.len(), batch.groups[0].count, batch.checks), (1, 2, 2));
    }

    #[test]
    fn checks_asking_different_permissions_are_records_of_their_own_and_merge_across_shares_by_permission() {
        let log = Arc::new(UsageLog::new(true, 100, "node".into()));
        let (read, write): (Permission, Permission) =
            ("events.alerts:read".parse().expect("a permission"), "events.alerts:write".parse().expect("a permission"));
        let asking = |permission: Option<&'static Permission>| UsageEvent { permission, ..event("acct", "valid") };
        let (read, write): (&'static Permission, &'static Permission) =
            (Box::leak(Box::new(read)), Box::leak(Box::new(write)));
        // Alternating, so this share's table holds each permission more than once.
        for _ in 0..3 {
            log.record(asking(Some(read)));
            log.record(asking(Some(write)));
            log.record(asking(None));
        }
        assert_eq!(log.depth(), 3);
        // Another share asks the same: merged by permission when taken.
        let here = crate::metrics::thread_number() % SHARDS;
        loop {
            let other = log.clone();
            let elsewhere = std::thread::spawn(move || {
                let share = crate::metrics::thread_number() % SHARDS;
                if share != here {
                    other.record(asking(Some(write)));
                    other.record(asking(Some(write)));
                }
                share != here
            });
            if elsewhere.join().expect("the other thread records") {
                break;
            }
        }
        let batch = log.take();
        let mut counts: Vec<_> =
            batch.groups.iter().map(|g| (g.permission.as_ref().map(ToString::to_string), g.count)).collect();
        counts.sort();
        let expected =
            [(None, 3), (Some("events.alerts:read".to_owned()), 3), (Some("events.alerts:write".to_owned()), 5)];
        assert_eq!(counts, expected);
    }

    #[test]
    fn checks_on_many_threads_while_the_writer_takes_are_each_counted_once() {
        // More threads than shares, so some share a lock with another checking thread as well
        // as with the writer.
        const THREADS: usize = SHARDS + 4;
        const CHECKS: usize = 30_000;
        let log = Arc::new(UsageLog::new(true, 1_000_000, "node".into()));
        let recorders: Vec<_> = (0..THREADS)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..CHECKS {
                        log.record(event(&format!("t{t}-{}", i % 3), "valid"));
                    }
                })
            })
            .collect();
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut checks = 0;
        let mut add = |batch: Aggregate| {
            checks += batch.checks;
            for g in batch.groups {
                *counts.entry(g.target.as_deref().unwrap_or_default().to_owned()).or_default() += g.count;
            }
        };
        while !recorders.iter().all(|r| r.is_finished()) {
            add(log.take());
        }
        for r in recorders {
            assert!(r.join().is_ok());
        }
        add(log.take());
        assert_eq!(checks, (THREADS * CHECKS) as u64);
        assert_eq!(counts.len(), THREADS * 3);
        assert!(counts.values().all(|&n| n == (CHECKS / 3) as u64), "every record counted in full");
        assert_eq!((log.depth(), log.dropped()), (0, 0));
    }

    #[test]
    fn a_full_log_is_warned_about_at_most_every_ten_seconds_of_check_time() {
        let log = UsageLog::new(true, 1, "node".into());
        let t = 1_800_000_000_000;
        assert!(log.warning_due(t), "the first drop warns");
        assert!(!log.warning_due(t));
        assert!(!log.warning_due(t + WARNING_INTERVAL_MS - 1));
        assert!(log.warning_due(t + WARNING_INTERVAL_MS), "ten seconds of checks later, again");
        assert!(!log.warning_due(t + WARNING_INTERVAL_MS + 1));
    }
}
