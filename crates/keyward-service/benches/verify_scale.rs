//! Cached verification at scale (issue #8, the in-process part): `Keyward::check` over 10^6
//! keys, in a fixed random order and on one hot key, with the usage log on (as shipped: the
//! background writer running) and off, in one run.
//!
//! `cargo bench -p keyward-service --bench verify_scale` (`KEYWARD_BENCH_SCALE_KEYS=10000` for a
//! quick run).
//!
//! Set-up (outside every timer): one node starts on a temporary SQLite database, creates an
//! admin allowed `events.*:write` and one key allowed `events.alerts:read` through the service
//! API, as a template. The other keys are added in bulk, as `scripts/bench --scale` does:
//! ids and secrets made by the domain's own functions (`KeyId::generate`, `generate_secret`),
//! hashed with the node's pepper (`SecretHasher`), and inserted with `INSERT … SELECT` copying
//! the template's other columns, so the rows are those the service writes and the schema's
//! triggers keep the counters and the search index. The database is then copied (`VACUUM
//! INTO`) for a second node with the usage log off and the same pepper. Every key is checked
//! once on each node, so both caches hold all of them (the resident memory this adds is
//! printed).
//!
//! Measured: `Keyward::check` as forward-auth calls it (`Channel::ForwardAuth`, the permission
//! `events.alerts:read` parsed once outside the timer, a client address):
//! - `verify_scale/random`: every key in a fixed random order, one caller (the presented keys
//!   are laid out in that order, as a request's key would arrive in a fresh buffer; consecutive
//!   samples go on through the order instead of starting again);
//! - `verify_scale/hot`: one key, again and again, one caller;
//! - `verify_scale/hot_2_callers`: one key checked by two tasks on the two workers at once,
//!   where threads contend for shared cache lines;
//! - `floor` (in `random` and `hot`): the issue's reference check, the floor the service is
//!   measured against in the same rounds (see [`Floor`]): the same presented keys, parsed by
//!   position, a pre-keyed HMAC-SHA-256 of the key (`hmac`), a lookup in a `HashMap` (foldhash)
//!   holding every key's hash and expiry inline, a constant-time compare (`subtle`) and an expiry
//!   check against one reading of the clock. It holds nothing else and records nothing, so what
//!   the service costs above it is its own: the cache's eviction and coherence, the snapshot's
//!   status, owner, networks and grants, the permission, the counters and the usage log.
//!
//! Criterion is given the callers' CPU time (`CLOCK_THREAD_CPUTIME_ID`), not the wall time:
//! this machine is shared, and the CPU a check takes is what the other programs disturb least.
//! The usage writer's own work runs on other threads and is not in it. After the groups the run
//! prints interleaved rounds (floor, off, on, floor, off, on, … of each case, median ns per
//! check, wall and CPU, and each node's ratio to the floor; `KEYWARD_BENCH_SCALE_ROUNDS`,
//! default 30), which are robust to load that drifts during the run, and the usage log's counts.
//!
//! The usage log's pending set: with 10^6 distinct keys in random order nearly every check is a
//! distinct record, far more a second than the writer writes, so in the criterion groups the
//! pending set fills and further checks are dropped (counted, as shipped), and a group's figure
//! mixes checks that add a record with checks that drop one, in proportions set by the writer's
//! speed. The interleaved rounds measure the path that adds records alone, as shipped: a round
//! ([`ROUND`] checks) is shorter than the pending set's capacity (`usage_queue_capacity`, 65,536
//! by default), and each usage-on round starts once the writer has written every record before
//! it, so in random order every check adds a record and none is dropped (the run prints the
//! drops of the rounds).
#![allow(clippy::unwrap_used)]

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, Mac as _};
use keyward_domain::catalog::GrantInput;
use keyward_domain::ids::{KeyId, KEY_ID_LEN};
use keyward_domain::permission::Permission;
use keyward_domain::secret::{generate_secret, Pepper};
use keyward_service::keys::NewKey;
use keyward_service::verify::{Channel, VerifyCode, VerifyQuery};
use keyward_service::{Config, Keyward, Options, RequestContext};
use rand::seq::SliceRandom as _;
use rand::{RngCore as _, SeedableRng as _};
use rustix::time::{clock_gettime, ClockId};
use sha2::Sha256;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _, Row as _};
use std::collections::HashMap;
use std::hint::black_box;
use std::net::IpAddr;
use std::str::FromStr as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq as _;

const PERMISSION: &str = "events.alerts:read";
const CLIENT_IP: &str = "203.0.113.7";
/// Checks in one interleaved round (10–30 ms): fewer than the usage log's default capacity
/// (see the top).
const ROUND: u64 = 50_000;
/// Rows per transaction of the bulk load.
const BATCH: usize = 50_000;

fn key_count() -> usize {
    std::env::var("KEYWARD_BENCH_SCALE_KEYS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000).max(1)
}

/// Interleaved rounds after the criterion groups (`KEYWARD_BENCH_SCALE_ROUNDS`, default 30; 0
/// skips them, e.g. when profiling one group).
fn rounds() -> usize {
    std::env::var("KEYWARD_BENCH_SCALE_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(30)
}

/// One node and where it goes on in the random order.
struct Node {
    keyward: Keyward,
    usage_log: bool,
    /// The next position in the random order.
    cursor: AtomicU64,
    _background: tokio::task::JoinHandle<()>,
}

/// The floor: the check the issue measured its in-process figures with (0.55 µs in random
/// order over 10^6 keys, 0.20 µs hot, on its machine), rebuilt here so that it meets the same
/// machine, the same presented keys and the same rounds as the service. A key is valid when
/// its id is known, the HMAC of the whole presented key matches in constant time and it has not
/// expired.
struct Floor {
    /// `<prefix>_`, skipped by position.
    prefix_len: usize,
    /// Keyed once; cloned per check.
    mac: Hmac<Sha256>,
    /// Each key's hash and expiry held in the map's own slots: one lookup reads them.
    keys: HashMap<[u8; KEY_ID_LEN], FloorKey, foldhash::fast::RandomState>,
    /// The next position in the random order.
    cursor: AtomicU64,
}

struct FloorKey {
    hash: [u8; 32],
    /// Unix milliseconds.
    expires_at: i64,
}

impl Floor {
    fn new(pepper: &[u8], prefix: &str, secrets: &[String]) -> Floor {
        let mac = Hmac::<Sha256>::new_from_slice(pepper).unwrap();
        let mut floor =
            Floor { prefix_len: prefix.len() + 1, mac, keys: HashMap::default(), cursor: AtomicU64::new(0) };
        floor.keys.reserve(secrets.len());
        for secret in secrets {
            let key = FloorKey { hash: floor.hash(secret), expires_at: i64::MAX };
            floor.keys.insert(floor.id(secret).unwrap(), key);
        }
        floor
    }

    fn id(&self, presented: &str) -> Option<[u8; KEY_ID_LEN]> {
        presented.as_bytes().get(self.prefix_len..self.prefix_len + KEY_ID_LEN)?.try_into().ok()
    }

    fn hash(&self, presented: &str) -> [u8; 32] {
        self.mac.clone().chain_update(presented.as_bytes()).finalize().into_bytes().into()
    }

    fn check(&self, presented: &str) -> bool {
        let Some(id) = self.id(presented) else { return false };
        let hash = self.hash(presented);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        self.keys.get(&id).is_some_and(|key| bool::from(key.hash.ct_eq(&hash)) & (key.expires_at > now))
    }
}

/// What the check needs beside the key, made once.
struct Query {
    permission: Permission,
    client_ip: IpAddr,
}

impl Query {
    fn new() -> Self {
        Query { permission: PERMISSION.parse().unwrap(), client_ip: CLIENT_IP.parse().unwrap() }
    }
}

/// One data-plane check, as forward-auth makes it.
async fn check(keyward: &Keyward, query: &Query, secret: &str) -> VerifyCode {
    let query = VerifyQuery {
        key: secret,
        permission: Some(&query.permission),
        target: None,
        client_ip: Some(query.client_ip),
        request: None,
    };
    keyward.check(query, Channel::ForwardAuth).await.unwrap().code
}

fn config(dir: &std::path::Path, file: &str, usage_log: bool, keys: usize) -> Config {
    Config {
        database_url: format!("sqlite://{}/{file}", dir.display()),
        usage_log,
        node_name: Some(format!("bench-usage-{}", if usage_log { "on" } else { "off" })),
        // Room for every key: the cache's shards fill unevenly, so at the default capacity
        // (10^6) a few hundred of 10^6 keys would not stay cached (and a few of 2,000 at 2,200).
        cache_capacity: keys + keys / 10 + 10_000,
        ..Config::default()
    }
}

async fn start(config: Config, pepper_hex: &str) -> Keyward {
    let mut options = Options::new(config);
    let pepper_hex = pepper_hex.to_owned();
    options.env = Box::new(move |k| match k {
        "KEYWARD_PEPPER" => Some(pepper_hex.clone()),
        other => common::bootstrap_env(other),
    });
    Keyward::start(options).await.unwrap().0
}

/// Creates the admin and the template key through the service; returns the key's id and
/// secret.
async fn template_key(keyward: &Keyward) -> (String, String) {
    let ctx = RequestContext::default();
    let issue = common::key_issuer(keyward).await;
    let input = NewKey {
        name: "bench-template".into(),
        grants: Some(vec![GrantInput::Bare(PERMISSION.into())]),
        ..NewKey::default()
    };
    let issued = keyward.create_key(&issue, input, &ctx).await.unwrap();
    (issued.view.key.id.to_string(), issued.secret.expose().to_owned())
}

/// Adds `count` keys like the template to the database; returns their secrets. The rows go in
/// in the order of their ids, so every index grows at its end, in transactions of [`BATCH`],
/// with a page cache that holds the indexes (a random order with SQLite's default 2 MB cache
/// took about 6 minutes for 10^6 keys on this machine; sorted, about a minute).
async fn bulk_load(url: &str, template_id: &str, prefix: &str, pepper: &Pepper, count: usize) -> Vec<String> {
    let hasher = pepper.hasher();
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let mut keys: Vec<(KeyId, String)> = (0..count)
        .map(|_| {
            let id = KeyId::generate(&mut rng);
            let secret = generate_secret(&mut rng, prefix, &id);
            (id, secret.expose().to_owned())
        })
        .collect();
    keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut conn = SqliteConnectOptions::from_str(url)
        .unwrap()
        .busy_timeout(Duration::from_secs(60))
        .pragma("cache_size", "-1048576")
        .connect()
        .await
        .unwrap();
    let own = ["id", "name", "secret_hash"];
    let rest: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info('api_keys')")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.get::<String, _>(0))
        .filter(|c| !own.contains(&c.as_str()) && c != "search_seq") // search_seq: the trigger numbers it
        .collect();
    let sql = format!(
        "INSERT INTO api_keys ({}, {rest}) SELECT ?, ?, ?, {rest} FROM api_keys WHERE id = ?",
        own.join(", "),
        rest = rest.join(", ")
    );
    for (n, batch) in keys.chunks(BATCH).enumerate() {
        let mut tx = conn.begin().await.unwrap();
        for (i, (id, secret)) in batch.iter().enumerate() {
            sqlx::query(&sql)
                .bind(id.as_str())
                .bind(format!("bulk-{}", n * BATCH + i))
                .bind(&hasher.hash(secret).0[..])
                .bind(template_id)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    keys.into_iter().map(|(_, secret)| secret).collect()
}

/// The process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next());
    kib.and_then(|k| k.parse::<u64>().ok()).unwrap_or(0) * 1024
}

/// Checks every key once (four callers, so both cores load snapshots from the store).
async fn warm(keyward: &Keyward, secrets: &Arc<Vec<String>>) {
    let callers = 4;
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let (keyward, secrets) = (keyward.clone(), secrets.clone());
            tokio::spawn(async move {
                let query = Query::new();
                for secret in secrets.iter().skip(c).step_by(callers) {
                    assert_eq!(check(&keyward, &query, secret).await, VerifyCode::Valid);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

/// Waits until the node's writer has written or dropped the record of every check so far.
async fn drain(node: &Node) {
    if !node.usage_log {
        return;
    }
    loop {
        let m = node.keyward.metrics();
        let checks: u64 = m.verifications.iter().map(|(_, n)| n).sum();
        if m.usage_written + m.usage_dropped >= checks {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The two nodes and the keys, every key cached on both.
async fn setup(keys: usize) -> (tempfile::TempDir, [Node; 2], Floor, Arc<Vec<String>>) {
    let dir = tempfile::tempdir().unwrap();
    let mut pepper_bytes = [0u8; 32];
    rand::rngs::StdRng::seed_from_u64(9).fill_bytes(&mut pepper_bytes);
    let pepper_hex: String = pepper_bytes.iter().map(|b| format!("{b:02x}")).collect();
    let pepper = Pepper::new(pepper_bytes.to_vec()).unwrap();

    let on_config = config(dir.path(), "on.db", true, keys);
    let on_url = on_config.database_url.clone();
    let on = start(on_config, &pepper_hex).await;
    let started = Instant::now();
    let (template_id, template_secret) = template_key(&on).await;
    let prefix = on.config().key_prefix.clone();
    let mut secrets = bulk_load(&on_url, &template_id, &prefix, &pepper, keys - 1).await;
    secrets.push(template_secret);
    eprintln!("{keys} keys added in {:.1?}", started.elapsed());

    let off_path = dir.path().join("off.db");
    let mut conn = SqliteConnectOptions::from_str(&on_url).unwrap().connect().await.unwrap();
    sqlx::query("VACUUM INTO ?").bind(off_path.display().to_string()).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let off = start(config(dir.path(), "off.db", false, keys), &pepper_hex).await;

    // The random order; the presented keys are laid out in it.
    secrets.shuffle(&mut rand::rngs::StdRng::seed_from_u64(6));
    let secrets = Arc::new(secrets.iter().map(|s| s.as_str().to_owned()).collect::<Vec<_>>());

    let mut nodes = Vec::new();
    for (keyward, usage_log) in [(off, false), (on, true)] {
        let background = keyward.spawn_background();
        let (before, started) = (rss(), Instant::now());
        warm(&keyward, &secrets).await;
        let grown = rss().saturating_sub(before);
        eprintln!(
            "usage log {}: {} keys cached in {:.1?}; resident memory grew {} MiB ({} B per cached key)",
            if usage_log { "on" } else { "off" },
            keyward.cached_keys(),
            started.elapsed(),
            grown >> 20,
            grown / keyward.cached_keys().max(1) as u64
        );
        assert_eq!(keyward.cached_keys(), keys, "every key cached");
        let node = Node { keyward, usage_log, cursor: AtomicU64::new(0), _background: background };
        drain(&node).await;
        nodes.push(node);
    }
    let [off, on]: [Node; 2] = nodes.try_into().ok().unwrap();
    let floor = Floor::new(&pepper_bytes, &prefix, &secrets);
    assert!(secrets.iter().all(|s| floor.check(s)), "the floor accepts every key");
    assert!(!floor.check(&format!("{}x", secrets[0])), "the floor rejects another key");
    (dir, [off, on], floor, secrets)
}

/// `iters` checks in the random order, from where the node's last run stopped.
async fn run_random(node: &Node, secrets: &[String], iters: u64) {
    let query = Query::new();
    let first = node.cursor.fetch_add(iters, Ordering::Relaxed);
    for i in first..first + iters {
        black_box(check(&node.keyward, &query, &secrets[(i % secrets.len() as u64) as usize]).await);
    }
}

/// `iters` checks of the floor in the random order, from where its last run stopped.
fn run_floor_random(floor: &Floor, secrets: &[String], iters: u64) {
    let first = floor.cursor.fetch_add(iters, Ordering::Relaxed);
    for i in first..first + iters {
        black_box(floor.check(&secrets[(i % secrets.len() as u64) as usize]));
    }
}

/// `iters` checks of one key by the floor.
fn run_floor_hot(floor: &Floor, secret: &str, iters: u64) {
    for _ in 0..iters {
        black_box(floor.check(black_box(secret)));
    }
}

/// `iters` checks of one key.
async fn run_hot(keyward: &Keyward, secret: &str, iters: u64) {
    let query = Query::new();
    for _ in 0..iters {
        black_box(check(keyward, &query, secret).await);
    }
}

/// `iters` checks of one key by two concurrent callers; returns the CPU time they took
/// together. Each caller runs on one worker throughout: a cached check never waits, so it
/// never yields.
async fn run_hot_2_callers(keyward: &Keyward, secret: &Arc<str>, iters: u64) -> Duration {
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let (keyward, secret) = (keyward.clone(), secret.clone());
            tokio::spawn(async move {
                let started = thread_cpu();
                run_hot(&keyward, &secret, iters.div_ceil(2)).await;
                thread_cpu() - started
            })
        })
        .collect();
    let mut cpu = Duration::ZERO;
    for task in tasks {
        cpu += task.await.unwrap();
    }
    cpu
}

#[derive(Clone, Copy)]
enum Case {
    Random,
    Hot,
    Hot2Callers,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Random => "random",
            Case::Hot => "hot",
            Case::Hot2Callers => "hot_2_callers",
        }
    }
}

/// The CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// What a run of checks took: wall time, and the CPU time of the callers (the calling thread,
/// where `block_on` polls a single caller's checks; the two tasks' threads for two callers).
/// Criterion is given the CPU time, which the other programs of this shared machine disturb far
/// less than the wall time (they take turns on its two cores); the interleaved rounds print
/// both.
#[derive(Clone, Copy)]
struct Took {
    wall: Duration,
    cpu: Duration,
}

/// What is measured: a node's `Keyward::check`, or the floor.
#[derive(Clone, Copy)]
enum Subject<'a> {
    Node(&'a Node),
    Floor(&'a Floor),
}

impl Subject<'_> {
    fn name(self) -> &'static str {
        match self {
            Subject::Node(node) if node.usage_log => "usage_on",
            Subject::Node(_) => "usage_off",
            Subject::Floor(_) => "floor",
        }
    }

    /// The floor is one caller's: it has no `hot_2_callers`.
    fn measures(self, case: Case) -> bool {
        matches!(self, Subject::Node(_)) || !matches!(case, Case::Hot2Callers)
    }
}

fn timed(
    rt: &tokio::runtime::Runtime,
    case: Case,
    subject: Subject<'_>,
    secrets: &Arc<Vec<String>>,
    iters: u64,
) -> Took {
    let hot: Arc<str> = secrets[0].as_str().into();
    rt.block_on(async {
        let (wall, caller) = (Instant::now(), thread_cpu());
        let cpu = match (subject, case) {
            (Subject::Node(node), Case::Random) => {
                run_random(node, secrets, iters).await;
                thread_cpu() - caller
            }
            (Subject::Node(node), Case::Hot) => {
                run_hot(&node.keyward, &hot, iters).await;
                thread_cpu() - caller
            }
            (Subject::Node(node), Case::Hot2Callers) => run_hot_2_callers(&node.keyward, &hot, iters).await,
            (Subject::Floor(floor), Case::Random) => {
                run_floor_random(floor, secrets, iters);
                thread_cpu() - caller
            }
            (Subject::Floor(floor), Case::Hot | Case::Hot2Callers) => {
                run_floor_hot(floor, &hot, iters);
                thread_cpu() - caller
            }
        };
        Took { wall: wall.elapsed(), cpu }
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let keys = key_count();
    let (_dir, nodes, floor, secrets) = rt.block_on(setup(keys));
    // Every check creates the future of `Keyward::check` and moves it: its size is a cost.
    let query = Query::new();
    let future = nodes[0].keyward.check(
        VerifyQuery {
            key: &secrets[0],
            permission: Some(&query.permission),
            target: None,
            client_ip: None,
            request: None,
        },
        Channel::ForwardAuth,
    );
    eprintln!("the future of Keyward::check: {} bytes", std::mem::size_of_val(&future));
    drop(future);
    let subjects = [Subject::Floor(&floor), Subject::Node(&nodes[0]), Subject::Node(&nodes[1])];
    let cases = [Case::Random, Case::Hot, Case::Hot2Callers];

    for case in cases {
        let mut group = c.benchmark_group(format!("verify_scale/{}", case.name()));
        group.throughput(Throughput::Elements(1));
        for subject in subjects.into_iter().filter(|s| s.measures(case)) {
            group.bench_function(BenchmarkId::from_parameter(subject.name()), |b| {
                b.iter_custom(|iters| timed(&rt, case, subject, &secrets, iters).cpu)
            });
        }
        group.finish();
    }

    // Interleaved rounds: floor, off, on, floor, off, on, … of each case, medians. A usage-on
    // round starts with nothing pending.
    let dropped_before = nodes[1].keyward.metrics().usage_dropped;
    let rounds = rounds();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[(rounds - 1) / 2] + v[rounds / 2]) / 2.0
    };
    for case in cases.into_iter().filter(|_| rounds > 0) {
        let measured: Vec<Subject<'_>> = subjects.into_iter().filter(|s| s.measures(case)).collect();
        let mut took: Vec<Vec<Took>> = vec![Vec::new(); measured.len()];
        for _ in 0..rounds {
            for (i, subject) in measured.iter().enumerate() {
                if let Subject::Node(node) = subject {
                    rt.block_on(drain(node));
                }
                took[i].push(timed(&rt, case, *subject, &secrets, ROUND));
            }
        }
        for (what, f) in [("wall", (|t: &Took| t.wall) as fn(&Took) -> Duration), ("CPU", |t: &Took| t.cpu)] {
            let per_check: Vec<f64> = took
                .iter()
                .map(|runs| median(runs.iter().map(|t| f(t).as_nanos() as f64 / ROUND as f64).collect()))
                .collect();
            let floor = measured.iter().position(|s| matches!(s, Subject::Floor(_))).map(|i| per_check[i]);
            let figures: Vec<String> = measured
                .iter()
                .zip(&per_check)
                .map(|(subject, ns)| match (subject, floor) {
                    (Subject::Node(_), Some(floor)) => {
                        format!("{} {ns:.0} ns ({:.2}x the floor)", subject.name(), ns / floor)
                    }
                    _ => format!("{} {ns:.0} ns", subject.name()),
                })
                .collect();
            let (off, on) = (per_check[per_check.len() - 2], per_check[per_check.len() - 1]);
            eprintln!(
                "interleaved {}, {what}: median of {rounds} rounds of {ROUND} checks, per check: {} (on / off {:.3})",
                case.name(),
                figures.join(", "),
                on / off
            );
        }
    }

    rt.block_on(drain(&nodes[1]));
    eprintln!(
        "usage_on: checks dropped from the usage log during the interleaved rounds: {}",
        nodes[1].keyward.metrics().usage_dropped - dropped_before
    );
    for node in &nodes {
        let m = node.keyward.metrics();
        let checks: u64 = m.verifications.iter().map(|(_, n)| n).sum();
        eprintln!(
            "{}: {checks} checks, {} cache hits, {} misses; usage records written {}, dropped {}, pending {}",
            Subject::Node(node).name(),
            m.cache_hits,
            m.cache_misses,
            m.usage_written,
            m.usage_dropped,
            m.usage_queue_depth
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
