//! Counters of the data plane and the node's internals, read by `/metrics`.
//!
//! Plain atomics, incremented on the hot path without locks; the server renders them in the
//! Prometheus text format together with its own request histograms.

use crate::verify::VerifyCode;
use crate::Keyward;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every verification code, in a fixed order (the index of a code's counter).
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

#[derive(Default)]
pub struct Counters {
    /// Data-plane checks by code, as [`CODES`] orders them.
    verifications: [AtomicU64; 9],
    pub(crate) cache_hits: AtomicU64,
    pub(crate) cache_misses: AtomicU64,
}

impl Counters {
    pub(crate) fn count(&self, code: VerifyCode) {
        if let Some(i) = CODES.iter().position(|c| *c == code) {
            self.verifications[i].fetch_add(1, Ordering::Relaxed);
        }
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
                .zip(&c.verifications)
                .map(|(code, n)| (code.as_str(), n.load(Ordering::Relaxed)))
                .collect(),
            cache_hits: c.cache_hits.load(Ordering::Relaxed),
            cache_misses: c.cache_misses.load(Ordering::Relaxed),
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
