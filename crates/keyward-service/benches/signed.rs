//! Signed verification (RFC 9421, ecdsa-p256-sha256) beside the raw P-256 verification it is
//! built on, measured in the same run (issue "Signed requests": signed verifications per second
//! beside the raw P-256 verify cost).
//!
//! One node on a temporary SQLite database with one key that has a verify key and
//! `require_signed_writes`, its snapshot warm in the cache. Criterion groups:
//! - `p256_verify`: one ECDSA P-256 SHA-256 verification of a 250-byte signature base, with
//!   `ring` (what Keyward uses) and with RustCrypto `p256` (for comparison);
//! - `signature`: the domain's whole `verify_request` (parse `Signature-Input`/`Signature` with
//!   sfv, check coverage, times and `Content-Digest` over a 100-byte body, rebuild the base,
//!   verify with ring), no storage;
//! - `check`: `Keyward::verify` as `/v1/verify` calls it — an unsigned read (the baseline), a
//!   signed write without a nonce, and a signed write with a fresh nonce (one `INSERT` into the
//!   shared nonce table per check; requests are signed outside the timer).
#![allow(clippy::unwrap_used)]

mod common;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use keyward_domain::catalog::GrantInput;
use keyward_domain::signature::{sign_request, verify_request, HttpRequest, Window};
use keyward_domain::signing_key::SigningKey;
use keyward_service::keys::NewKey;
use keyward_service::verify::{VerifyCode, VerifyQuery};
use keyward_service::{Config, Keyward, Options, RequestContext};
use p256::ecdsa::signature::Verifier as _;
use std::hint::black_box;

const BODY: &[u8] =
    br#"{"alert":"disk almost full","host":"db-7","level":"warning","team":"storage","ticket":1234567}"#;

fn request(method: &str) -> HttpRequest {
    let mut r = HttpRequest::new(method, "https://api.example.com/v1/alerts?team=storage").unwrap();
    r.add_header("content-type", "application/json");
    r.set_body(BODY.to_vec());
    r
}

fn signed(key: &SigningKey, key_id: &str, nonce: &str) -> HttpRequest {
    let mut r = request("POST");
    sign_request(&mut r, key, key_id, chrono::Utc::now().timestamp(), nonce).unwrap();
    r
}

/// A node whose one key is signed by `signer`; returns the node, the key's secret and id.
async fn node(signer: &SigningKey, dir: &tempfile::TempDir) -> (Keyward, String, String) {
    let config = Config {
        database_url: format!("sqlite://{}/keyward.db", dir.path().display()),
        pepper_file: Some(dir.path().join("pepper")),
        usage_log: false,
        ..Config::default()
    };
    let mut options = Options::new(config);
    options.env = Box::new(common::bootstrap_env);
    let (keyward, _) = Keyward::start(options).await.unwrap();
    let ctx = RequestContext::default();
    let issue = common::key_issuer(&keyward).await;
    let input = NewKey {
        name: "signed".into(),
        grants: Some(vec![GrantInput::Bare("events.alerts:write".into())]),
        verify_key: Some(signer.verify_key().to_pem()),
        ..NewKey::default()
    };
    let issued = keyward.create_key(&issue, input, &ctx).await.unwrap();
    (keyward, issued.secret.expose().to_owned(), issued.view.key.id.to_string())
}

async fn check(keyward: &Keyward, secret: &str, permission: &str, request: Option<&HttpRequest>) -> VerifyCode {
    let permission = permission.parse().unwrap();
    let q = VerifyQuery { key: secret, permission: Some(&permission), target: None, client_ip: None, request };
    keyward.verify(q).await.unwrap().code
}

fn bench(c: &mut Criterion) {
    let signer = SigningKey::generate();
    let public = signer.verify_key();

    // The raw P-256 verification, with ring and with RustCrypto, on a typical base.
    let base = "x".repeat(250);
    let signature = signer.sign(base.as_bytes());
    let rustcrypto = p256::ecdsa::VerifyingKey::from_sec1_bytes(&p256_point(&public)).unwrap();
    let rustcrypto_signature = p256::ecdsa::Signature::from_slice(&signature).unwrap();
    let mut group = c.benchmark_group("p256_verify");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ring", |b| b.iter(|| assert!(public.verify(black_box(base.as_bytes()), &signature))));
    group.bench_function("rustcrypto_p256", |b| {
        b.iter(|| rustcrypto.verify(black_box(base.as_bytes()), &rustcrypto_signature).unwrap())
    });
    group.finish();

    // The whole RFC 9421 check of the domain, no storage.
    let one = signed(&signer, "k1", "n");
    let window = || Window { now: chrono::Utc::now().timestamp(), max_skew_seconds: 300 };
    let mut group = c.benchmark_group("signature");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify_request", |b| {
        b.iter(|| verify_request(black_box(&one), "k1", &public, window()).unwrap())
    });
    group.finish();

    // Through the service, warm cache.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (keyward, secret, id) = rt.block_on(node(&signer, &dir));
    // Without a nonce one signed request can be checked again and again (within the window).
    let reusable = {
        let mut r = request("POST");
        sign_without_nonce(&mut r, &signer, &id);
        r
    };
    assert_eq!(rt.block_on(check(&keyward, &secret, "events.alerts:read", None)), VerifyCode::Valid);
    assert_eq!(rt.block_on(check(&keyward, &secret, "events.alerts:write", Some(&reusable))), VerifyCode::Valid);
    let mut group = c.benchmark_group("check");
    group.throughput(Throughput::Elements(1));
    group.bench_function("unsigned_read", |b| {
        b.iter(|| rt.block_on(check(&keyward, &secret, "events.alerts:read", None)))
    });
    group.bench_function("signed_write", |b| {
        b.iter(|| {
            assert_eq!(rt.block_on(check(&keyward, &secret, "events.alerts:write", Some(&reusable))), VerifyCode::Valid)
        })
    });
    let mut n = 0u64;
    group.bench_function("signed_write_with_nonce", |b| {
        b.iter_batched(
            || {
                n += 1;
                signed(&signer, &id, &format!("nonce-{n}"))
            },
            |r| assert_eq!(rt.block_on(check(&keyward, &secret, "events.alerts:write", Some(&r))), VerifyCode::Valid),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// The uncompressed point of a verify key, from its PEM (the bench compares libraries on the
/// same key).
fn p256_point(key: &keyward_domain::signing_key::VerifyKey) -> Vec<u8> {
    use p256::pkcs8::DecodePublicKey as _;
    p256::PublicKey::from_public_key_pem(&key.to_pem()).unwrap().to_sec1_bytes().to_vec()
}

/// A signature without a nonce (reusable within the time window), made the way a client
/// without nonces would: the same components as `keyward sign`.
fn sign_without_nonce(request: &mut HttpRequest, key: &SigningKey, key_id: &str) {
    use base64::Engine as _;
    let digest = keyward_domain::signature::content_digest(BODY);
    request.add_header("content-digest", &digest);
    let input = format!(
        "sig=(\"@method\" \"@target-uri\" \"content-digest\");created={};keyid=\"{key_id}\"",
        chrono::Utc::now().timestamp()
    );
    let parsed = keyward_domain::signature::parse_signatures(&input, "sig=::").unwrap();
    let base = keyward_domain::signature::signature_base(request, &parsed[0]).unwrap();
    let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(base.as_bytes()));
    request.add_header("signature-input", &input);
    request.add_header("signature", &format!("sig=:{signature}:"));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
