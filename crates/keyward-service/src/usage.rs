//! The usage log: every data-plane check (verification, forward-auth), allowed or denied,
//! recorded off the hot path.
//!
//! A check only pushes an event into a bounded queue (`try_send`: never waits). A background
//! writer takes up to [`BATCH`] events at a time and writes them, with the `last_used_*` and use
//! counts they imply (coalesced per key), in one transaction. When the queue is full the event
//! is dropped and counted (a metric, and a warning at most every ten seconds): verification
//! never blocks on storage. Audit records never travel this way; they are written with their
//! change.

use crate::cache::CachedKey;
use crate::Keyward;
use chrono::{DateTime, Utc};
use keyward_domain::ids::KeyId;
use keyward_domain::network;
use keyward_domain::permission::Permission;
use keyward_domain::policy::Actor;
use keyward_store::{KeyUse, LogKind, LogRecord};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Events written per transaction at most.
pub const BATCH: usize = 1000;

/// One data-plane check, as the usage log records it.
#[derive(Debug, Clone)]
///
/// Cheap to make on the hot path: the key is a shared snapshot, the address is `Copy`; strings
/// are formatted by the writer, off the hot path.
pub struct UsageEvent {
    pub time: DateTime<Utc>,
    /// `key.verified`, `forward_auth`, …
    pub action: &'static str,
    /// The key's snapshot, when the caller held its full secret.
    pub key: Option<Arc<CachedKey>>,
    pub code: &'static str,
    pub permission: Option<Permission>,
    pub target: Option<Box<str>>,
    pub client_ip: Option<IpAddr>,
    /// Counts as a use of the key (`last_used_*`, use count): only successful checks do.
    pub success: bool,
}

pub struct UsageLog {
    enabled: bool,
    /// Which node wrote a record.
    node: String,
    sender: mpsc::Sender<UsageEvent>,
    /// Held by the writer while it waits; taken by the final flush at shutdown.
    receiver: tokio::sync::Mutex<mpsc::Receiver<UsageEvent>>,
    dropped: AtomicU64,
    written: AtomicU64,
    /// Batches being written right now (taken from the queue, not yet committed).
    writing: std::sync::atomic::AtomicUsize,
    last_warning: Mutex<Option<Instant>>,
}

impl UsageLog {
    pub fn new(enabled: bool, capacity: usize, node: String) -> Self {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        UsageLog {
            enabled,
            node,
            sender,
            receiver: tokio::sync::Mutex::new(receiver),
            dropped: AtomicU64::new(0),
            written: AtomicU64::new(0),
            writing: std::sync::atomic::AtomicUsize::new(0),
            last_warning: Mutex::new(None),
        }
    }

    /// Whether checks are logged at all (`usage_log`): callers skip building events when not.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Queues an event without waiting; drops and counts it when the queue is full.
    pub fn record(&self, event: UsageEvent) {
        if !self.enabled {
            return;
        }
        if self.sender.try_send(event).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            let mut last = self.last_warning.lock();
            if last.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                *last = Some(Instant::now());
                tracing::warn!(dropped_total = dropped, "usage log queue is full: usage records are being dropped");
            }
        }
    }

    /// Events waiting to be written.
    pub fn depth(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// The records and coalesced key uses a batch of events stands for.
    fn to_records(&self, events: &[UsageEvent]) -> (Vec<LogRecord>, Vec<KeyUse>) {
        let mut uses: HashMap<&KeyId, KeyUse> = HashMap::new();
        let mut rng = rand::thread_rng();
        let records = events
            .iter()
            .map(|e| {
                let client_ip = e.client_ip.map(|ip| network::canonical(ip).to_string());
                if let (true, Some(key)) = (e.success, &e.key) {
                    let u = uses.entry(&key.id).or_insert_with(|| KeyUse {
                        key_id: key.id.clone(),
                        last_used_at: e.time,
                        last_used_ip: client_ip.clone(),
                        count: 0,
                    });
                    u.count += 1;
                    if e.time >= u.last_used_at {
                        u.last_used_at = e.time;
                        u.last_used_ip = client_ip.clone();
                    }
                }
                LogRecord {
                    id: keyward_domain::ids::random_base62(&mut rng, 20),
                    time: e.time,
                    kind: LogKind::Usage,
                    action: e.action.into(),
                    key_id: e.key.as_ref().map(|k| k.id.clone()),
                    key_owner_id: e.key.as_ref().map(|k| k.owner_id.clone()),
                    subject_admin_id: None,
                    actor: match &e.key {
                        Some(k) => Actor::Key { id: k.id.clone(), owner_email: k.owner_email.clone() },
                        None => Actor::System,
                    },
                    client_ip,
                    code: Some(e.code.into()),
                    permission: e.permission.as_ref().map(ToString::to_string),
                    target: e.target.as_deref().map(str::to_owned),
                    node: Some(self.node.clone()),
                    details: None,
                }
            })
            .collect();
        (records, uses.into_values().collect())
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
    async fn write_usage(&self, events: &[UsageEvent]) {
        if events.is_empty() {
            return;
        }
        let (records, uses) = self.inner.usage.to_records(events);
        match self.store().record_usage(&records, &uses).await {
            Ok(()) => {
                self.inner.usage.written.fetch_add(records.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                self.inner.usage.dropped.fetch_add(records.len() as u64, Ordering::Relaxed);
                tracing::warn!(error = %e, records = records.len(), "could not write usage records");
            }
        }
    }

    /// Writes every queued usage event now (at shutdown, and in tests). When the background
    /// writer is running it holds the queue: then this waits (at most ten seconds) until the
    /// writer has emptied it and finished its current batch.
    pub async fn flush_usage(&self) {
        let usage = &self.inner.usage;
        let Ok(mut receiver) = usage.receiver.try_lock() else {
            let deadline = Instant::now() + Duration::from_secs(10);
            while (usage.depth() > 0 || usage.writing.load(Ordering::Acquire) > 0) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            return;
        };
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            while batch.len() < BATCH {
                match receiver.try_recv() {
                    Ok(e) => batch.push(e),
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                return;
            }
            self.write_usage(&batch).await;
            batch.clear();
        }
    }

    async fn write_usage_forever(self) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            {
                let mut receiver = self.inner.usage.receiver.lock().await;
                if receiver.recv_many(&mut batch, BATCH).await == 0 {
                    return;
                }
                self.inner.usage.writing.fetch_add(1, Ordering::AcqRel);
            }
            self.write_usage(&batch).await;
            self.inner.usage.writing.fetch_sub(1, Ordering::AcqRel);
            batch.clear();
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

    /// The node's housekeeping: the usage writer, retention and expired sessions hourly, and (on
    /// a shared database) cross-node cache coherence. Runs until the returned handle is aborted.
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
                if let Err(e) = keyward.store().delete_expired_sessions(keyward.now()).await {
                    tracing::warn!(error = %e, "could not prune expired sessions");
                }
                keyward.prune_revoked_tokens().await;
            }
        })
    }
}
