//! Data-plane throughput with the usage log on and off, in the same run (issue "Usage
//! tracking…": logging on should cost under 10 %).
//!
//! Three nodes, each on its own temporary SQLite database with `KEYS` keys (default 10,000;
//! `KEYWARD_BENCH_KEYS` overrides) created through the service API. Every key is checked once
//! before measuring, so the caches are warm: what is measured is `Keyward::check` of valid keys
//! in a fixed random order, with a permission and a client address, as forward-auth calls it.
//!
//! - `usage_off`: `usage_log = false`.
//! - `usage_on`: `usage_log = true`, background writer running (as in production).
//! - `usage_on_enqueue_only`: `usage_log = true`, no writer: what the checking caller pays
//!   (adding the check to its thread's pending records), without the writer's work.
//!
//! Criterion groups (the `usage_on` writer runs throughout, as in production: it takes the
//! pending records and writes them once a second, so its work lands in whichever samples it
//! falls in):
//! - `check/sequential`: one caller, checks one after another;
//! - `check/saturated`: 8 concurrent callers on a 2-worker runtime (every core busy; the writer
//!   competes for them).
//!
//! After the groups the run prints an interleaved A/B/C (10 rounds of 500,000 checks each, about
//! a second per round so every round includes the writer's work; median ns per check,
//! robust to load that drifts during the run): `usage_off`, `usage_on` (sustained, writer
//! included) and `usage_on_enqueue_only` (the caller's share alone; its pending records are
//! written between rounds, outside the timer);
//! how many records each node wrote and dropped; and how long the `usage_on` writer takes to
//! write 20,000 checks of distinct keys (the worst case: every check its own record).
#![allow(clippy::unwrap_used)]

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keyward_domain::catalog::GrantInput;
use keyward_service::keys::NewKey;
use keyward_service::verify::{Channel, VerifyCode, VerifyQuery};
use keyward_service::{Config, Keyward, Options, RequestContext};
use rand::seq::SliceRandom as _;
use rand::SeedableRng as _;
use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PERMISSION: &str = "events.alerts:read";
/// Concurrent callers of the `saturated` benchmark.
const CALLERS: u64 = 8;

/// How a node handles its usage log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `usage_log = false`.
    Off,
    /// `usage_log = true`, the background writer running (as in production).
    On,
    /// `usage_log = true` and no writer while measured: only what the checking caller pays
    /// (adding the check to the pending records); they are written between samples.
    Enqueue,
}

struct Node {
    keyward: Keyward,
    mode: Mode,
    secrets: Arc<Vec<String>>,
    _background: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

fn key_count() -> usize {
    std::env::var("KEYWARD_BENCH_KEYS").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000)
}

/// A node with `keys` keys that may read alerts, every one checked once (warm cache).
async fn node(mode: Mode, keys: usize) -> Node {
    let usage_log = mode != Mode::Off;
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        database_url: format!("sqlite://{}/keyward.db", dir.path().display()),
        pepper_file: Some(dir.path().join("pepper")),
        usage_log,
        node_name: Some(format!("bench-{mode:?}")),
        // Without a writer the pending set must hold every record of the A/B rounds (and the
        // warm-up checks), or it would measure dropping.
        usage_queue_capacity: if mode == Mode::Enqueue { 1 << 20 } else { Config::default().usage_queue_capacity },
        ..Config::default()
    };
    let mut options = Options::new(config);
    options.env = Box::new(common::bootstrap_env);
    let (keyward, _) = Keyward::start(options).await.unwrap();
    let background = (mode != Mode::Enqueue).then(|| keyward.spawn_background());

    let ctx = RequestContext::default();
    let issue = common::key_issuer(&keyward).await;
    let started = Instant::now();
    let mut secrets = Vec::with_capacity(keys);
    for i in 0..keys {
        let input = NewKey {
            name: format!("bench-{i}"),
            grants: Some(vec![GrantInput::Bare(PERMISSION.into())]),
            ..NewKey::default()
        };
        let issued = keyward.create_key(&issue, input, &ctx).await.unwrap();
        secrets.push(issued.secret.expose().to_owned());
    }
    eprintln!("node {mode:?}: {keys} keys created in {:.1?}", started.elapsed());
    let node = Node { keyward, mode, secrets: Arc::new(secrets), _background: background, _dir: dir };
    for secret in node.secrets.iter() {
        assert_eq!(check(&node.keyward, secret).await, VerifyCode::Valid);
    }
    drain(&node).await;
    node
}

/// One data-plane check, as forward-auth makes it.
async fn check(keyward: &Keyward, secret: &str) -> VerifyCode {
    let permission = PERMISSION.parse().unwrap();
    let client_ip: IpAddr = "203.0.113.7".parse().unwrap();
    let query = VerifyQuery {
        key: secret,
        permission: Some(&permission),
        target: None,
        client_ip: Some(client_ip),
        request: None,
    };
    keyward.check(query, Channel::ForwardAuth).await.unwrap().code
}

/// Waits until the node's writer has written (or dropped) every event of its checks so far.
async fn drain(node: &Node) {
    if node.mode != Mode::On {
        return;
    }
    loop {
        let m = node.keyward.metrics();
        let checks: u64 = m.verifications.iter().map(|(_, n)| n).sum();
        if m.usage_written + m.usage_dropped >= checks {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// `iters` checks of the node's keys in a fixed random order, from `first` on.
async fn run_checks(keyward: Keyward, secrets: Arc<Vec<String>>, order: Arc<Vec<usize>>, first: u64, iters: u64) {
    for i in first..first + iters {
        let secret = &secrets[order[(i as usize) % order.len()]];
        black_box(check(&keyward, secret).await);
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let keys = key_count();
    let (off, on, enqueue) = rt
        .block_on(async { (node(Mode::Off, keys).await, node(Mode::On, keys).await, node(Mode::Enqueue, keys).await) });
    let mut order: Vec<usize> = (0..keys).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(6));
    let order = Arc::new(order);
    let nodes = [("usage_off", &off), ("usage_on", &on)];
    let drain_all = || rt.block_on(drain(&on));

    let mut group = c.benchmark_group("check/sequential");
    group.throughput(Throughput::Elements(1));
    for (name, node) in nodes {
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| {
                let (keyward, secrets, order) = (node.keyward.clone(), node.secrets.clone(), order.clone());
                rt.block_on(async move {
                    let started = Instant::now();
                    run_checks(keyward, secrets, order, 0, iters).await;
                    started.elapsed()
                })
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("check/saturated");
    group.throughput(Throughput::Elements(1));
    for (name, node) in nodes {
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| {
                let per_caller = iters.div_ceil(CALLERS);
                rt.block_on(async {
                    let started = Instant::now();
                    let tasks: Vec<_> = (0..CALLERS)
                        .map(|c| {
                            let (keyward, secrets, order) = (node.keyward.clone(), node.secrets.clone(), order.clone());
                            tokio::spawn(run_checks(keyward, secrets, order, c * per_caller * 7919, per_caller))
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                    started.elapsed()
                })
            });
        });
    }
    group.finish();

    // Interleaved rounds: off, on, enqueue-only, off, … (the enqueue-only node's pending
    // records are written between its rounds, outside the timer, so it never drops).
    const ROUND: u64 = 500_000;
    let mut per_check: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for round in 0..10u64 {
        for (i, node) in [&off, &on, &enqueue].into_iter().enumerate() {
            let (keyward, secrets, order) = (node.keyward.clone(), node.secrets.clone(), order.clone());
            let elapsed = rt.block_on(async move {
                let started = Instant::now();
                run_checks(keyward, secrets, order, round * ROUND, ROUND).await;
                started.elapsed()
            });
            per_check[i].push(elapsed.as_nanos() as f64 / ROUND as f64);
        }
        rt.block_on(enqueue.keyward.flush_usage());
    }
    let [off_ns, on_ns, enqueue_ns] = per_check.map(|mut v| {
        v.sort_by(f64::total_cmp);
        (v[4] + v[5]) / 2.0
    });
    eprintln!(
        "interleaved, median of 10 rounds of {ROUND} checks: usage_off {off_ns:.0} ns/check, usage_on \
         {on_ns:.0} ns/check (ratio {:.3}), usage_on_enqueue_only {enqueue_ns:.0} ns/check (ratio {:.3})",
        on_ns / off_ns,
        enqueue_ns / off_ns
    );

    drain_all();
    for (name, node) in [("usage_off", &off), ("usage_on", &on), ("usage_on_enqueue_only", &enqueue)] {
        let m = node.keyward.metrics();
        let checks: u64 = m.verifications.iter().map(|(_, n)| n).sum();
        eprintln!(
            "{name}: {checks} checks, usage records pending {}, written {}, dropped {}",
            m.usage_queue_depth, m.usage_written, m.usage_dropped
        );
    }

    // How fast the background writer writes: 20,000 checks of distinct keys (they fit in the
    // pending set), then the time until the `usage_on` writer has written them all.
    const WRITES: u64 = 20_000;
    let (keyward, secrets, order) = (on.keyward.clone(), on.secrets.clone(), order.clone());
    let written = rt.block_on(async {
        let started = Instant::now();
        run_checks(keyward, secrets, order, 0, WRITES).await;
        drain(&on).await;
        started.elapsed()
    });
    eprintln!(
        "usage writer: {WRITES} checks of {} distinct keys checked and written in {written:.2?} = {:.0} records/s",
        keys.min(WRITES as usize),
        WRITES as f64 / written.as_secs_f64()
    );
    let m = on.keyward.metrics();
    eprintln!("usage_on after it: written {}, dropped {}", m.usage_written, m.usage_dropped);
}

criterion_group!(benches, bench);
criterion_main!(benches);
