//! The verification cache's map from key id to snapshot: bounded, in shards, each a table of
//! slots holding an id and its snapshot's pointer side by side.
//!
//! Why not a general-purpose cache: with a million keys cached, a check's lookup reads memory
//! the processor has not cached, and every read that depends on the one before is a wait.
//! quick_cache (used before) made three in turn before the snapshot (its table's control bytes,
//! the index found there, the entry that index names in a slab). Here a slot holds the id, as
//! the three words of [`inline_words`] (compared as integers, no pointer followed), and the
//! snapshot's pointer; it is found by linear probing from the id's hash, so a lookup usually
//! reads one line of the table and then the snapshot: as many waits as a plain hash map of the
//! snapshots would take.
//!
//! Eviction is CLOCK (second chance): a lookup marks its slot (a bit in a bitmap beside the
//! slots, written only when not yet set, so a hot key's lookups write nothing); to make room, a
//! hand sweeps the slots, clearing marks, and evicts the first entry it finds unmarked. A key
//! looked up since the hand last passed stays; keys not looked up since leave first.
//!
//! Removal shifts the entries after the slot back (no tombstones), so a lookup ends at the
//! first empty slot; a table is at most half full, so there always is one.

use super::CachedKey;
use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard, ShardedLockWriteGuard};
use keyward_domain::ids::inline_words;
use std::hash::{BuildHasher as _, Hash as _, Hasher as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The words of a slot whose id is longer than [`keyward_domain::ids::INLINE_LEN`]: never the
/// words of a short id (their last byte is its length, at most 23). Such a slot's id is its
/// snapshot's, compared as text.
const LONG: [u64; 3] = [u64::MAX; 3];

/// The slots a shard starts with (it doubles from there up to what its share needs).
const INITIAL_SLOTS: usize = 2_048;

/// An id to find or place: its words, and its text for a long one.
#[derive(Clone, Copy)]
struct Id<'a> {
    words: [u64; 3],
    text: &'a str,
}

impl<'a> Id<'a> {
    fn new(text: &'a str) -> Self {
        Id { words: inline_words(text).unwrap_or(LONG), text }
    }

    fn is_long(&self) -> bool {
        self.words == LONG
    }
}

/// The hash of an id: its words, or a long id's bytes. One function for every lookup, every
/// placement and every shift, so an entry is always found where it was put.
fn hash_id(hasher: &foldhash::fast::RandomState, id: Id<'_>) -> u64 {
    let mut h = hasher.build_hasher();
    if id.is_long() {
        h.write(id.text.as_bytes());
    } else {
        id.words.hash(&mut h);
    }
    h.finish()
}

struct Slot {
    words: [u64; 3],
    entry: Option<Arc<CachedKey>>,
}

impl Slot {
    const EMPTY: Slot = Slot { words: [0; 3], entry: None };
}

/// Asks the processor for the line holding `slot`, without waiting for it: a hint, which
/// changes nothing any read returns (and does nothing where there is no such instruction).
fn prefetch(slot: &Slot) {
    #[cfg(all(any(target_arch = "x86", target_arch = "x86_64"), target_feature = "sse"))]
    safe_arch::prefetch_t0(slot);
    #[cfg(not(all(any(target_arch = "x86", target_arch = "x86_64"), target_feature = "sse")))]
    let _ = slot;
}

/// One shard's slots (a power of two of them) and their marks.
struct Table {
    slots: Box<[Slot]>,
    /// One bit per slot: looked up since the hand last passed it.
    marks: Box<[AtomicU64]>,
    len: usize,
    /// Where the next eviction's sweep starts.
    hand: usize,
}

impl Table {
    fn with_slots(count: usize) -> Table {
        Table {
            slots: (0..count).map(|_| Slot::EMPTY).collect(),
            marks: (0..count.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            len: 0,
            hand: 0,
        }
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The slot holding `id` (`Ok`), or the empty slot its probe ended at (`Err`).
    fn find(&self, id: Id<'_>, hash: u64) -> Result<usize, usize> {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let slot = &self.slots[i];
            match &slot.entry {
                None => return Err(i),
                Some(entry) if slot.words == id.words && (!id.is_long() || entry.id.as_str() == id.text) => {
                    return Ok(i)
                }
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    /// Marks slot `i` as looked up (under a shared lock: the bit is atomic).
    fn mark(&self, i: usize) {
        let word = &self.marks[i / 64];
        let bit = 1u64 << (i % 64);
        if word.load(Ordering::Relaxed) & bit == 0 {
            word.fetch_or(bit, Ordering::Relaxed);
        }
    }

    /// Clears slot `i`'s mark, saying whether it was set.
    fn take_mark(&mut self, i: usize) -> bool {
        let word = self.marks[i / 64].get_mut();
        let bit = 1u64 << (i % 64);
        let was = *word & bit != 0;
        *word &= !bit;
        was
    }

    fn set_mark(&mut self, i: usize, marked: bool) {
        if marked {
            *self.marks[i / 64].get_mut() |= 1 << (i % 64);
        }
    }

    /// The slot an entry's probe starts at.
    fn home(&self, hasher: &foldhash::fast::RandomState, i: usize) -> usize {
        let slot = &self.slots[i];
        let text = slot.entry.as_ref().map_or("", |e| e.id.as_str());
        hash_id(hasher, Id { words: slot.words, text }) as usize & self.mask()
    }

    /// Puts an entry whose id the table does not hold in the first empty slot of its probe.
    fn place(&mut self, words: [u64; 3], entry: Arc<CachedKey>, hash: u64, marked: bool) {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        while self.slots[i].entry.is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i] = Slot { words, entry: Some(entry) };
        self.set_mark(i, marked);
        self.len += 1;
    }

    /// Empties slot `i` and shifts back every entry after it that may move closer to its home.
    fn remove_at(&mut self, hasher: &foldhash::fast::RandomState, i: usize) {
        let mask = self.mask();
        self.slots[i] = Slot::EMPTY;
        self.take_mark(i);
        self.len -= 1;
        let mut hole = i;
        let mut j = (i + 1) & mask;
        while self.slots[j].entry.is_some() {
            let home = self.home(hasher, j);
            // The entry may fill the hole when the hole lies on its probe, from its home to it.
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                self.slots.swap(hole, j);
                let marked = self.take_mark(j);
                self.set_mark(hole, marked);
                hole = j;
            }
            j = (j + 1) & mask;
        }
    }

    /// Evicts the first unmarked entry from the hand on, clearing the marks it passes.
    fn evict_one(&mut self, hasher: &foldhash::fast::RandomState) {
        if self.len == 0 {
            return;
        }
        // Every mark is cleared within one sweep, so this ends within two.
        loop {
            let i = self.hand;
            self.hand = (i + 1) & self.mask();
            if self.slots[i].entry.is_none() || self.take_mark(i) {
                continue;
            }
            self.remove_at(hasher, i);
            // An entry shifted into `i` has not been passed yet.
            self.hand = i;
            return;
        }
    }

    /// The same entries and marks in `count` slots.
    fn rebuilt(self, hasher: &foldhash::fast::RandomState, count: usize, keep: impl Fn(&CachedKey) -> bool) -> Table {
        let mut table = Table::with_slots(count);
        let Table { slots, mut marks, .. } = self;
        for (i, slot) in slots.into_vec().into_iter().enumerate() {
            let Some(entry) = slot.entry else { continue };
            if keep(&entry) {
                let hash = hash_id(hasher, Id { words: slot.words, text: entry.id.as_str() });
                let marked = *marks[i / 64].get_mut() & (1 << (i % 64)) != 0;
                table.place(slot.words, entry, hash, marked);
            }
        }
        table
    }
}

/// A table behind its lock, on cache lines of its own (an insert writes the table's count and
/// hand, which lookups of a neighbouring shard would otherwise read from the same line).
///
/// The lock is sharded by thread (crossbeam's `ShardedLock`: a reader takes a lock of its own
/// thread's, a writer takes them all), so that threads looking up keys of one shard at once (a
/// hot key) do not pass the lock's line between their cores twice per lookup: a lookup holds
/// its read lock while the secret is hashed (see [`SnapshotMap::get_overlapping`]). Writes
/// (loads after a miss, invalidations) are rare and pay for that.
#[repr(align(128))]
struct Shard(ShardedLock<Table>);

impl Shard {
    fn new(table: Table) -> Shard {
        Shard(ShardedLock::new(table))
    }

    /// Without poisoning, as the `parking_lot` lock used before: nothing done under these
    /// locks depends on a request's input beyond the id, and no step of it panics.
    fn read(&self) -> ShardedLockReadGuard<'_, Table> {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> ShardedLockWriteGuard<'_, Table> {
        self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Shards for a capacity: four per thread (so threads seldom want one lock at once), but never
/// so many that a shard's share falls below [`MIN_SHARE`] entries (a small cache in many shards
/// would evict a key looked up often to make room in a share of one or two), and a power of two.
fn shard_count(capacity: usize, threads: usize) -> usize {
    let most = (capacity / MIN_SHARE).max(1);
    (threads.max(1) * 4).next_power_of_two().min(1 << most.ilog2())
}

/// The fewest entries a shard's share holds, when the capacity allows.
const MIN_SHARE: usize = 32;

/// Key id → snapshot, holding at most the capacity it was made with.
pub(super) struct SnapshotMap {
    shards: Box<[Shard]>,
    hasher: foldhash::fast::RandomState,
    /// Entries one shard holds at most (its share of the capacity).
    per_shard: usize,
    /// Slots one shard has at most: enough to stay at most half full.
    max_slots: usize,
}

impl SnapshotMap {
    /// A map of at most `capacity` (at least 1) entries.
    pub(super) fn new(capacity: usize) -> Self {
        Self::for_threads(capacity, std::thread::available_parallelism().map_or(4, |n| n.get()))
    }

    /// The same, sharded for `threads` threads.
    fn for_threads(capacity: usize, threads: usize) -> Self {
        let capacity = capacity.max(1);
        let shards = shard_count(capacity, threads);
        let per_shard = capacity / shards;
        let max_slots = (2 * per_shard).next_power_of_two();
        SnapshotMap {
            shards: (0..shards).map(|_| Shard::new(Table::with_slots(max_slots.min(INITIAL_SLOTS)))).collect(),
            hasher: foldhash::fast::RandomState::default(),
            per_shard,
            max_slots,
        }
    }

    /// The shard of a hash: its high bits (the low ones choose the slot).
    fn shard(&self, hash: u64) -> &Shard {
        &self.shards[(hash >> 40) as usize & (self.shards.len() - 1)]
    }

    pub(super) fn get(&self, id: &str) -> Option<Arc<CachedKey>> {
        self.get_overlapping(id, || ()).0
    }

    /// [`get`](Self::get), with `meanwhile`'s result: `meanwhile` runs once the processor has
    /// been asked for the line of the slot the lookup starts at, and before the lookup reads it.
    /// With many keys cached that line is seldom in the processor's caches, and the wait for it
    /// overlaps work the caller has to do anyway (a check hashes the presented secret there).
    pub(super) fn get_overlapping<R>(&self, id: &str, meanwhile: impl FnOnce() -> R) -> (Option<Arc<CachedKey>>, R) {
        let id = Id::new(id);
        let hash = hash_id(&self.hasher, id);
        let table = self.shard(hash).read();
        prefetch(&table.slots[hash as usize & table.mask()]);
        let done = meanwhile();
        let found = table.find(id, hash).ok().and_then(|i| {
            table.mark(i);
            table.slots[i].entry.clone()
        });
        (found, done)
    }

    /// Holds `entry` under its id, in place of the snapshot held before, if any; evicts another
    /// entry when the shard holds its share.
    pub(super) fn insert(&self, entry: Arc<CachedKey>) {
        let id = Id::new(entry.id.as_str());
        let (words, hash) = (id.words, hash_id(&self.hasher, id));
        let mut table = self.shard(hash).write();
        if let Ok(i) = table.find(id, hash) {
            table.slots[i].entry = Some(entry);
            return;
        }
        if table.len >= self.per_shard {
            table.evict_one(&self.hasher);
        }
        if 2 * (table.len + 1) > table.slots.len() && table.slots.len() < self.max_slots {
            let count = 2 * table.slots.len();
            let full = std::mem::replace(&mut *table, Table::with_slots(0));
            *table = full.rebuilt(&self.hasher, count, |_| true);
        }
        table.place(words, entry, hash, false);
    }

    pub(super) fn remove(&self, id: &str) {
        let id = Id::new(id);
        let hash = hash_id(&self.hasher, id);
        let mut table = self.shard(hash).write();
        if let Ok(i) = table.find(id, hash) {
            table.remove_at(&self.hasher, i);
        }
    }

    /// Drops every entry `keep` says no to.
    pub(super) fn retain(&self, keep: impl Fn(&CachedKey) -> bool) {
        for shard in self.shards.iter() {
            let mut table = shard.write();
            let count = table.slots.len();
            let all = std::mem::replace(&mut *table, Table::with_slots(0));
            *table = all.rebuilt(&self.hasher, count, &keep);
        }
    }

    pub(super) fn clear(&self) {
        for shard in self.shards.iter() {
            *shard.write() = Table::with_slots(self.max_slots.min(INITIAL_SLOTS));
        }
    }

    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::tests::entry;
    use rand::{Rng as _, SeedableRng as _};
    use std::collections::HashMap;

    /// Every slot's entry is reachable from its home without crossing an empty slot (what a
    /// lookup relies on), and the count is right.
    fn assert_consistent(map: &SnapshotMap) {
        for shard in map.shards.iter() {
            let table = shard.read();
            let mut held = 0;
            for i in 0..table.slots.len() {
                if table.slots[i].entry.is_none() {
                    continue;
                }
                held += 1;
                let mut j = table.home(&map.hasher, i);
                while j != i {
                    assert!(table.slots[j].entry.is_some(), "an empty slot between slot {i} and its home");
                    j = (j + 1) & table.mask();
                }
            }
            assert_eq!(held, table.len);
            assert!(2 * table.len <= table.slots.len(), "at most half full");
        }
    }

    #[test]
    fn it_holds_what_a_hash_map_holds_through_inserts_replacements_and_removals() {
        // Room for all: nothing is evicted, so the map must agree with the model exactly. Four
        // shards whatever the machine, so each grows past its first table.
        let map = SnapshotMap::for_threads(1 << 16, 1);
        let mut model: HashMap<String, Arc<CachedKey>> = HashMap::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let long = "L".repeat(40);
        let id = |n: u32| if n.is_multiple_of(7) { format!("{long}{n}") } else { format!("k{n}") };
        for step in 0..40_000 {
            let key = id(rng.gen_range(0..12_000));
            if rng.gen_bool(0.3) {
                map.remove(&key);
                model.remove(&key);
            } else {
                let snapshot = entry(&key, "o");
                map.insert(snapshot.clone());
                model.insert(key, snapshot);
            }
            if step % 1_000 == 0 {
                assert_consistent(&map);
            }
        }
        assert_consistent(&map);
        assert!(map.shards.iter().all(|s| s.read().slots.len() > INITIAL_SLOTS), "every shard grew");
        assert_eq!(map.len(), model.len());
        for n in 0..12_000 {
            let key = id(n);
            let found = map.get(&key);
            match model.get(&key) {
                Some(snapshot) => assert!(found.is_some_and(|f| Arc::ptr_eq(&f, snapshot)), "{key}"),
                None => assert!(found.is_none(), "{key}"),
            }
        }
    }

    #[test]
    fn retain_and_clear_leave_a_consistent_map() {
        let map = SnapshotMap::new(10_000);
        for n in 0..5_000u32 {
            map.insert(entry(&format!("k{n}"), if n.is_multiple_of(3) { "o1" } else { "o2" }));
        }
        map.retain(|e| e.owner_id.as_str() != "o1");
        assert_consistent(&map);
        assert_eq!(map.len(), (0..5_000u32).filter(|n| !n.is_multiple_of(3)).count());
        assert!(map.get("k3").is_none());
        assert!(map.get("k4").is_some());
        map.clear();
        assert_eq!(map.len(), 0);
        assert!(map.get("k4").is_none());
    }

    #[test]
    fn shards_share_the_capacity_without_exceeding_it_or_shrinking_below_the_minimum_share() {
        for capacity in [1, 2, 31, 32, 100, 1_000, 65_536, 1_000_000, 1_100_000] {
            for threads in [1, 2, 16, 64, 256] {
                let shards = shard_count(capacity, threads);
                assert!(shards.is_power_of_two());
                assert!(shards <= (4 * threads).next_power_of_two());
                let per_shard = capacity / shards;
                assert!(per_shard * shards <= capacity, "{capacity} {threads}");
                assert!(per_shard >= MIN_SHARE.min(capacity), "{capacity} {threads}: {per_shard}");
            }
        }
        assert_eq!(shard_count(1_000_000, 2), 8);
    }

    #[test]
    fn eviction_keeps_each_shard_within_its_share_and_spares_marked_entries() {
        let map = SnapshotMap::for_threads(64, 2);
        let capacity = map.per_shard * map.shards.len();
        assert!(capacity <= 64);
        map.insert(entry("hot", "o"));
        for n in 0..5_000u32 {
            assert!(map.get("hot").is_some(), "looked up before every insert, it stays ({n})");
            map.insert(entry(&format!("k{n}"), "o"));
            assert!(map.len() <= capacity);
        }
        assert_consistent(&map);
    }
}
