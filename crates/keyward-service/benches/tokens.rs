//! Access tokens on one core: tokens issued per second, and access-token verifications per
//! second the first time a token is seen (one ECDSA verification) and afterwards (cached
//! claims), beside the raw ES256 sign and verify cost of the same crate measured in the same
//! run, and an opaque key's check for reference; a jwt-format key after its first check
//! (`verify_cached_jwt_key`) takes the same cache as a token. `tokens_random` checks many
//! tokens (`KEYWARD_BENCH_TOKENS`, default 2,000, one per key), each seen before, in a fixed
//! random order, beside the same number of opaque keys in the same order: what a token's check
//! reads lies in memory of its own, not all in the processor's nearest caches.
//!
//! One node on a temporary SQLite database, usage log off (its cost is `check`'s benchmark),
//! a current-thread runtime: every figure is one core's.
//!
//! `cargo bench -p keyward-service --bench tokens`
#![allow(clippy::unwrap_used)]

mod common;

use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use keyward_domain::catalog::GrantInput;
use keyward_domain::token::AccessClaims;
use keyward_service::keys::NewKey;
use keyward_service::tokens::ClientCredentials;
use keyward_service::verify::{VerifyCode, VerifyQuery};
use keyward_service::{Config, Keyward, Options, RequestContext};
use rand::seq::SliceRandom as _;
use rand::SeedableRng as _;
use std::hint::black_box;

struct Fixture {
    keyward: Keyward,
    id: String,
    secret: String,
    /// Many keys' opaque secrets and an access token of each, in one random order.
    many: Vec<(String, String)>,
    /// A jwt-format key's secret (a JWS signed by the instance).
    jwt_key: String,
    _dir: tempfile::TempDir,
}

/// Which of a key's (secret, token) a case presents.
type Presented = fn(&(String, String)) -> &str;

/// Tokens (and keys) of `tokens_random` (`KEYWARD_BENCH_TOKENS`).
fn many_tokens() -> usize {
    std::env::var("KEYWARD_BENCH_TOKENS").ok().and_then(|n| n.parse().ok()).unwrap_or(2_000).max(1)
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        database_url: format!("sqlite://{}/keyward.db", dir.path().display()),
        pepper_file: Some(dir.path().join("pepper")),
        usage_log: false,
        issuer: Some("https://keys.example.com".into()),
        ..Config::default()
    };
    let mut options = Options::new(config);
    options.env = Box::new(common::bootstrap_env);
    let (keyward, _) = Keyward::start(options).await.unwrap();
    let ctx = RequestContext::default();
    let access = common::key_issuer(&keyward).await;
    let input = NewKey {
        name: "client".into(),
        grants: Some(vec![GrantInput::Bare("events.*:write".into())]),
        ..Default::default()
    };
    let issued = keyward.create_key(&access, input, &ctx).await.unwrap();
    let input = NewKey {
        name: "jwt-format".into(),
        grants: Some(vec![GrantInput::Bare("events.*:write".into())]),
        format: Some("jwt".into()),
        ..Default::default()
    };
    let jwt_key = keyward.create_key(&access, input, &ctx).await.unwrap().secret.expose().to_string();
    let mut many = Vec::new();
    for i in 0..many_tokens() {
        let input = NewKey {
            name: format!("many-{i}"),
            grants: Some(vec![GrantInput::Bare("events.*:write".into())]),
            ..Default::default()
        };
        let made = keyward.create_key(&access, input, &ctx).await.unwrap();
        let (id, secret) = (made.view.key.id.to_string(), made.secret.expose().to_string());
        let client = ClientCredentials { client_id: &id, client_secret: &secret };
        let token = keyward.issue_token(client, Some("events.alerts:read"), &ctx).await.unwrap().access_token;
        many.push((secret, token));
    }
    many.shuffle(&mut rand::rngs::StdRng::seed_from_u64(7));
    Fixture {
        id: issued.view.key.id.to_string(),
        secret: issued.secret.expose().to_string(),
        many,
        jwt_key,
        keyward,
        _dir: dir,
    }
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let f = rt.block_on(fixture());
    let client = ClientCredentials { client_id: &f.id, client_secret: &f.secret };
    let ctx = RequestContext::default();
    let issue = || rt.block_on(f.keyward.issue_token(client, Some("events.alerts:read"), &ctx)).unwrap().access_token;
    let permission = "events.alerts:read".parse().unwrap();
    let check = |credential: &str| {
        let query = VerifyQuery {
            key: credential,
            permission: Some(&permission),
            target: None,
            client_ip: None,
            request: None,
        };
        let verdict = rt.block_on(f.keyward.verify(query)).unwrap();
        assert_eq!(verdict.code, VerifyCode::Valid);
    };

    let mut group = c.benchmark_group("tokens");
    group.throughput(Throughput::Elements(1));
    group.bench_function("issue", |b| b.iter(|| black_box(issue())));
    group.bench_function("verify_first", |b| b.iter_batched(issue, |t| check(&t), BatchSize::SmallInput));
    let token = issue();
    check(&token);
    group.bench_function("verify_cached", |b| b.iter(|| check(black_box(&token))));
    group.bench_function("verify_opaque_key", |b| b.iter(|| check(black_box(&f.secret))));
    check(&f.jwt_key);
    group.bench_function("verify_cached_jwt_key", |b| b.iter(|| check(black_box(&f.jwt_key))));
    group.finish();

    // Every credential checked once first: what follows are checks of tokens seen before.
    for (secret, token) in &f.many {
        check(secret);
        check(token);
    }
    let mut group = c.benchmark_group("tokens_random");
    group.throughput(Throughput::Elements(1));
    let cases: [(&str, Presented); 2] =
        [("verify_cached", |(_, token)| token), ("verify_opaque_key", |(secret, _)| secret)];
    for (name, credential) in cases {
        // Consecutive samples go on through the order instead of starting again.
        let mut next = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                next += 1;
                check(black_box(credential(&f.many[next % f.many.len()])))
            })
        });
    }
    group.finish();

    // The same crate's ES256, with claims of the same shape, outside the service.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let point = pair.public_key().as_ref();
    let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
    let decoding =
        DecodingKey::from_ec_components(&URL_SAFE_NO_PAD.encode(&point[1..33]), &URL_SAFE_NO_PAD.encode(&point[33..]))
            .unwrap();
    let claims = AccessClaims {
        iss: "https://keys.example.com".into(),
        sub: f.id.clone(),
        aud: "https://keys.example.com".into(),
        exp: 2_000_000_000,
        iat: 1_900_000_000,
        jti: "abcdefghijklmnopqrstuv".into(),
        client_id: f.id.clone(),
        scope: "events.alerts:read".into(),
    };
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some("kid".into());
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let signed = jsonwebtoken::encode(&header, &claims, &encoding).unwrap();
    let mut group = c.benchmark_group("es256_raw");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign", |b| b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &encoding).unwrap()));
    group.bench_function("verify", |b| {
        b.iter(|| jsonwebtoken::decode::<AccessClaims>(black_box(&signed), &decoding, &validation).unwrap())
    });
    group.finish();
}

criterion_group!(tokens, benches);
criterion_main!(tokens);
