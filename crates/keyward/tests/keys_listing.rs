//! SPEC §2 `GET /v1/keys` and `GET /v1/keys/stats`: filters, pagination, statistics.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{poll, rfc3339_in, World};
use serde_json::{json, Value};

fn names(items: &[Value]) -> BTreeSet<String> {
    items.iter().map(|k| k["name"].as_str().unwrap().to_owned()).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn pagination_walks_every_page_exactly_once() {
    let w = World::new();
    let srv = &w.srv;
    let mut created = BTreeSet::new();
    for i in 0..7 {
        let (k, _) = w.key(&format!("page-{i}"), json!({}));
        created.insert(k["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/keys?limit=3&cursor={c}"),
            None => "/v1/keys?limit=3".to_owned(),
        };
        let r = srv.get(&path, &w.tok);
        r.expect(200);
        pages += 1;
        assert!(pages <= 3, "too many pages");
        let items = r.items();
        assert!(items.len() <= 3, "page larger than limit");
        seen.extend(items.iter().map(|k| k["id"].as_str().unwrap().to_owned()));
        match r.json["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => {
                assert!(r.json.get("next_cursor").is_some(), "next_cursor must be present (null)");
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 7, "every key exactly once: {seen:?}");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), created);

    // limit above 1000 is treated as 1000, not an error.
    let r = srv.get("/v1/keys?limit=5000", &w.tok);
    assert_eq!(r.expect(200)["items"].as_array().unwrap().len(), 7);
    // Default page (50) holds everything too.
    assert_eq!(srv.get("/v1/keys", &w.tok).items().len(), 7);
    // An invalid cursor is a 400.
    srv.get("/v1/keys?limit=3&cursor=not-a-cursor", &w.tok).expect_problem(400, "malformed_request");
    // An unknown status is refused (bad query syntax or an invalid value: either is fair).
    let r = srv.get("/v1/keys?status=bogus", &w.tok);
    match r.status {
        400 => common::assert_problem(&r, 400, "malformed_request"),
        _ => common::assert_problem(&r, 422, "validation_failed"),
    }
}

#[test]
fn filters_and_stats() {
    let w = World::new();
    let srv = &w.srv;
    let (admin_b, tok_b) = srv.admin_session(&w.root, &["events.*:read"]);
    srv.create_key(&tok_b, &json!({"name": "b-one"}));
    srv.create_key(&tok_b, &json!({"name": "b-two", "description": "backend too"}));

    let (alpha, _) = w.key("alpha-web", json!({"description": "frontend", "lifetime_days": 5}));
    w.key("beta-api", json!({"description": "backend", "lifetime_days": 60}));
    let (gamma, _) = w.key("gamma", json!({"lifetime_days": 3}));
    let (delta, _) = w.key("delta", json!({"expires_at": rfc3339_in(2)}));
    let (zeta, _) = w.key("zeta", json!({"expires_at": rfc3339_in(2)}));
    w.key("eps", json!({"never_expires": true}));
    for k in [&gamma, &zeta] {
        srv.post(&format!("/v1/keys/{}/revoke", k["id"].as_str().unwrap()), &w.tok, &json!({})).expect(200);
    }
    let delta_path = format!("/v1/keys/{}", delta["id"].as_str().unwrap());
    let expired = poll(Duration::from_secs(5), || {
        let k = srv.get(&delta_path, &w.tok).key();
        (k["status"] == json!("expired")).then_some(k)
    })
    .expect("key with expires_at 2 s ahead never became expired");
    assert_eq!(expired["remaining_days"], json!(0));
    // Revoked wins over expired.
    let z = srv.get(&format!("/v1/keys/{}", zeta["id"].as_str().unwrap()), &w.tok);
    assert_eq!(z.key()["status"], json!("revoked"));

    let list = |query: &str, tok: &str| {
        let r = srv.get(&format!("/v1/keys?limit=1000&{query}"), tok);
        r.expect(200);
        names(&r.items())
    };
    let all_a = set(&["alpha-web", "beta-api", "gamma", "delta", "zeta", "eps"]);
    assert_eq!(list("status=all", &w.tok), all_a);
    assert_eq!(list("", &w.tok), all_a);
    assert_eq!(list("status=active", &w.tok), set(&["alpha-web", "beta-api", "eps"]));
    assert_eq!(list("status=revoked", &w.tok), set(&["gamma", "zeta"]));
    assert_eq!(list("status=expired", &w.tok), set(&["delta"]));

    // q: substring over name, description, id and owner email.
    assert_eq!(list("q=web", &w.tok), set(&["alpha-web"]));
    assert_eq!(list("q=backend", &w.tok), set(&["beta-api"]));
    let gid = gamma["id"].as_str().unwrap();
    assert_eq!(list(&format!("q={}", &gid[..gid.len() - 1]), &w.tok).len(), 1);
    assert_eq!(list(&format!("q={gid}"), &w.tok), set(&["gamma"]));
    let local = w.admin.email.split('@').next().unwrap().to_owned();
    assert_eq!(list(&format!("q={local}"), &w.root), all_a);
    assert_eq!(list("q=backend", &w.root), set(&["beta-api", "b-two"]), "superadmin's q spans every owner");

    // owner= by email or id.
    assert_eq!(list(&format!("owner={}", w.admin.email), &w.root), all_a);
    assert_eq!(list(&format!("owner={}", admin_b.id), &w.root), set(&["b-one", "b-two"]));
    assert_eq!(list(&format!("owner={}", w.admin.id), &w.root), all_a);

    // expiring_within_days counts only active keys.
    assert_eq!(list("expiring_within_days=10", &w.tok), set(&["alpha-web"]));
    assert_eq!(list("expiring_within_days=90", &w.tok), set(&["alpha-web", "beta-api"]));
    assert_eq!(list("status=active&q=alpha", &w.tok), set(&["alpha-web"]), "filters combine");

    // The grid columns are on every item.
    let r = srv.get("/v1/keys?q=alpha", &w.tok);
    let item = &r.items()[0];
    assert_eq!(item["id"], alpha["id"]);
    for field in [
        "id",
        "name",
        "owner",
        "created_at",
        "expires_at",
        "remaining_days",
        "status",
        "description",
        "grants",
        "roles",
        "last_used_at",
    ] {
        assert!(item.get(field).is_some(), "list item lacks {field}");
    }

    let stats = srv.get("/v1/keys/stats", &w.tok);
    let stats = stats.expect(200);
    for (field, n) in [("total", 6), ("active", 3), ("expired", 1), ("revoked", 2), ("expiring_within_30_days", 1)] {
        assert_eq!(stats[field], json!(n), "stats.{field}: {stats}");
    }
    let b_stats = srv.get("/v1/keys/stats", &tok_b);
    assert_eq!(b_stats.json["total"], json!(2));
    let root_stats = srv.get("/v1/keys/stats", &w.root);
    // A's six, B's two and the verifier key.
    assert_eq!(root_stats.json["total"], json!(9));
    assert_eq!(root_stats.json["active"], json!(6));
}
