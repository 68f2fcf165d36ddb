//! The usage log: every data-plane check (verification, forward-auth), allowed or denied,
//! recorded off the hot path.
//!
//! A check only pushes an event into a bounded queue (`try_send`: never waits). A background
//! drainer takes the queue continuously into an in-memory [`Aggregate`]; a writer writes it,
//! with the `last_used_*` and use counts it implies (coalesced per key), in one transaction at
//! most once per [`WRITE_INTERVAL`] (at once after a quiet spell, so a lone check is written
//! without delay), while the drainer goes on. Identical checks of one interval become one record with a count: under load the
//! writer's work grows with the number of distinct clients and keys, not with the number of
//! checks, which is what keeps it from competing with the data plane for the CPU. When the
//! queue is full the event is dropped and counted (a metric, and a warning at most every ten
//! seconds): verification never blocks on storage. Audit records never travel this way; they
//! are written with their change.

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

/// How often the writer writes at most while checks keep arriving.
pub const WRITE_INTERVAL: Duration = Duration::from_secs(1);
/// Distinct records held in memory at most: more are written before the interval ends.
const MAX_PENDING_RECORDS: usize = 20_000;
/// Events taken off the queue at a time.
const RECEIVE_BATCH: usize = 1024;

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
    /// Events taken off the queue and not yet committed (aggregated or being written).
    unwritten: AtomicU64,
    /// What was taken off the queue and waits for the next write. Shared, so that what a
    /// stopped writer held is still written by the final flush.
    pending: Mutex<Aggregate>,
    /// Wakes the writer: events arrived in `pending`.
    arrived: tokio::sync::Notify,
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
            unwritten: AtomicU64::new(0),
            pending: Mutex::new(Aggregate::default()),
            arrived: tokio::sync::Notify::new(),
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
}

/// Checks taken off the queue and not yet written: identical checks (same action, key snapshot,
/// answer, permission, target and client address) are one record with their count, and each
/// key's successful uses are coalesced. Adding a check allocates nothing once its record and key
/// are known (fast hashing, the key snapshot compared by address, strings made at write time).
#[derive(Default)]
struct Aggregate {
    records: HashMap<RecordIdentity, Group, foldhash::fast::RandomState>,
    uses: HashMap<KeyId, Uses, foldhash::fast::RandomState>,
    events: u64,
}

/// What makes two checks the same usage record (apart from their time). The key is its cache
/// snapshot's address: checks of one key share a snapshot until the key changes (then a change
/// splits its checks of one interval into two records).
#[derive(PartialEq, Eq, Hash)]
struct RecordIdentity {
    action: &'static str,
    key: Option<usize>,
    code: &'static str,
    permission: Option<Permission>,
    target: Option<Box<str>>,
    client_ip: Option<IpAddr>,
}

/// Identical checks: their key snapshot, the first and the latest time, how many.
struct Group {
    key: Option<Arc<CachedKey>>,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    count: u64,
}

/// One key's successful checks: how many, and the latest one's time and client address.
struct Uses {
    count: u64,
    last_at: DateTime<Utc>,
    last_ip: Option<IpAddr>,
}

impl Aggregate {
    fn add(&mut self, e: UsageEvent) {
        self.events += 1;
        if let (true, Some(key)) = (e.success, &e.key) {
            match self.uses.get_mut(&key.id) {
                Some(u) => {
                    u.count += 1;
                    if e.time >= u.last_at {
                        (u.last_at, u.last_ip) = (e.time, e.client_ip);
                    }
                }
                None => {
                    self.uses.insert(key.id.clone(), Uses { count: 1, last_at: e.time, last_ip: e.client_ip });
                }
            }
        }
        let identity = RecordIdentity {
            action: e.action,
            key: e.key.as_ref().map(|k| Arc::as_ptr(k) as usize),
            code: e.code,
            permission: e.permission,
            target: e.target,
            client_ip: e.client_ip,
        };
        let group = self.records.entry(identity).or_insert(Group { key: e.key, first: e.time, last: e.time, count: 0 });
        group.count += 1;
        group.first = group.first.min(e.time);
        group.last = group.last.max(e.time);
    }

    fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// The records and key uses to write, in the order of their times.
    fn take(&mut self, node: &str) -> (u64, Vec<LogRecord>, Vec<KeyUse>) {
        let mut rng = rand::thread_rng();
        let mut records: Vec<LogRecord> = self
            .records
            .drain()
            .map(|(identity, g)| LogRecord {
                id: keyward_domain::ids::log_record_id(&mut rng, g.last.timestamp_millis()),
                time: g.last,
                kind: LogKind::Usage,
                action: identity.action.into(),
                key_id: g.key.as_ref().map(|k| k.id.clone()),
                key_owner_id: g.key.as_ref().map(|k| k.owner_id.clone()),
                subject_admin_id: None,
                actor: match &g.key {
                    Some(k) => Actor::Key { id: k.id.clone(), owner_email: k.owner_email.clone() },
                    None => Actor::System,
                },
                client_ip: identity.client_ip.map(|ip| network::canonical(ip).to_string()),
                code: Some(identity.code.into()),
                permission: identity.permission.as_ref().map(ToString::to_string),
                target: identity.target.map(String::from),
                node: Some(node.to_owned()),
                details: (g.count > 1).then(|| {
                    serde_json::json!({
                        "count": g.count,
                        "first_at": g.first.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    })
                }),
            })
            .collect();
        records.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        let events = std::mem::take(&mut self.events);
        let uses = self
            .uses
            .drain()
            .map(|(key_id, u)| KeyUse {
                key_id,
                last_used_at: u.last_at,
                last_used_ip: u.last_ip.map(|ip| network::canonical(ip).to_string()),
                count: u.count,
            })
            .collect();
        (events, records, uses)
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
    async fn write_usage(&self, mut batch: Aggregate) {
        if batch.is_empty() {
            return;
        }
        let usage = &self.inner.usage;
        let (events, records, uses) = batch.take(&usage.node);
        let keyward = self.clone();
        let written = tokio::spawn(async move { keyward.store().record_usage(&records, &uses).await }).await;
        match written {
            Ok(Ok(())) => {
                usage.written.fetch_add(events, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                usage.dropped.fetch_add(events, Ordering::Relaxed);
                tracing::warn!(error = %e, events, "could not write usage records");
            }
            Err(e) => {
                usage.dropped.fetch_add(events, Ordering::Relaxed);
                tracing::warn!(error = %e, events, "the usage write did not finish");
            }
        }
        usage.unwritten.fetch_sub(events, Ordering::AcqRel);
    }

    /// Moves events from the queue into the pending aggregate.
    fn take_in(usage: &UsageLog, events: &mut Vec<UsageEvent>) {
        usage.unwritten.fetch_add(events.len() as u64, Ordering::AcqRel);
        let mut pending = usage.pending.lock();
        for e in events.drain(..) {
            pending.add(e);
        }
    }

    /// Writes every queued usage event now (at shutdown, and in tests), including what the
    /// background tasks hold, and waits (at most ten seconds) until all of it is committed.
    pub async fn flush_usage(&self) {
        let usage = &self.inner.usage;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // Without a running drainer, empty the queue here.
            if let Ok(mut receiver) = usage.receiver.try_lock() {
                let mut events = Vec::new();
                while let Ok(e) = receiver.try_recv() {
                    events.push(e);
                }
                Self::take_in(usage, &mut events);
            }
            let batch = std::mem::take(&mut *usage.pending.lock());
            self.write_usage(batch).await;
            let done = usage.depth() == 0 && usage.unwritten.load(Ordering::Acquire) == 0;
            if done || Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Takes events off the queue as they come into the pending aggregate, and wakes the
    /// writer. Holds back (the queue absorbs, then drops) while [`MAX_PENDING_RECORDS`]
    /// distinct records wait.
    async fn drain_usage_forever(self) {
        let usage = &self.inner.usage;
        let mut receiver = usage.receiver.lock().await;
        let mut received = Vec::with_capacity(RECEIVE_BATCH);
        loop {
            while usage.pending.lock().records.len() >= MAX_PENDING_RECORDS {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if receiver.recv_many(&mut received, RECEIVE_BATCH).await == 0 {
                return;
            }
            Self::take_in(usage, &mut received);
            usage.arrived.notify_one();
        }
    }

    /// Writes the pending aggregate when events arrive, at most once per [`WRITE_INTERVAL`]:
    /// a lone check after a quiet spell is written at once; under load, one transaction a
    /// second holds everything that arrived in it, while the drainer goes on taking events.
    async fn write_usage_forever(self) {
        let usage = &self.inner.usage;
        loop {
            usage.arrived.notified().await;
            let started = tokio::time::Instant::now();
            let batch = std::mem::take(&mut *usage.pending.lock());
            self.write_usage(batch).await;
            tokio::time::sleep_until(started + WRITE_INTERVAL).await;
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
            let _drainer = AbortOnDrop(tokio::spawn(keyward.clone().drain_usage_forever()));
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
