//! Counters of the data plane and the node's internals, read by `/metrics`.
//!
//! Lock-free, and sharded: each thread counts into one of [`SHARDS`] sets of counters, each on
//! cache lines of its own (chosen once per thread, as the usage log chooses its share), so
//! checks on different cores never write the same line (one shared counter bumped on every
//! check by both cores made that line travel between them on every check). Reading sums the
//! shards. The server renders them in the Prometheus text format together with its own request
//! histograms.

use crate::verify::VerifyCode;
use crate::Keyward;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Every verification code, in a fixed order: the order of [`VerifyCode`]'s variants, so a
/// code's counter is at `code as usize`.
pub const CODES: [VerifyCode; 9] = [
    VerifyCode::Valid,
    VerifyCode::NotFound,
    VerifyCode::Expired,
    VerifyCode::Revoked,
    VerifyCode::OwnerDisabled,
    VerifyCode::IpNotAllowed,
    VerifyCode::InsufficientPermission,
    VerifyCode::SignatureRequired,
    VerifyCode::SignatureInvalid,
];

/// Sets of counters; threads beyond this many share them (still correct: the counters are
/// atomic).
const SHARDS: usize = 16;

thread_local! {
    /// This thread's number, in the order threads first asked for one.
    static THREAD: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
}

/// A number for the calling thread, the same on every call from it: the index of its share of
/// sharded data (these counters, the usage log's pending records), modulo the shards.
pub(crate) fn thread_number() -> usize {
    THREAD.with(|n| *n)
}

/// One thread's share of the counters, on cache lines of its own.
#[repr(align(128))]
#[derive(Default)]
struct Shard {
    /// Data-plane checks by code, as [`CODES`] orders them.
    verifications: [AtomicU64; CODES.len()],
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
}

#[derive(Default)]
pub struct Counters {
    shards: [Shard; SHARDS],
}

impl Counters {
    fn shard(&self) -> &Shard {
        &self.shards[thread_number() % SHARDS]
    }

    pub(crate) fn count(&self, code: VerifyCode) {
        if let Some(counter) = self.shard().verifications.get(code as usize) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A lookup answered from memory (a cached key, or an id known not to exist).
    pub(crate) fn cache_hit(&self) {
        self.shard().cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn cache_miss(&self) {
        self.shard().cache_misses.fetch_add(1, Ordering::Relaxed);
    }

    fn sum(&self, counter: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards.iter().map(|s| counter(s).load(Ordering::Relaxed)).sum()
    }
}

/// A snapshot of the node's counters and gauges.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// `(code, count)` for every verification code.
    pub verifications: Vec<(&'static str, u64)>,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cached_keys: usize,
    pub usage_queue_depth: usize,
    pub usage_queue_capacity: usize,
    pub usage_dropped: u64,
    pub usage_written: u64,
    /// Database connections open, and how many of them are idle.
    pub db_connections: u32,
    pub db_idle_connections: u32,
}

impl Keyward {
    pub fn metrics(&self) -> Snapshot {
        let c = &self.inner.counters;
        let pool = self.store().pool_stats();
        Snapshot {
            verifications: CODES
                .iter()
                .enumerate()
                .map(|(i, code)| (code.as_str(), c.sum(|s| &s.verifications[i])))
                .collect(),
            cache_hits: c.sum(|s| &s.cache_hits),
            cache_misses: c.sum(|s| &s.cache_misses),
            cached_keys: self.inner.cache.len(),
            usage_queue_depth: self.inner.usage.depth(),
            usage_queue_capacity: self.config().usage_queue_capacity,
            usage_dropped: self.inner.usage.dropped(),
            usage_written: self.inner.usage.written(),
            db_connections: pool.size,
            db_idle_connections: pool.idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_in_the_order_of_the_variants() {
        for (i, code) in CODES.iter().enumerate() {
            assert_eq!(*code as usize, i, "{code:?}");
        }
    }

    #[test]
    fn counts_from_every_thread_are_summed() {
        let counters = std::sync::Arc::new(Counters::default());
        let threads: Vec<_> = (0..20)
            .map(|_| {
                let counters = counters.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counters.count(VerifyCode::Valid);
                        counters.cache_hit();
                    }
                    counters.count(VerifyCode::SignatureInvalid);
                    counters.cache_miss();
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().is_ok());
        }
        assert_eq!(counters.sum(|s| &s.verifications[0]), 20_000);
        assert_eq!(counters.sum(|s| &s.verifications[8]), 20);
        assert_eq!((counters.sum(|s| &s.cache_hits), counters.sum(|s| &s.cache_misses)), (20_000, 20));
    }
}
