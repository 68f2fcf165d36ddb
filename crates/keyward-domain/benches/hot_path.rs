//! The domain's share of every key check, each step alone: parsing a presented key with its
//! checksum (what rejects a mistyped key without a lookup) and without it (a cached key's check
//! defers the checksum to a cache miss), the keyed hash of its secret (HMAC with the pepper; the
//! lookup compares hashes, never secrets) and its inner half alone (what a check of a proven
//! secret computes), and matching the requested permission against the key's grants.
//!
//! `cargo bench -p keyward-domain --bench hot_path`
#![allow(clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keyward_domain::ids::KeyId;
use keyward_domain::permission::{allows, Grant, Permission, Targets};
use keyward_domain::secret::{generate_secret, parse_presented, parse_presented_shape, Pepper};
use std::hint::black_box;
use std::time::Duration;

fn benches(c: &mut Criterion) {
    let mut rng = rand::thread_rng();
    let id = KeyId::generate(&mut rng);
    let secret = generate_secret(&mut rng, "kw", &id);
    let secret = secret.expose();
    let basic = format!("{id}:{secret}");
    let mut mistyped = secret.to_string();
    mistyped.pop();
    mistyped.push(if secret.ends_with('A') { 'B' } else { 'A' });

    let mut group = c.benchmark_group("key");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_presented", |b| b.iter(|| parse_presented(black_box(secret)).unwrap()));
    group.bench_function("parse_presented_shape", |b| b.iter(|| parse_presented_shape(black_box(secret)).unwrap()));
    group.bench_function("parse_presented_basic", |b| b.iter(|| parse_presented(black_box(&basic)).unwrap()));
    group.bench_function("parse_presented_bad_checksum", |b| {
        b.iter(|| parse_presented(black_box(&mistyped)).unwrap_err())
    });
    group.finish();

    let hasher = Pepper::generate(&mut rng).hasher();
    let mut group = c.benchmark_group("secret");
    group.throughput(Throughput::Elements(1));
    group.bench_function("hash", |b| b.iter(|| hasher.hash(black_box(secret))));
    group.bench_function("inner_digest", |b| b.iter(|| hasher.inner_digest(black_box(secret))));
    let inner = hasher.inner_digest(secret);
    group.bench_function("inner_digest_compare", |b| {
        b.iter(|| assert!(hasher.inner_digest(black_box(secret)).ct_eq(black_box(&inner))))
    });
    group.finish();

    // A key with grants of the usual shapes: exact, wildcard resources, and one
    // limited to targets; the checks ask for the first, the last, and one nothing grants.
    let grant = |p: &str, targets: Option<&[&str]>| Grant {
        permission: p.parse().unwrap(),
        targets: Targets::from_list(targets.map(|t| t.iter().map(|s| s.to_string()).collect())).unwrap(),
    };
    let grants = vec![
        grant("events.alerts:read", None),
        grant("events.*:write", None),
        grant("billing.invoices:read", None),
        grant("reports.*:read", None),
        grant("accounts.profiles:write", Some(&["acct-1", "acct-2", "acct-3"])),
    ];
    let first: Permission = "events.alerts:read".parse().unwrap();
    let last: Permission = "accounts.profiles:write".parse().unwrap();
    let denied: Permission = "payments.refunds:write".parse().unwrap();
    let mut group = c.benchmark_group("permission");
    group.throughput(Throughput::Elements(1));
    group.bench_function("allows_first_grant", |b| b.iter(|| assert!(allows(&grants, black_box(&first), None))));
    group.bench_function("allows_targeted_last_grant", |b| {
        b.iter(|| assert!(allows(&grants, black_box(&last), Some(black_box("acct-3")))))
    });
    group
        .bench_function("denied_after_every_grant", |b| b.iter(|| assert!(!allows(&grants, black_box(&denied), None))));
    group.bench_function("parse_permission", |b| b.iter(|| black_box("events.alerts:read").parse::<Permission>()));
    group.finish();
}

criterion_group! {
    name = hot_path;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(hot_path);
