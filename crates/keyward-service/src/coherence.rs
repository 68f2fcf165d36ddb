//! Cross-node cache coherence on a shared database (PostgreSQL).
//!
//! Each node keeps its own verification cache. Every change is published by the store in its
//! own transaction (`LISTEN/NOTIFY`), and every node drops what it is told to. Two safety nets
//! bound the damage of a missed notification: when the listening connection drops, the whole
//! cache is dropped (and again after each failed reconnect); and every
//! [`RECONCILE_INTERVAL`] the node asks the store what changed recently and drops that too. A
//! revocation therefore reaches every node within milliseconds normally, and within
//! `RECONCILE_INTERVAL` + one query even when its notification is lost.

use crate::Keyward;
use keyward_store::Invalidation;
use std::time::Duration;

/// How often a node reconciles its cache with the store.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(1);
/// How far back each reconciliation looks, beyond the previous one: covers clock skew between
/// nodes and transactions that committed a little after the time they stamped.
const RECONCILE_OVERLAP: chrono::Duration = chrono::Duration::seconds(10);

impl Keyward {
    fn apply(&self, invalidation: &Invalidation) {
        match invalidation {
            Invalidation::Key(id) => self.inner.cache.invalidate_key(id),
            Invalidation::Owner(id) => self.inner.cache.invalidate_owner(id),
            Invalidation::Token(jti) => self.denylist_token(jti, self.longest_token_life()),
            Invalidation::SigningKeys => {
                let node = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = node.reload_signing_keys().await {
                        tracing::warn!(error = %e, "cannot reload the signing keys");
                    }
                });
            }
            Invalidation::Everything => {
                self.inner.cache.clear();
                // Revocations and rotations may have been missed too.
                let node = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = node.reload_signing_keys().await {
                        tracing::warn!(error = %e, "cannot reload the signing keys");
                    }
                    if let Err(e) = node.reload_denylist().await {
                        tracing::warn!(error = %e, "cannot reload the revoked tokens");
                    }
                });
            }
        }
    }

    /// Runs forever (until aborted) on backends shared by several nodes; returns at once on
    /// SQLite, where every change goes through this node.
    pub(crate) async fn keep_cache_coherent(self) {
        let mut listener = match self.store().listen().await {
            Ok(Some(listener)) => listener,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for cache invalidations; relying on reconciliation");
                self.reconcile_forever().await;
                return;
            }
        };
        let reconcile = tokio::spawn(self.clone().reconcile_forever());
        let _stop_reconciling = crate::usage::AbortOnDrop(reconcile);
        loop {
            match listener.next().await {
                Ok(invalidation) => {
                    if invalidation == Invalidation::Everything {
                        tracing::warn!("cache invalidation connection was lost; dropping the whole cache");
                    }
                    self.apply(&invalidation);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cache invalidation connection is down; retrying");
                    self.apply(&Invalidation::Everything);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    async fn reconcile_forever(self) {
        let mut since = self.now() - RECONCILE_OVERLAP;
        let mut tick = tokio::time::interval(RECONCILE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let started = self.now();
            match self.store().changed_since(since).await {
                Ok(changes) => {
                    for change in &changes {
                        self.apply(change);
                    }
                    since = started - RECONCILE_OVERLAP;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cache reconciliation failed; dropping the whole cache");
                    self.apply(&Invalidation::Everything);
                }
            }
        }
    }
}
