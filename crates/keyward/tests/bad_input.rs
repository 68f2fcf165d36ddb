//! SPEC §2 status codes and §8 "Errors": malformed input of any kind is a 4xx problem+json
//! with a clear detail, and changes nothing in the store.
#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_problem, rfc3339_in, Resp, Server, World};
use serde_json::{json, Value};

/// What must not change when a request is refused.
#[derive(Debug, PartialEq)]
struct Snapshot {
    admin_stats: Value,
    root_stats: Value,
    audit_len: usize,
    keys: Value,
}

fn snapshot(w: &World) -> Snapshot {
    Snapshot {
        admin_stats: w.srv.get("/v1/keys/stats", &w.tok).expect(200).clone(),
        root_stats: w.srv.get("/v1/keys/stats", &w.root).expect(200).clone(),
        audit_len: w.srv.logs(&w.root, "kind=audit").len(),
        keys: w.srv.get("/v1/keys?limit=1000", &w.tok).expect(200)["items"].clone(),
    }
}

struct Case {
    what: &'static str,
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: Option<Vec<u8>>,
    status: u16,
    code: &'static str,
    detail_contains: Option<&'static str>,
}

fn json_case(what: &'static str, method: &'static str, path: &str, body: Value) -> Case {
    Case {
        what,
        method,
        path: path.to_owned(),
        content_type: Some("application/json"),
        body: Some(serde_json::to_vec(&body).unwrap()),
        status: 422,
        code: "validation_failed",
        detail_contains: None,
    }
}

fn run(w: &World, case: &Case) -> Resp {
    let auth = format!("Bearer {}", w.tok);
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(ct) = case.content_type {
        headers.push(("content-type", ct));
    }
    w.srv.raw(case.method, &case.path, &headers, case.body.clone())
}

#[test]
fn bad_input_table_changes_nothing() {
    let w = World::new();
    let (existing, secret) = w.key("existing", json!({"grants": ["events.alerts:read"]}));
    let kid = existing["id"].as_str().unwrap();
    let key_path = format!("/v1/keys/{kid}");
    let networks: Vec<String> = (1..=11).map(|i| format!("10.0.{i}.0/24")).collect();
    let mut huge = br#"{"name":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'x', 1024 * 1024 + 100));
    huge.extend(br#""}"#);

    let mut cases = vec![
        json_case("name of 256 characters", "POST", "/v1/keys", json!({"name": "x".repeat(256)})),
        json_case("empty name", "POST", "/v1/keys", json!({"name": ""})),
        json_case("missing name", "POST", "/v1/keys", json!({"description": "no name"})),
        json_case(
            "description of 1025 characters",
            "POST",
            "/v1/keys",
            json!({"name": "d", "description": "d".repeat(1025)}),
        ),
        json_case("11 networks", "POST", "/v1/keys", json!({"name": "n", "networks": networks})),
        json_case("not an address", "POST", "/v1/keys", json!({"name": "n", "networks": ["not-an-ip"]})),
        json_case("unknown scope", "POST", "/v1/keys", json!({"name": "s", "grants": ["nosuch.thing:read"]})),
        json_case("unknown resource", "POST", "/v1/keys", json!({"name": "s", "grants": ["events.nothing:read"]})),
        json_case("bad access level", "POST", "/v1/keys", json!({"name": "s", "grants": ["events.alerts:admin"]})),
        json_case("unknown role", "POST", "/v1/keys", json!({"name": "s", "roles": [{"role": "nosuch"}]})),
        json_case(
            "escalation beyond the owner",
            "POST",
            "/v1/keys",
            json!({"name": "e", "grants": ["accounts.config:write"]}),
        ),
        json_case("unknown field", "POST", "/v1/keys", json!({"name": "u", "colour": "red"})),
        json_case(
            "expires_at and lifetime_days",
            "POST",
            "/v1/keys",
            json!({"name": "t", "expires_at": rfc3339_in(86_400), "lifetime_days": 3}),
        ),
        json_case(
            "lifetime_days and never_expires",
            "POST",
            "/v1/keys",
            json!({"name": "t", "lifetime_days": 3, "never_expires": true}),
        ),
        json_case("expires_at in the past", "POST", "/v1/keys", json!({"name": "t", "expires_at": rfc3339_in(-3600)})),
        json_case("expires_at not a time", "POST", "/v1/keys", json!({"name": "t", "expires_at": "tomorrow"})),
        json_case("lifetime_days 0", "POST", "/v1/keys", json!({"name": "t", "lifetime_days": 0})),
        json_case("lifetime_days negative", "POST", "/v1/keys", json!({"name": "t", "lifetime_days": -1})),
        json_case(
            "role requiring targets without targets",
            "POST",
            "/v1/keys",
            json!({"name": "r", "roles": [{"role": "cloud_account_viewer"}]}),
        ),
        json_case(
            "inherit with grants",
            "POST",
            "/v1/keys",
            json!({"name": "i", "inherit": true, "grants": ["events.alerts:read"]}),
        ),
        json_case("wrong JSON type for name", "POST", "/v1/keys", json!({"name": 42})),
        json_case("format unknown", "POST", "/v1/keys", json!({"name": "f", "format": "pgp"})),
        json_case("PATCH name of 256 characters", "PATCH", &key_path, json!({"name": "y".repeat(256)})),
        json_case("PATCH unknown field", "PATCH", &key_path, json!({"nmae": "typo"})),
        json_case("PATCH two expiry forms", "PATCH", &key_path, json!({"lifetime_days": 3, "never_expires": true})),
        json_case("PATCH expires_at in the past", "PATCH", &key_path, json!({"expires_at": rfc3339_in(-60)})),
        json_case("PATCH escalation", "PATCH", &key_path, json!({"grants": ["blacklist.entries:read"]})),
        json_case(
            "PATCH 11 networks",
            "PATCH",
            &key_path,
            json!({"networks": (1..=11).map(|i| format!("192.0.2.{i}")).collect::<Vec<_>>()}),
        ),
        json_case(
            "refresh grace above 7 days",
            "POST",
            &format!("{key_path}/refresh"),
            json!({"grace_period_seconds": 604_801}),
        ),
        json_case("refresh unknown field", "POST", &format!("{key_path}/refresh"), json!({"grace": 5})),
    ];
    let mut cidr = json_case("bad CIDR", "POST", "/v1/keys", json!({"name": "c", "networks": ["10.1.2.3/8"]}));
    cidr.detail_contains = Some("10.0.0.0/8");
    cases.push(cidr);
    cases.push(Case {
        what: "malformed JSON",
        method: "POST",
        path: "/v1/keys".into(),
        content_type: Some("application/json"),
        body: Some(br#"{"name": "m""#.to_vec()),
        status: 400,
        code: "malformed_request",
        detail_contains: None,
    });
    cases.push(Case {
        what: "malformed JSON on PATCH",
        method: "PATCH",
        path: key_path.clone(),
        content_type: Some("application/json"),
        body: Some(b"{name: oops}".to_vec()),
        status: 400,
        code: "malformed_request",
        detail_contains: None,
    });
    cases.push(Case {
        what: "wrong content type",
        method: "POST",
        path: "/v1/keys".into(),
        content_type: Some("text/plain"),
        body: Some(br#"{"name": "ct"}"#.to_vec()),
        status: 415,
        code: "unsupported_media_type",
        detail_contains: None,
    });
    cases.push(Case {
        what: "no content type",
        method: "POST",
        path: "/v1/keys".into(),
        content_type: None,
        body: Some(br#"{"name": "ct"}"#.to_vec()),
        status: 415,
        code: "unsupported_media_type",
        detail_contains: None,
    });
    cases.push(Case {
        what: "body over 1 MiB",
        method: "POST",
        path: "/v1/keys".into(),
        content_type: Some("application/json"),
        body: Some(huge),
        status: 413,
        code: "payload_too_large",
        detail_contains: None,
    });
    for (what, path) in [
        ("invalid cursor", "/v1/keys?cursor=%%%garbage"),
        ("made-up cursor", "/v1/keys?cursor=eyJpZCI6IngifQ"),
        ("limit not a number", "/v1/keys?limit=abc"),
        ("invalid cursor on logs", "/v1/logs?cursor=zzzz-not-a-cursor"),
    ] {
        cases.push(Case {
            what,
            method: "GET",
            path: path.into(),
            content_type: None,
            body: None,
            status: 400,
            code: "malformed_request",
            detail_contains: None,
        });
    }

    let before = snapshot(&w);
    let key_before = w.srv.get(&key_path, &w.tok).json;
    for case in &cases {
        let r = run(&w, case);
        assert!(r.status < 500, "{}: a 5xx for bad input: {} {}", case.what, r.status, r.text);
        assert_eq!(r.status, case.status, "{}: {}", case.what, r.text);
        assert_problem(&r, case.status, case.code);
        let detail = r.json["detail"].as_str().unwrap();
        assert!(!detail.trim().is_empty(), "{}: empty detail", case.what);
        if let Some(needle) = case.detail_contains {
            assert!(detail.contains(needle), "{}: detail {detail:?} does not mention {needle}", case.what);
        }
        let after = snapshot(&w);
        assert_eq!(after, before, "{}: the store changed", case.what);
    }
    assert_eq!(w.srv.get(&key_path, &w.tok).json, key_before);
    assert_eq!(w.code(&secret, Some("events.alerts:read")), "valid");
}

#[test]
fn unauthorized_is_401_problem() {
    let srv = Server::start();
    for (what, token) in [
        ("no credential", None),
        ("unknown session", Some("session.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
        ("garbage bearer", Some("not a token")),
        ("malformed api key", Some("kw_abc_def")),
    ] {
        for path in ["/v1/keys", "/v1/keys/stats", "/v1/admins", "/v1/auth/me", "/v1/logs"] {
            let r = srv.req("GET", path, token, None);
            assert_eq!(r.status, 401, "{what} on {path}: {}", r.text);
            assert_problem(&r, 401, "unauthorized");
        }
    }
    // After logout the session is gone.
    let root = srv.root();
    srv.get("/v1/auth/me", &root).expect(200);
    let r = srv.req("POST", "/v1/auth/logout", Some(&root), Some(&json!({})));
    assert!(r.status == 200 || r.status == 204, "{}", r.text);
    srv.get("/v1/auth/me", &root).expect_problem(401, "unauthorized");
    // Wrong password.
    let r = srv.req(
        "POST",
        "/v1/auth/login",
        None,
        Some(&json!({"email": common::ROOT_EMAIL, "password": "wrong-password"})),
    );
    assert_problem(&r, 401, "unauthorized");
    assert!(r.json.get("session_token").is_none());
}

#[test]
fn method_not_allowed_names_allowed_methods() {
    let w = World::new();
    let (key, _) = w.key("m", json!({}));
    let kid = key["id"].as_str().unwrap();
    for (method, path, must_allow) in [
        ("PUT", "/v1/keys".to_owned(), vec!["GET", "POST"]),
        ("DELETE", "/v1/keys".to_owned(), vec!["GET", "POST"]),
        ("PUT", format!("/v1/keys/{kid}"), vec!["GET", "PATCH", "DELETE"]),
        ("GET", format!("/v1/keys/{kid}/revoke"), vec!["POST"]),
        ("GET", "/v1/verify".to_owned(), vec!["POST"]),
        ("POST", "/v1/forward-auth".to_owned(), vec!["GET"]),
    ] {
        let r = w.srv.req(method, &path, Some(&w.tok), None);
        assert_problem(&r, 405, "method_not_allowed");
        let allow = r.header("allow").unwrap_or_else(|| panic!("405 without Allow on {path}"));
        let allowed: Vec<String> = allow.split(',').map(|m| m.trim().to_ascii_uppercase()).collect();
        for m in must_allow {
            assert!(allowed.contains(&m.to_owned()), "{method} {path}: Allow {allow:?} lacks {m}");
        }
        assert!(!allowed.contains(&method.to_owned()), "Allow lists the refused method");
    }
    // Nothing happened to the key.
    assert_eq!(w.srv.get(&format!("/v1/keys/{kid}"), &w.tok).key()["status"], json!("active"));
}

#[test]
fn repeated_failed_logins_are_rate_limited() {
    let srv = Server::start();
    let root = srv.root();
    let admin = srv.create_admin(&root, &["events.*:read"], true);
    let attempt = |password: &str| {
        srv.req("POST", "/v1/auth/login", None, Some(&json!({"email": admin.email, "password": password})))
    };
    for i in 0..5 {
        let r = attempt("wrong-password");
        assert_eq!(r.status, 401, "attempt {i}: {}", r.text);
    }
    let r = attempt("wrong-password");
    assert_problem(&r, 429, "rate_limited");
    let retry: u64 = r
        .header("retry-after")
        .expect("429 without Retry-After")
        .trim()
        .parse()
        .expect("Retry-After is a number of seconds");
    assert!(retry > 0 && retry <= 900, "Retry-After {retry}");
    // Even the right password waits now.
    let r = attempt(&admin.password);
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.json.get("session_token").is_none());
    // Other accounts are not affected.
    srv.root();
    // Failed logins are audited.
    let failed = srv.logs(&root, "kind=audit&action=auth.login_failed");
    assert!(failed.len() >= 5, "{} auth.login_failed records", failed.len());
    assert!(!serde_json::to_string(&failed).unwrap().contains("wrong-password"));
}

#[test]
fn not_found_and_conflict_are_problems() {
    let w = World::new();
    w.srv.get("/v1/keys/AAAAAAAAAAAAAAAA", &w.tok).expect_problem(404, "not_found");
    w.srv.get("/v1/admins/nosuchadmin", &w.root).expect_problem(404, "not_found");
    w.key("c", json!({}));
    let r = w.srv.post("/v1/keys", &w.tok, &json!({"name": "c"}));
    assert_problem(&r, 409, "conflict");
}
