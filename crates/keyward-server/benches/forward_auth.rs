//! `GET /v1/forward-auth` in process, through the router as a request arrives (no socket): what
//! the HTTP layer adds to a check. `missing_key` and `malformed_key` stop at the headers (no
//! lookup), so they measure reading the credential and the permission and answering;
//! `valid_key` and `valid_key_basic` add the cached check (`cargo bench -p keyward-service
//! --bench check` measures it alone). `client_ip` is the client-address rule alone, for a
//! request through two trusted proxies. `verify/*` is `POST /v1/verify` the same way: the
//! verifier key's check, the JSON body in and the answer out around the key's check.
//!
//! `cargo bench -p keyward-server --bench forward_auth`
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keyward_domain::catalog::GrantInput;
use keyward_domain::policy::{authorize_admin_management, authorize_keys, KeyAction};
use keyward_server::client_ip::client_ip;
use keyward_service::admins::NewAdmin;
use keyward_service::keys::NewKey;
use keyward_service::{Config, Keyward, Options, RequestContext};
use std::hint::black_box;
use std::time::Duration;
use tower::ServiceExt;

/// A node on a temporary SQLite database (usage log off), one key's id and secret, and a
/// verifier key.
async fn fixture(dir: &std::path::Path) -> Fixture {
    let config = Config {
        database_url: format!("sqlite://{}/keyward.db", dir.display()),
        pepper_file: Some(dir.join("pepper")),
        usage_log: false,
        ..Config::default()
    };
    let mut options = Options::new(config);
    options.env = Box::new(|k| match k {
        "KEYWARD_BOOTSTRAP_EMAIL" => Some("root@example.com".into()),
        "KEYWARD_BOOTSTRAP_PASSWORD" => Some("root-password-1".into()),
        _ => None,
    });
    let (keyward, _) = Keyward::start(options).await.unwrap();
    let ctx = RequestContext::default();
    let login = keyward.login("root@example.com", "root-password-1", &ctx).await.unwrap();
    let root = keyward.authenticate(&login.session_token, &ctx).await.unwrap().principal;
    let admin = NewAdmin {
        email: "bench@example.com".into(),
        name: "Bench".into(),
        password: "bench-password-1".into(),
        role: "admin".into(),
        can_manage_keys: true,
        permissions: vec![GrantInput::Bare("events.*:write".into()), GrantInput::Bare("keyward.verify:read".into())],
    };
    keyward.create_admin(&authorize_admin_management(&root).unwrap(), admin, &ctx).await.unwrap();
    let login = keyward.login("bench@example.com", "bench-password-1", &ctx).await.unwrap();
    let bench = keyward.authenticate(&login.session_token, &ctx).await.unwrap().principal;
    let access = authorize_keys(&bench, KeyAction::Issue, keyward.config().policy()).unwrap();
    let input = NewKey {
        name: "client".into(),
        grants: Some(vec![GrantInput::Bare("events.*:read".into())]),
        ..Default::default()
    };
    let issued = keyward.create_key(&access, input, &ctx).await.unwrap();
    let (id, secret) = (issued.view.key.id.to_string(), issued.secret.expose().to_string());
    let input = NewKey {
        name: "verifier".into(),
        grants: Some(vec![GrantInput::Bare("keyward.verify:read".into())]),
        ..Default::default()
    };
    let verifier = keyward.create_key(&access, input, &ctx).await.unwrap().secret.expose().to_string();
    Fixture { keyward, id, secret, verifier }
}

struct Fixture {
    keyward: Keyward,
    id: String,
    secret: String,
    /// A key holding `keyward.verify:read`, the caller of `/v1/verify`.
    verifier: String,
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let Fixture { keyward, id, secret, verifier } = rt.block_on(fixture(dir.path()));
    let router = keyward_server::app(keyward);
    let get = |headers: &[(&str, &str)], expect: StatusCode| {
        let mut request = Request::get("/v1/forward-auth");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = rt.block_on(router.clone().oneshot(request.body(Body::empty()).unwrap())).unwrap();
        assert_eq!(response.status(), expect);
    };
    let bearer = format!("Bearer {secret}");
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")));
    let mut mistyped = bearer.clone();
    mistyped.pop();
    mistyped.push(if bearer.ends_with('A') { 'B' } else { 'A' });
    let permission = ("x-keyward-permission", "events.alerts");
    let method = ("x-original-method", "GET");

    let mut group = c.benchmark_group("forward_auth");
    group.throughput(Throughput::Elements(1));
    group.bench_function("missing_key", |b| b.iter(|| get(&[permission, method], StatusCode::UNAUTHORIZED)));
    group.bench_function("malformed_key", |b| {
        b.iter(|| get(&[("authorization", &mistyped), permission, method], StatusCode::UNAUTHORIZED))
    });
    group.bench_function("valid_key", |b| {
        b.iter(|| get(&[("authorization", &bearer), permission, method], StatusCode::OK))
    });
    group.bench_function("valid_key_basic", |b| {
        b.iter(|| get(&[("authorization", &basic), permission, method], StatusCode::OK))
    });
    group.finish();

    let verifier = format!("Bearer {verifier}");
    let post = |body: &str| {
        let request = Request::post("/v1/verify")
            .header("authorization", &verifier)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = rt.block_on(router.clone().oneshot(request)).unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        rt.block_on(axum::body::to_bytes(response.into_body(), 4096)).unwrap()
    };
    let valid = format!(r#"{{"key":"{secret}","permission":"events.alerts:read","client_ip":"203.0.113.7"}}"#);
    let unknown =
        format!(r#"{{"key":"{}","permission":"events.alerts:read","client_ip":"203.0.113.7"}}"#, &mistyped[7..]);
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(1));
    group.bench_function("valid_key", |b| b.iter(|| post(&valid)));
    group.bench_function("malformed_key", |b| b.iter(|| post(&unknown)));
    group.finish();

    let trusted = vec!["10.0.0.0/8".parse().unwrap()];
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.9, 203.0.113.7, 10.0.0.2"));
    let peer = Some("10.0.0.1".parse().unwrap());
    let mut group = c.benchmark_group("client_ip");
    group.throughput(Throughput::Elements(1));
    group.bench_function("through_trusted_proxies", |b| {
        b.iter(|| client_ip(black_box(peer), black_box(&headers), &trusted).unwrap())
    });
    group.bench_function("untrusted_peer", |b| {
        b.iter(|| client_ip(black_box(Some("192.0.2.1".parse().unwrap())), black_box(&headers), &trusted).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = forward_auth;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(forward_auth);
