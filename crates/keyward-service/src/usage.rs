//! `last_used_at` / `last_used_ip`, recorded off the hot path: verifications note the latest
//! use per key in memory, and a background task writes them in one batch per second. Several
//! uses of one key within that second coalesce into one write.

use crate::Keyward;
use chrono::{DateTime, Utc};
use keyward_domain::ids::KeyId;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::Duration;

/// The latest use of each key since the last flush: when, and from which address.
type PendingUses = HashMap<KeyId, (DateTime<Utc>, Option<String>)>;

#[derive(Default)]
pub struct UsageRecorder {
    pending: Mutex<PendingUses>,
}

impl UsageRecorder {
    pub fn record(&self, key: &KeyId, at: DateTime<Utc>, ip: Option<String>) {
        self.pending.lock().insert(key.clone(), (at, ip));
    }

    fn take(&self) -> PendingUses {
        std::mem::take(&mut *self.pending.lock())
    }
}

/// Aborts a task when dropped, so background work stops together.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Keyward {
    /// Writes pending usage now (also called at shutdown).
    pub async fn flush_usage(&self) {
        for (key, (at, ip)) in self.inner.usage.take() {
            if let Err(e) = self.store().touch_key(&key, at, ip.as_deref()).await {
                tracing::warn!(error = %e, key_id = %key, "could not record key usage");
            }
        }
    }

    /// The node's housekeeping: usage flushes every second, expired sessions hourly, and (on a
    /// shared database) cross-node cache coherence. Runs until the returned handle is aborted.
    pub fn spawn_background(&self) -> tokio::task::JoinHandle<()> {
        let keyward = self.clone();
        tokio::spawn(async move {
            let coherence = tokio::spawn(keyward.clone().keep_cache_coherent());
            let _abort_with_us = AbortOnDrop(coherence);
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut ticks: u64 = 0;
            loop {
                tick.tick().await;
                keyward.flush_usage().await;
                if ticks.is_multiple_of(3600) {
                    if let Err(e) = keyward.store().delete_expired_sessions(keyward.now()).await {
                        tracing::warn!(error = %e, "could not prune expired sessions");
                    }
                }
                ticks += 1;
            }
        })
    }
}
