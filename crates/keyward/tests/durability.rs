//! SPEC §6: an acknowledged write survives `kill -9`. A client creates keys as fast as it can
//! while the server is killed; after a restart every key whose creation was answered exists and
//! verifies, and nothing half-written exists (every key has its audit record and vice versa).
//! Runs on the run's backend (`KEYWARD_TEST_BACKEND`).
#![allow(clippy::unwrap_used)]

mod common;

use common::{test_database, Server, ServerOptions, World};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn acknowledged_keys_survive_sigkill_and_nothing_is_half_written() {
    let database = test_database();
    let options = || ServerOptions { database: Some(database.clone()), ..Default::default() };
    let w = World::on(Server::start_with(options()));
    let acknowledged: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|t| {
            let (base, tok) = (w.srv.base.clone(), w.tok.clone());
            let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let sent = http
                        .post(format!("{base}/v1/keys"))
                        .bearer_auth(&tok)
                        .json(&json!({"name": format!("t{t}-{i}"), "grants": ["events.alerts:read"]}))
                        .send();
                    // Only an answered 201 counts: a request cut by the kill may or may not
                    // have committed, and either is fine.
                    let Ok(resp) = sent else { break };
                    if resp.status().as_u16() != 201 {
                        break;
                    }
                    let Ok(body) = resp.json::<serde_json::Value>() else {
                        break;
                    };
                    let id = body["key"]["id"].as_str().unwrap().to_owned();
                    let secret = body["secret"].as_str().unwrap().to_owned();
                    acknowledged.lock().unwrap().insert(id, secret);
                }
            })
        })
        .collect();
    // Let them write, then kill -9 in the middle of it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while acknowledged.lock().unwrap().len() < 40 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let World { srv, tok, verifier, .. } = w;
    drop(srv); // SIGKILL: no graceful shutdown
    stop.store(true, Ordering::Relaxed);
    for h in writers {
        h.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 40, "only {} keys were created before the deadline", acknowledged.len());

    let srv = Server::start_with(options());
    // Every acknowledged key exists and verifies.
    for (id, secret) in &acknowledged {
        srv.get(&format!("/v1/keys/{id}"), &tok).expect(200);
        let v = srv.verify(&verifier, &json!({"key": secret, "permission": "events.alerts:read"}));
        assert_eq!(v["code"], json!("valid"), "{id}: {v}");
    }
    // Nothing is half-written: the keys listed and the key.created records name the same keys.
    let mut listed = BTreeSet::new();
    let mut cursor = String::new();
    loop {
        let page = srv.get(&format!("/v1/keys?limit=1000{cursor}"), &tok).expect(200).clone();
        listed.extend(page["items"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let created: BTreeSet<String> = srv
        .logs(&tok, "kind=audit&action=key.created")
        .iter()
        .map(|r| r["key_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, created, "every key has its audit record and every record its key");
    for id in acknowledged.keys() {
        assert!(listed.contains(id));
    }
    let stats = srv.get("/v1/keys/stats", &tok).expect(200).clone();
    assert_eq!(stats["total"].as_u64().unwrap() as usize, listed.len());
}
