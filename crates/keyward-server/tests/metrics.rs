//! `GET /metrics` through the router, and the usage log's bounded queue seen over HTTP. These
//! apps run no background writer, so the queue only drains when a test flushes it: every
//! count below is exact.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;
use std::collections::HashMap;

/// Every sample of a text exposition, by series (`name{labels}`), and the declared types.
struct Exposition {
    samples: HashMap<String, f64>,
    types: HashMap<String, String>,
}

impl Exposition {
    #[track_caller]
    fn get(&self, series: &str) -> f64 {
        *self.samples.get(series).unwrap_or_else(|| panic!("no series {series}"))
    }
}

async fn scrape(app: &TestApp) -> Exposition {
    let r = call("GET", "/metrics").send(app).await;
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let text = String::from_utf8(r.body).unwrap();
    let mut samples = HashMap::new();
    let mut types = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            types.insert(name.to_owned(), kind.to_owned());
        } else if !line.starts_with('#') && !line.is_empty() {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
            assert!(samples.insert(series.to_owned(), value).is_none(), "duplicate series {series}");
        }
    }
    Exposition { samples, types }
}

const CODES: [&str; 9] = [
    "valid",
    "not_found",
    "expired",
    "revoked",
    "owner_disabled",
    "ip_not_allowed",
    "insufficient_permission",
    "signature_required",
    "signature_invalid",
];

#[tokio::test]
async fn metrics_count_checks_by_code_and_time_requests_by_route_template() {
    let app = start().await;
    let m = scrape(&app).await;
    for code in CODES {
        assert_eq!(m.get(&format!("keyward_verifications_total{{code=\"{code}\"}}")), 0.0, "{code}");
    }
    for (name, kind) in [
        ("keyward_verifications_total", "counter"),
        ("keyward_cache_hits_total", "counter"),
        ("keyward_cache_misses_total", "counter"),
        ("keyward_usage_dropped_total", "counter"),
        ("keyward_usage_written_total", "counter"),
        ("keyward_cached_keys", "gauge"),
        ("keyward_usage_queue_depth", "gauge"),
        ("keyward_usage_queue_capacity", "gauge"),
        ("keyward_db_connections", "gauge"),
        ("keyward_db_idle_connections", "gauge"),
        ("keyward_http_request_duration_seconds", "histogram"),
    ] {
        assert_eq!(m.types.get(name).map(String::as_str), Some(kind), "{name}");
    }
    assert_eq!(m.get("keyward_usage_queue_capacity"), 65536.0);

    let alice = alice(&app).await;
    let (_, verifier) = create_key(&app, &alice, json!({"name": "verifier", "grants": ["keyward.verify:read"]})).await;
    let (key, secret) = create_key(&app, &alice, json!({"name": "reader", "grants": ["events.alerts:read"]})).await;
    let id = key["id"].as_str().unwrap();
    let verify = |body: serde_json::Value| call("POST", "/v1/verify").bearer(&verifier).json(body);
    let v = verify(json!({"key": secret, "permission": "events.alerts:read"})).send(&app).await.ok(200);
    assert_eq!(v["code"], "valid");
    let v = verify(json!({"key": secret, "permission": "events.alerts:write"})).send(&app).await.ok(200);
    assert_eq!(v["code"], "insufficient_permission");
    verify(json!({"key": "kw_garbage"})).send(&app).await.ok(200);
    let fa = call("GET", "/v1/forward-auth")
        .bearer(&secret)
        .header("x-keyward-permission", "events.alerts")
        .send(&app)
        .await;
    assert_eq!(fa.status.as_u16(), 403, "no method header: write, which the key lacks");
    let fa = call("GET", "/v1/forward-auth").header("x-api-key", &secret).send(&app).await;
    assert_eq!(fa.status.as_u16(), 200);
    call("GET", &format!("/v1/keys/{id}")).bearer(&alice.token).send(&app).await.ok(200);
    call("GET", "/no/such/thing").send(&app).await.problem(404, "not_found");

    let m = scrape(&app).await;
    let code = |c: &str| m.get(&format!("keyward_verifications_total{{code=\"{c}\"}}"));
    assert_eq!(code("valid"), 2.0);
    assert_eq!(code("insufficient_permission"), 2.0);
    assert_eq!(code("not_found"), 1.0);
    assert_eq!(code("revoked"), 0.0);
    assert!(m.get("keyward_cache_hits_total") >= 3.0);
    assert!(m.get("keyward_cache_misses_total") >= 1.0);
    assert!(m.get("keyward_cached_keys") >= 1.0);
    // Five checks queued, none written: this app runs no writer.
    assert_eq!(m.get("keyward_usage_queue_depth"), 5.0);
    assert_eq!(m.get("keyward_usage_written_total"), 0.0);
    assert!(m.get("keyward_db_connections") >= m.get("keyward_db_idle_connections"));

    // Histograms are labelled with the route template, never the raw path.
    let h = "keyward_http_request_duration_seconds";
    assert_eq!(m.get(&format!("{h}_count{{method=\"POST\",route=\"/v1/verify\"}}")), 3.0);
    assert_eq!(m.get(&format!("{h}_count{{method=\"GET\",route=\"/v1/forward-auth\"}}")), 2.0);
    assert_eq!(m.get(&format!("{h}_count{{method=\"GET\",route=\"/v1/keys/{{id}}\"}}")), 1.0);
    assert_eq!(m.get(&format!("{h}_bucket{{method=\"POST\",route=\"/v1/verify\",le=\"+Inf\"}}")), 3.0);
    assert!(m.get(&format!("{h}_sum{{method=\"POST\",route=\"/v1/verify\"}}")) > 0.0);
    assert_eq!(m.get(&format!("{h}_count{{method=\"GET\",route=\"unmatched\"}}")), 1.0);
    assert!(m.samples.keys().all(|s| !s.contains(id) && !s.contains("/no/such")), "a raw path became a label");
    // Buckets are cumulative.
    let prefix = format!("{h}_bucket{{method=\"POST\",route=\"/v1/verify\"");
    let mut buckets: Vec<(f64, f64)> = m
        .samples
        .iter()
        .filter(|(s, _)| s.starts_with(&prefix))
        .map(|(s, v)| {
            let le = s.rsplit_once("le=\"").unwrap().1.trim_end_matches("\"}");
            (if le == "+Inf" { f64::INFINITY } else { le.parse::<f64>().unwrap() }, *v)
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(buckets.len() > 10 && buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");

    // Writing the queue moves the gauges and counters, and the records are searchable.
    app.keyward.flush_usage().await;
    let m = scrape(&app).await;
    assert_eq!(m.get("keyward_usage_queue_depth"), 0.0);
    assert_eq!(m.get("keyward_usage_written_total"), 5.0);
    let root = root(&app).await;
    let logs = call("GET", &format!("/v1/logs?kind=usage&key_id={id}")).bearer(&root.token).send(&app).await.ok(200);
    let mut actions: Vec<&str> =
        logs["items"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
    actions.sort_unstable();
    assert_eq!(actions, ["forward_auth", "forward_auth", "key.verified", "key.verified"]);
}

#[tokio::test]
async fn metrics_need_no_credential_and_ignore_one() {
    let app = start().await;
    let r = call("GET", "/metrics").bearer("kw_not_a_key").send(&app).await;
    assert_eq!(r.status.as_u16(), 200);
    let r = call("POST", "/metrics").send(&app).await;
    assert_eq!(r.status.as_u16(), 405);
}

/// A full usage log drops usage records (counted), and the data plane keeps answering; identical
/// checks share one pending record.
#[tokio::test]
async fn a_full_usage_log_drops_and_counts_but_checks_still_answer() {
    let app = start_with(|c| c.usage_queue_capacity = 3).await;
    let alice = alice(&app).await;
    let (key, secret) = create_key(&app, &alice, json!({"name": "busy", "grants": ["events.alerts:read"]})).await;
    // Ten targets are ten distinct records: three wait, seven are dropped. Each target is
    // checked twice: the second check joins its record (or is dropped with it).
    for i in 0..10 {
        for _ in 0..2 {
            let r = call("GET", "/v1/forward-auth")
                .bearer(&secret)
                .header("x-keyward-permission", "events.alerts:read")
                .header("x-keyward-target", &format!("acct-{i}"))
                .send(&app)
                .await;
            assert_eq!(r.status.as_u16(), 200);
        }
    }
    let m = scrape(&app).await;
    assert_eq!(m.get("keyward_verifications_total{code=\"valid\"}"), 20.0);
    assert_eq!(m.get("keyward_usage_queue_capacity"), 3.0);
    assert_eq!(m.get("keyward_usage_queue_depth"), 3.0);
    assert_eq!(m.get("keyward_usage_dropped_total"), 14.0);
    app.keyward.flush_usage().await;
    let m = scrape(&app).await;
    assert_eq!(m.get("keyward_usage_written_total"), 6.0);
    assert_eq!(m.get("keyward_usage_queue_depth"), 0.0);
    let id = key["id"].as_str().unwrap();
    let logs = call("GET", &format!("/v1/logs?kind=usage&key_id={id}")).bearer(&alice.token).send(&app).await.ok(200);
    let items = logs["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "three targets were kept: {logs}");
    assert!(items.iter().all(|r| r["details"]["count"] == 2), "{logs}");
    let key = call("GET", &format!("/v1/keys/{id}")).bearer(&alice.token).send(&app).await.ok(200);
    assert_eq!(key["use_count"], 6, "only written uses count");
}

/// With `usage_log = false` nothing is queued, but checks are still counted by code.
#[tokio::test]
async fn usage_log_off_queues_nothing() {
    let app = start_with(|c| c.usage_log = false).await;
    let alice = alice(&app).await;
    let (_, secret) = create_key(&app, &alice, json!({"name": "quiet", "grants": ["events.alerts:read"]})).await;
    let r = call("GET", "/v1/forward-auth").bearer(&secret).header("x-original-method", "GET").send(&app).await;
    assert_eq!(r.status.as_u16(), 200);
    let r = call("GET", "/v1/forward-auth")
        .bearer(&secret)
        .header("x-keyward-permission", "events.alerts")
        .send(&app)
        .await;
    assert_eq!(r.status.as_u16(), 403);
    let m = scrape(&app).await;
    assert_eq!(m.get("keyward_verifications_total{code=\"valid\"}"), 1.0);
    assert_eq!(m.get("keyward_verifications_total{code=\"insufficient_permission\"}"), 1.0);
    assert_eq!(m.get("keyward_usage_queue_depth"), 0.0);
    assert_eq!(m.get("keyward_usage_dropped_total"), 0.0);
}
