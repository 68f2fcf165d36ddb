//! The store conformance suite: what every backend must do, written once against the `Store`
//! trait and run for each backend.
#![allow(clippy::unwrap_used)]

use chrono::{Duration, DurationRound, Utc};
use keyward_domain::admin::{Admin, AdminRole};
use keyward_domain::ids::{AdminId, KeyId};
use keyward_domain::key::{ApiKey, KeyFormat, Privileges};
use keyward_domain::policy::{Actor, Visibility};
use keyward_domain::secret::SecretHash;
use keyward_store::*;
use keyward_testkit::{Backend, TestDatabase};
use std::sync::Arc;

fn now() -> chrono::DateTime<Utc> {
    Utc::now().duration_trunc(Duration::milliseconds(1)).unwrap()
}

fn admin(email: &str) -> Admin {
    Admin {
        id: AdminId::generate(&mut rand::thread_rng()),
        email: email.into(),
        name: "N".into(),
        role: AdminRole::Admin,
        can_manage_keys: true,
        permissions: vec![keyward_domain::permission::Grant::all_targets("events.*:read".parse().unwrap())],
        disabled: false,
        created_at: now(),
        updated_at: now(),
        password_hash: "$argon2id$x".into(),
    }
}

fn key(owner: &Admin, name: &str, created: chrono::DateTime<Utc>) -> ApiKey {
    ApiKey {
        id: KeyId::generate(&mut rand::thread_rng()),
        owner_id: owner.id.clone(),
        name: name.into(),
        description: Some(format!("about {name}")),
        created_at: created,
        updated_at: created,
        expires_at: Some(created + Duration::days(30)),
        lifetime_days: Some(30),
        revoked_at: None,
        deleted_at: None,
        privileges: Privileges::default(),
        initial_privileges: Privileges::default(),
        networks: vec!["10.0.0.0/8".parse().unwrap()],
        format: KeyFormat::Opaque,
        verify_key: None,
        require_signed_writes: false,
        secret_hash: SecretHash([7; 32]),
        previous_secret: None,
        last_used_at: None,
        last_used_ip: None,
        use_count: 0,
        version: 1,
    }
}

fn record(action: &str, key: Option<&ApiKey>) -> LogRecord {
    LogRecord {
        id: keyward_domain::ids::random_base62(&mut rand::thread_rng(), 20),
        time: now(),
        kind: LogKind::Audit,
        action: action.into(),
        key_id: key.map(|k| k.id.clone()),
        key_owner_id: key.map(|k| k.owner_id.clone()),
        subject_admin_id: None,
        actor: Actor::System,
        client_ip: Some("127.0.0.1".into()),
        code: None,
        permission: None,
        target: None,
        node: None,
        details: Some(serde_json::json!({"name": "x"})),
    }
}

fn query(visibility: Visibility, limit: u32) -> KeyQuery {
    KeyQuery {
        visibility,
        now: now(),
        status: StatusFilter::All,
        q: None,
        owner: None,
        expiring_before: None,
        limit,
        cursor: None,
    }
}

async fn names(store: &Arc<dyn Store>, q: &KeyQuery) -> Vec<String> {
    store.list_keys(q).await.unwrap().items.into_iter().map(|k| k.key.name).collect()
}

/// The stats (kept partly by counters the database maintains) agree with counting the listing.
async fn assert_stats_agree_with_listing(store: &Arc<dyn Store>, visibility: Visibility) {
    let (now, soon) = (now(), now() + Duration::days(30));
    let keys: Vec<ApiKey> =
        store.list_keys(&query(visibility.clone(), 1000)).await.unwrap().items.into_iter().map(|k| k.key).collect();
    let live = |k: &&ApiKey| k.revoked_at.is_none();
    let expired = keys.iter().filter(live).filter(|k| k.expires_at.is_some_and(|e| e <= now)).count() as u64;
    let revoked = keys.iter().filter(|k| k.revoked_at.is_some()).count() as u64;
    let expiring_soon =
        keys.iter().filter(live).filter(|k| k.expires_at.is_some_and(|e| e > now && e <= soon)).count() as u64;
    let total = keys.len() as u64;
    let expected = KeyStats { total, active: total - revoked - expired, expired, revoked, expiring_soon };
    let stats = store.key_stats(&StatsQuery { visibility, now, expiring_before: soon }).await.unwrap();
    assert_eq!(stats, expected);
}

async fn admins_and_keys(store: Arc<dyn Store>) {
    let alice = admin("alice@example.com");
    let bob = admin("bob@example.com");
    store.insert_admin(&alice, &record("admin.created", None)).await.unwrap();
    store.insert_admin(&bob, &record("admin.created", None)).await.unwrap();
    let dup = admin("alice@example.com");
    assert!(matches!(store.insert_admin(&dup, &record("admin.created", None)).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.get_admin_by_email("alice@example.com").await.unwrap().unwrap().id, alice.id);
    assert_eq!(store.count_admins().await.unwrap(), 2);

    let t0 = now() - Duration::minutes(10);
    let mut keys = Vec::new();
    for i in 0..7 {
        let k = key(&alice, &format!("k{i}"), t0 + Duration::seconds(i));
        store.insert_key(&k, &record("key.created", Some(&k))).await.unwrap();
        keys.push(k);
    }
    let bobs = key(&bob, "k0", t0);
    store.insert_key(&bobs, &record("key.created", Some(&bobs))).await.unwrap();
    let clash = key(&alice, "k0", t0);
    assert!(matches!(
        store.insert_key(&clash, &record("key.created", Some(&clash))).await,
        Err(StoreError::Conflict(_))
    ));

    // Round trip.
    let got = store.get_key_with_owner(&keys[0].id).await.unwrap().unwrap();
    assert_eq!(got.key, keys[0]);
    assert_eq!(got.owner_email, "alice@example.com");

    // Pagination walks every visible key once, newest first.
    let mut seen = Vec::new();
    let mut q = query(Visibility::OwnedBy(alice.id.clone()), 3);
    loop {
        let page = store.list_keys(&q).await.unwrap();
        seen.extend(page.items.iter().map(|k| k.key.name.clone()));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ["k6", "k5", "k4", "k3", "k2", "k1", "k0"]);
    assert_eq!(store.list_keys(&query(Visibility::All, 100)).await.unwrap().items.len(), 8);
    let mut bad = query(Visibility::All, 3);
    bad.cursor = Some("nonsense".into());
    assert!(matches!(store.list_keys(&bad).await, Err(StoreError::InvalidCursor)));

    // Filters.
    let mut q = query(Visibility::All, 100);
    q.q = Some("BOB@".into());
    assert_eq!(store.list_keys(&q).await.unwrap().items.len(), 1, "q matches owner email, case-insensitively");
    q.q = Some("about k3".into());
    assert_eq!(store.list_keys(&q).await.unwrap().items.len(), 1, "q matches description");
    q.q = Some("%".into());
    assert_eq!(store.list_keys(&q).await.unwrap().items.len(), 0, "LIKE wildcards are literal");
    q.q = Some("5".into());
    let short = store.list_keys(&q).await.unwrap().items;
    assert!(short.iter().any(|k| k.key.name == "k5"), "a query shorter than a trigram still matches");
    assert!(short.iter().all(|k| [k.key.id.as_str(), &k.key.name, &k.owner_email].iter().any(|f| f.contains('5'))));
    q.q = Some(keys[4].id.as_str()[3..12].to_lowercase());
    assert_eq!(names(&store, &q).await, ["k4"], "q matches a substring of the id, case-insensitively");
    let mut renamed = keys[6].clone();
    renamed.name = "Renamed \"quoted\" key".into();
    renamed.description = Some("changed".into());
    renamed.version = 2;
    store.update_key(&renamed, 1, &[]).await.unwrap();
    keys[6] = renamed;
    q.q = Some("named \"QUOTED".into());
    assert_eq!(names(&store, &q).await, ["Renamed \"quoted\" key"], "the search follows a rename");
    q.q = Some("about k6".into());
    assert!(!names(&store, &q).await.contains(&keys[6].name), "the old name and description are no longer found");

    // Optimistic versioning, revocation and deletion.
    let mut changed = keys[1].clone();
    changed.revoked_at = Some(now());
    changed.version = 2;
    store.update_key(&changed, 1, &[record("key.revoked", Some(&changed))]).await.unwrap();
    assert!(matches!(store.update_key(&changed, 1, &[]).await, Err(StoreError::VersionConflict)));
    let mut deleted = keys[2].clone();
    deleted.revoked_at = Some(now());
    deleted.deleted_at = Some(now());
    deleted.version = 2;
    store.update_key(&deleted, 1, &[]).await.unwrap();
    let again = key(&alice, "k2", now());
    store.insert_key(&again, &record("key.created", Some(&again))).await.unwrap();

    let mut expired = keys[3].clone();
    expired.expires_at = Some(now() - Duration::seconds(1));
    expired.version = 2;
    store.update_key(&expired, 1, &[]).await.unwrap();
    let stats = store
        .key_stats(&StatsQuery {
            visibility: Visibility::OwnedBy(alice.id.clone()),
            now: now(),
            expiring_before: now() + Duration::days(30),
        })
        .await
        .unwrap();
    assert_eq!(stats, KeyStats { total: 7, active: 5, expired: 1, revoked: 1, expiring_soon: 5 });
    assert_stats_agree_with_listing(&store, Visibility::All).await;
    assert_stats_agree_with_listing(&store, Visibility::OwnedBy(bob.id.clone())).await;
    let mut revoked = query(Visibility::All, 100);
    revoked.status = StatusFilter::Revoked;
    assert_eq!(store.list_keys(&revoked).await.unwrap().items.len(), 1);

    // Deleting an admin revokes their keys with a record each.
    let revoked = store
        .delete_admin(
            &bob.id,
            now(),
            &|k: &KeyId| {
                let mut r = record("key.revoked", None);
                r.key_id = Some(k.clone());
                r
            },
            &record("admin.deleted", None),
        )
        .await
        .unwrap();
    assert_eq!(revoked, vec![bobs.id.clone()]);
    assert_stats_agree_with_listing(&store, Visibility::All).await;
    assert_stats_agree_with_listing(&store, Visibility::OwnedBy(bob.id.clone())).await;
    assert!(store.get_admin(&bob.id).await.unwrap().is_none());
    assert!(store.get_key(&bobs.id).await.unwrap().unwrap().revoked_at.is_some());
    let logs = store
        .search_logs(&LogQuery {
            visibility: Visibility::All,
            key_ids: vec![bobs.id.clone()],
            kind: None,
            action: Some("key.revoked".into()),
            since: None,
            until: None,
            limit: 10,
            cursor: None,
        })
        .await
        .unwrap();
    assert_eq!(logs.items.len(), 1);
}

async fn logs_and_settings(store: Arc<dyn Store>) {
    let alice = admin("alice@example.com");
    store.insert_admin(&alice, &record("admin.created", None)).await.unwrap();
    let k = key(&alice, "k", now());
    store.insert_key(&k, &record("key.created", Some(&k))).await.unwrap();
    for _ in 0..4 {
        store.insert_log(&record("key.updated", Some(&k))).await.unwrap();
    }
    let mut login = record("auth.login", None);
    login.subject_admin_id = Some(alice.id.clone());
    store.insert_log(&login).await.unwrap();
    store.insert_log(&record("auth.login_failed", None)).await.unwrap();
    let q = |visibility, cursor| LogQuery {
        visibility,
        key_ids: vec![],
        kind: Some(LogKind::Audit),
        action: None,
        since: None,
        until: None,
        limit: 2,
        cursor,
    };
    let mut cursor = None;
    let mut actions = Vec::new();
    loop {
        let page = store.search_logs(&q(Visibility::OwnedBy(alice.id.clone()), cursor)).await.unwrap();
        actions.extend(page.items.iter().map(|r| r.action.clone()));
        if page.next_cursor.is_none() {
            break;
        }
        cursor = page.next_cursor;
    }
    assert_eq!(actions, ["auth.login", "key.updated", "key.updated", "key.updated", "key.updated", "key.created"]);
    let first = store.search_logs(&q(Visibility::All, None)).await.unwrap();
    assert_eq!(first.items[0].action, "auth.login_failed");
    assert_eq!(first.items[0].details, Some(serde_json::json!({"name": "x"})));

    assert_eq!(store.setting_or_insert("pepper", b"first").await.unwrap(), b"first");
    assert_eq!(store.setting_or_insert("pepper", b"second").await.unwrap(), b"first");
    store.ping().await.unwrap();
}

/// Every page of a listing, walked with its cursor (`limit` keys a page).
async fn walk(store: &Arc<dyn Store>, mut q: KeyQuery) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let page = store.list_keys(&q).await.unwrap();
        assert!(page.items.len() <= q.limit as usize);
        seen.extend(page.items.into_iter().map(|k| k.key.name));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return seen,
        }
    }
}

/// `?q=` keeps one meaning whichever index serves it: a case-insensitive substring of the id,
/// name, description or owner email, combined with the other filters and walked page by page
/// (newest first, each key once), including when both the owner's email and another owner's
/// key text match, and for queries shorter than a trigram.
async fn key_search(store: Arc<dyn Store>) {
    let alice = admin("alice@example.com");
    let bob = admin("bob@Corp.test");
    for a in [&alice, &bob] {
        store.insert_admin(a, &record("admin.created", None)).await.unwrap();
    }
    let (t0, now) = (now() - Duration::hours(1), now());
    let mut all: Vec<(ApiKey, &Admin)> = Vec::new();
    for i in 0..12 {
        let owner = if i % 3 == 0 { &bob } else { &alice };
        let name = match i {
            4 => "CORP-gateway".to_string(),
            7 => "edge".to_string(),
            _ => format!("svc-{i}"),
        };
        let mut k = key(owner, &name, t0 + Duration::seconds(i));
        k.description = Some(if i % 4 == 1 { format!("Zq team {i}") } else { format!("plain {i}") });
        if i % 5 == 0 {
            k.revoked_at = Some(now);
        }
        store.insert_key(&k, &record("key.created", Some(&k))).await.unwrap();
        all.push((k, owner));
    }
    // The expected listing, computed here: newest first.
    let expect = |needle: &str, visible: &dyn Fn(&ApiKey) -> bool| -> Vec<String> {
        let needle = needle.to_lowercase();
        let mut v: Vec<&(ApiKey, &Admin)> = all
            .iter()
            .filter(|(k, _)| visible(k))
            .filter(|(k, o)| {
                [k.id.as_str(), &k.name, k.description.as_deref().unwrap_or(""), &o.email]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&needle))
            })
            .collect();
        v.sort_by(|a, b| (b.0.created_at, b.0.id.as_str()).cmp(&(a.0.created_at, a.0.id.as_str())));
        v.into_iter().map(|(k, _)| k.name.clone()).collect()
    };
    let search = |visibility: Visibility, q: &str, status: StatusFilter| KeyQuery {
        q: Some(q.into()),
        status,
        ..query(visibility, 2)
    };

    // The owner's email (bob@Corp.test) and another owner's key name (CORP-gateway) both match.
    let got = walk(&store, search(Visibility::All, "corp", StatusFilter::All)).await;
    assert_eq!(got, expect("corp", &|_| true), "email and text matches, merged newest first");
    assert_eq!(got.len(), 5);
    let got = walk(&store, search(Visibility::All, "CORP", StatusFilter::Revoked)).await;
    assert_eq!(got, expect("corp", &|k| k.revoked_at.is_some()), "combined with a status");
    let mut by_owner = search(Visibility::All, "Corp", StatusFilter::All);
    by_owner.owner = Some(alice.id.clone());
    assert_eq!(walk(&store, by_owner).await, ["CORP-gateway"], "combined with ?owner=");
    let alices = Visibility::OwnedBy(alice.id.clone());
    let got = walk(&store, search(alices.clone(), "corp", StatusFilter::All)).await;
    assert_eq!(got, ["CORP-gateway"], "another owner's email does not reveal that owner's keys");
    let got = walk(&store, search(alices.clone(), "ALICE@", StatusFilter::Active)).await;
    assert_eq!(got, expect("alice@", &|k| k.owner_id == alice.id && k.revoked_at.is_none()));

    // Descriptions, and queries shorter than a trigram (one and two characters).
    let got = walk(&store, search(Visibility::All, "zq TEAM", StatusFilter::All)).await;
    assert_eq!(got, expect("zq team", &|_| true));
    assert_eq!(got.len(), 3);
    for short in ["zQ", "Q", "e", "-"] {
        let got = walk(&store, search(Visibility::All, short, StatusFilter::All)).await;
        assert_eq!(got, expect(short, &|_| true), "short query {short:?}");
        let got = walk(&store, search(alices.clone(), short, StatusFilter::Active)).await;
        assert_eq!(got, expect(short, &|k| k.owner_id == alice.id && k.revoked_at.is_none()), "{short:?}");
    }
    let got = walk(&store, search(Visibility::All, "nothing like it", StatusFilter::All)).await;
    assert!(got.is_empty());
}

/// Every page of a listing with its cursor, following `next_cursor` until it is `null`.
async fn pages(store: &Arc<dyn Store>, mut q: KeyQuery) -> Vec<Page<KeyWithOwner>> {
    let mut out = Vec::new();
    loop {
        let page = store.list_keys(&q).await.unwrap();
        assert!(page.items.len() <= q.limit as usize);
        assert!(out.len() < 10_000, "the cursor does not move forward");
        let next = page.next_cursor.clone();
        out.push(page);
        match next {
            Some(c) => q.cursor = Some(c),
            None => return out,
        }
    }
}

fn page_names(pages: &[Page<KeyWithOwner>]) -> Vec<String> {
    pages.iter().flat_map(|p| p.items.iter().map(|k| k.key.name.clone())).collect()
}

/// The bounded walk (`list_walk_limit`, 7 here): no request reads more than 7 keys of a walk,
/// so a page may be short or empty with a next cursor that resumes the walk where it stopped;
/// following the cursors still gives exactly the listing, newest first, for short `?q=`, every
/// status, `?owner=`, an admin's visibility and owners matched by email. Keys marked `~z` are
/// alice's, 8 of her keys apart, so a page of hers never holds two of them unless a request read
/// more than 7 keys; deleted keys are walked too (the bound counts what the walk reads).
async fn bounded_walk(url: &str) {
    const BOUND: u32 = 7;
    let store = open_with(url, StoreOptions { list_walk_limit: BOUND }).await.unwrap();
    let alice = admin("alice@example.com");
    let bob = admin("bob@corp.test");
    for a in [&alice, &bob] {
        store.insert_admin(a, &record("admin.created", None)).await.unwrap();
    }
    let (t0, now) = (now() - Duration::hours(1), now());
    let mut all: Vec<(ApiKey, &Admin)> = Vec::new();
    for i in 0..300 {
        let owner = if i % 3 == 0 { &bob } else { &alice };
        let name = match i {
            _ if i % 12 == 1 => format!("svc-{i}~z"),
            _ if i % 97 == 5 => format!("svc-{i}-b@x"),
            _ if i % 101 == 7 => format!("CORP-{i}"),
            _ => format!("svc-{i}"),
        };
        let mut k = key(owner, &name, t0 + Duration::seconds(i));
        k.description = Some(if i % 4 == 1 { format!("Zq team {i}") } else { format!("plain {i}") });
        k.expires_at = match i {
            _ if i % 7 == 0 => Some(now - Duration::minutes(1)),
            _ if i % 13 == 0 => None,
            _ => Some(now + Duration::days(1 + i % 20)),
        };
        if i % 5 == 0 {
            k.revoked_at = Some(now);
        }
        if i % 11 == 0 {
            k.revoked_at = Some(now);
            k.deleted_at = Some(now);
        }
        store.insert_key(&k, &record("key.created", Some(&k))).await.unwrap();
        all.push((k, owner));
    }
    // The expected listing, computed here from every key: newest first.
    let expect = |q: &KeyQuery| -> Vec<String> {
        let mut v: Vec<&(ApiKey, &Admin)> = all
            .iter()
            .filter(|(k, o)| {
                let live = k.revoked_at.is_none();
                let expired = k.expires_at.is_some_and(|e| e <= now);
                k.deleted_at.is_none()
                    && q.visibility.can_see(&k.owner_id)
                    && q.owner.as_ref().is_none_or(|w| *w == k.owner_id)
                    && match q.status {
                        StatusFilter::All => true,
                        StatusFilter::Active => live && !expired,
                        StatusFilter::Expired => live && expired,
                        StatusFilter::Revoked => !live,
                    }
                    && q.expiring_before.is_none_or(|b| live && k.expires_at.is_some_and(|e| e > now && e <= b))
                    && q.q.as_ref().is_none_or(|needle| {
                        let needle = needle.to_lowercase();
                        [k.id.as_str(), &k.name, k.description.as_deref().unwrap_or(""), &o.email]
                            .iter()
                            .any(|f| f.to_lowercase().contains(&needle))
                    })
            })
            .collect();
        v.sort_by(|a, b| (b.0.created_at, b.0.id.as_str()).cmp(&(a.0.created_at, a.0.id.as_str())));
        v.into_iter().map(|(k, _)| k.name.clone()).collect()
    };
    let ask = |visibility: Visibility, q: Option<&str>, status: StatusFilter, limit: u32| KeyQuery {
        q: q.map(str::to_string),
        status,
        now,
        ..query(visibility, limit)
    };
    let alices = Visibility::OwnedBy(alice.id.clone());
    // Every key each caller's walk reads, deleted ones included.
    let walked = |v: &Visibility| all.iter().filter(|(k, _)| v.can_see(&k.owner_id)).count() as u32;

    // (1) Following the cursors gives exactly the listing.
    let statuses = [StatusFilter::All, StatusFilter::Active, StatusFilter::Expired, StatusFilter::Revoked];
    for visibility in [Visibility::All, alices.clone()] {
        for owner in [None, Some(bob.id.clone())] {
            for status in statuses {
                for q in [None, Some("~z"), Some("b@"), Some("Q"), Some("7"), Some("corp")] {
                    let listing = KeyQuery { owner: owner.clone(), ..ask(visibility.clone(), q, status, 3) };
                    let got = page_names(&pages(&store, listing.clone()).await);
                    assert_eq!(got, expect(&listing), "{visibility:?} owner={owner:?} {status:?} q={q:?}");
                }
            }
        }
    }
    for limit in [1, 50] {
        let listing = ask(Visibility::All, Some("e"), StatusFilter::Active, limit);
        assert_eq!(page_names(&pages(&store, listing.clone()).await), expect(&listing), "limit {limit}");
    }
    let expiring =
        KeyQuery { expiring_before: Some(now + Duration::days(5)), ..ask(alices.clone(), None, StatusFilter::All, 4) };
    assert_eq!(page_names(&pages(&store, expiring.clone()).await), expect(&expiring), "an expiry range");
    assert!(expect(&ask(Visibility::All, Some("b@"), StatusFilter::All, 3)).len() > 90, "owners matched by email");

    // (2) A query nothing matches: empty pages with a cursor until the walk ends, then `null`;
    // each request read 7 keys, so the walk took every visible key / 7 requests.
    for visibility in [Visibility::All, alices.clone()] {
        let got = pages(&store, ask(visibility.clone(), Some("#!"), StatusFilter::All, 50)).await;
        assert!(got.iter().all(|p| p.items.is_empty()), "{visibility:?}");
        assert!(got[..got.len() - 1].iter().all(|p| p.next_cursor.is_some()));
        assert_eq!(got.len() as u32, walked(&visibility).div_ceil(BOUND), "{visibility:?}");
    }

    // (3) No request reads more than 7 keys: the `~z` keys are 8 of alice's keys apart (12 of
    // all keys), so no page holds two, and the walk took as many requests as there are 7-key
    // stretches of the keys the caller may see.
    for (visibility, status) in [(Visibility::All, StatusFilter::All), (alices.clone(), StatusFilter::Active)] {
        let listing = ask(visibility.clone(), Some("~z"), status, 5);
        let got = pages(&store, listing.clone()).await;
        assert!(got.iter().all(|p| p.items.len() <= 1), "a page spans more than 7 keys: {visibility:?}");
        assert_eq!(got.len() as u32, walked(&visibility).div_ceil(BOUND), "{visibility:?}");
        assert!(got.iter().any(|p| p.items.is_empty() && p.next_cursor.is_some()), "a short page with a cursor");
        assert_eq!(page_names(&got), expect(&listing));
        assert!(expect(&listing).len() >= 10);
    }

    // (4) A cursor this store did not make is refused; any well-formed one is only a place in
    // the order (here: before every key, so nothing follows).
    for bad in ["nonsense", "", "12", "12.", ".abc", "x.abc", "12.ab-c", "12.a b", "99999999999999999999.a"] {
        let tampered = KeyQuery { cursor: Some(bad.into()), ..ask(Visibility::All, Some("~z"), StatusFilter::All, 5) };
        assert!(matches!(store.list_keys(&tampered).await, Err(StoreError::InvalidCursor)), "{bad:?}");
    }
    let past = KeyQuery { cursor: Some("0.a".into()), ..ask(Visibility::All, Some("~z"), StatusFilter::All, 5) };
    let page = store.list_keys(&past).await.unwrap();
    assert!(page.items.is_empty() && page.next_cursor.is_none());
}

/// `status=expired`, `expiring_within_days` and `?q=` page alike whether the keys they select
/// are few (read from the range or trigram index and sorted) or many (found in the newest-first
/// walk): more than `SEEK_LIMIT` (2,000) keys expire here.
async fn expiry_ranges_dense_and_sparse(url: &str) {
    let store = open(url).await.unwrap();
    let alice = admin("alice@example.com");
    store.insert_admin(&alice, &record("admin.created", None)).await.unwrap();
    let (t0, now) = (now() - Duration::hours(3), now());
    let mut expiring = Vec::new();
    let mut expired = Vec::new();
    for i in 0..2_200 {
        let mut k = key(&alice, &format!("k{i:04}"), t0 + Duration::seconds(i));
        k.expires_at = Some(match i % 25 {
            0 => now - Duration::minutes(1),
            _ => now + Duration::days(1 + i % 20),
        });
        if i % 50 == 1 {
            k.revoked_at = Some(now);
        }
        store.insert_key(&k, &record("key.created", Some(&k))).await.unwrap();
        if k.revoked_at.is_none() {
            if i % 25 == 0 { &mut expired } else { &mut expiring }.push(k.name.clone());
        }
    }
    expiring.reverse();
    expired.reverse();
    let mut q = KeyQuery { expiring_before: Some(now + Duration::days(30)), ..query(Visibility::All, 500) };
    q.now = now;
    assert!(expiring.len() > 2_000);
    assert_eq!(walk(&store, q.clone()).await, expiring, "a dense range");
    let owned = KeyQuery { visibility: Visibility::OwnedBy(alice.id.clone()), limit: 37, ..q.clone() };
    assert_eq!(walk(&store, owned).await, expiring);
    let sparse = KeyQuery { expiring_before: None, status: StatusFilter::Expired, ..q.clone() };
    assert_eq!(walk(&store, sparse).await, expired, "a sparse range");
    // A substring that more than 2,000 keys hold is found in the walk, one that fewer hold in the
    // trigram index: the same answers.
    let mut newest_first: Vec<String> = (0..2_200).map(|i| format!("k{i:04}")).collect();
    newest_first.reverse();
    let common = KeyQuery { q: Some("ABOUT k".into()), expiring_before: None, ..q.clone() };
    assert_eq!(walk(&store, common).await, newest_first, "a common substring");
    let rare = KeyQuery { q: Some("bout K00".into()), expiring_before: None, limit: 30, ..q.clone() };
    assert_eq!(walk(&store, rare).await, newest_first[2_100..], "a rare substring");
    let narrow = KeyQuery { expiring_before: Some(now + Duration::days(1) + Duration::minutes(1)), ..q.clone() };
    let one_day: Vec<String> = expiring.iter().filter(|n| n[1..].parse::<i64>().unwrap() % 20 == 0).cloned().collect();
    assert_eq!(walk(&store, narrow).await, one_day);

    // Bounded to 7 keys a request, the walks of a dense range and of a common substring page
    // alike; the dense range's walk takes a request per 7 keys (2,200 / 7).
    let bounded = open_with(url, StoreOptions { list_walk_limit: 7 }).await.unwrap();
    let got = pages(&bounded, q.clone()).await;
    assert_eq!(page_names(&got), expiring, "a dense range, bounded");
    assert_eq!(got.len(), 2_200usize.div_ceil(7));
    assert!(got.iter().all(|p| p.items.len() <= 7));
    let common = KeyQuery { q: Some("ABOUT k".into()), expiring_before: None, limit: 20, ..q.clone() };
    assert_eq!(walk(&bounded, common).await, newest_first, "a common substring, bounded");
    let sparse = KeyQuery { expiring_before: None, status: StatusFilter::Expired, ..q };
    assert_eq!(walk(&bounded, sparse).await, expired, "a sparse range is a seek, not a walk");
}

/// Runs one suite on one backend's fresh database (skipped loudly when PostgreSQL is absent
/// outside CI); `url`: the suite opens the database itself.
macro_rules! on_backends {
    ($suite:ident: $sqlite:ident, $postgres:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            let db = TestDatabase::on(Backend::Sqlite).unwrap();
            $suite(open(&db.url).await.unwrap()).await;
        }

        #[tokio::test]
        async fn $postgres() {
            let Some(db) = TestDatabase::on(Backend::Postgres) else {
                return;
            };
            $suite(open(&db.url).await.unwrap()).await;
        }
    };
    (url $suite:ident: $sqlite:ident, $postgres:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            let db = TestDatabase::on(Backend::Sqlite).unwrap();
            $suite(&db.url).await;
        }

        #[tokio::test]
        async fn $postgres() {
            let Some(db) = TestDatabase::on(Backend::Postgres) else {
                return;
            };
            $suite(&db.url).await;
        }
    };
}

on_backends!(admins_and_keys: sqlite_admins_and_keys, postgres_admins_and_keys);
on_backends!(logs_and_settings: sqlite_logs_and_settings, postgres_logs_and_settings);
on_backends!(change_feed: sqlite_change_feed, postgres_change_feed);
on_backends!(reopens_a_migrated_database: sqlite_reopens, postgres_reopens);
on_backends!(usage_batches_and_retention: sqlite_usage, postgres_usage);
on_backends!(nonces_are_single_use: sqlite_nonces, postgres_nonces);
on_backends!(key_search: sqlite_key_search, postgres_key_search);
on_backends!(url expiry_ranges_dense_and_sparse: sqlite_expiry_ranges, postgres_expiry_ranges);
on_backends!(url bounded_walk: sqlite_bounded_walk, postgres_bounded_walk);

async fn nonces_are_single_use(store: Arc<dyn Store>) {
    let (a, b) = (KeyId::from_string("key-a"), KeyId::from_string("key-b"));
    let t = now();
    let until = t + Duration::seconds(300);
    assert!(store.use_nonce(&a, "n1", until, t).await.unwrap());
    assert!(!store.use_nonce(&a, "n1", until, t).await.unwrap(), "a replay");
    assert!(store.use_nonce(&b, "n1", until, t).await.unwrap(), "nonces are per key");
    assert!(store.use_nonce(&a, "n2", until, t).await.unwrap());
    // Concurrent uses of one nonce: exactly one wins.
    let tries: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let a = a.clone();
            tokio::spawn(async move { store.use_nonce(&a, "race", until, t).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for t in tries {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
    // Once forgotten, a nonce may be recorded again; pruning deletes only forgotten ones.
    assert!(store.use_nonce(&a, "n1", until + Duration::seconds(300), until).await.unwrap());
    assert_eq!(store.prune_nonces(until, 100).await.unwrap(), 3, "b/n1, a/n2 and a/race");
    assert!(!store.use_nonce(&a, "n1", until, until).await.unwrap(), "still remembered");
    assert_eq!(store.prune_nonces(until + Duration::seconds(300), 100).await.unwrap(), 1);
}

async fn usage_batches_and_retention(store: Arc<dyn Store>) {
    let alice = admin("alice@example.com");
    store.insert_admin(&alice, &record("admin.created", None)).await.unwrap();
    let k = key(&alice, "k", now());
    store.insert_key(&k, &record("key.created", Some(&k))).await.unwrap();
    let old = now() - Duration::days(100);
    let usage = |time, ip: &str| {
        let mut r = record("key.verified", Some(&k));
        r.kind = LogKind::Usage;
        r.time = time;
        r.client_ip = Some(ip.into());
        r.code = Some("valid".into());
        r.target = Some("acct-1".into());
        r.node = Some("node-a".into());
        r
    };
    let records: Vec<LogRecord> = (0..1200).map(|i| usage(old + Duration::seconds(i), "10.0.0.1")).collect();
    let uses =
        [KeyUse { key_id: k.id.clone(), last_used_at: now(), last_used_ip: Some("10.0.0.9".into()), count: 1200 }];
    store.record_usage(&records, &uses).await.unwrap();
    // An older use arriving later moves neither the time nor the address back.
    let late = [KeyUse { key_id: k.id.clone(), last_used_at: old, last_used_ip: Some("10.0.0.2".into()), count: 1 }];
    store.record_usage(&[usage(now(), "10.0.0.3")], &late).await.unwrap();
    let got = store.get_key(&k.id).await.unwrap().unwrap();
    assert_eq!((got.use_count, got.last_used_ip.as_deref()), (1201, Some("10.0.0.9")));
    assert!(got.last_used_at.unwrap() > now() - Duration::minutes(1), "the latest use, not the late old one");

    let q = LogQuery {
        visibility: Visibility::OwnedBy(alice.id.clone()),
        key_ids: vec![k.id.clone()],
        kind: Some(LogKind::Usage),
        action: None,
        since: None,
        until: None,
        limit: 1,
        cursor: None,
    };
    let newest = store.search_logs(&q).await.unwrap().items.remove(0);
    assert_eq!((newest.target.as_deref(), newest.node.as_deref()), (Some("acct-1"), Some("node-a")));

    // Retention deletes old usage in batches and never an audit record.
    let audit_before = store.verify_audit_chain().await.unwrap().records;
    let cutoff = now() - Duration::days(90);
    assert_eq!(store.prune_usage(cutoff, 1000).await.unwrap(), 1000);
    assert_eq!(store.prune_usage(cutoff, 1000).await.unwrap(), 200);
    assert_eq!(store.prune_usage(cutoff, 1000).await.unwrap(), 0);
    let left = store.search_logs(&LogQuery { limit: 1000, ..q }).await.unwrap().items;
    assert_eq!(left.len(), 1, "the recent usage record stays");
    assert_eq!(store.verify_audit_chain().await.unwrap().records, audit_before);
}

/// Runs raw SQL on a test database, as an attacker with database access would.
async fn tamper(url: &str, sql: &str) {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

async fn audit_chain_detects_tampering(url: &str) {
    let store = open(url).await.unwrap();
    let alice = admin("alice@example.com");
    store.insert_admin(&alice, &record("admin.created", None)).await.unwrap();
    let k = key(&alice, "k", now());
    store.insert_key(&k, &record("key.created", Some(&k))).await.unwrap();
    for _ in 0..5 {
        store.insert_log(&record("key.updated", Some(&k))).await.unwrap();
    }
    let mut usage = record("key.verified", Some(&k));
    usage.kind = LogKind::Usage;
    store.insert_log(&usage).await.unwrap();
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!(report, ChainReport { records: 7, first_break: None });

    // Altering the 4th audit record is found at position 4.
    let fourth = "(SELECT seq FROM logs WHERE kind = 'audit' ORDER BY seq LIMIT 1 OFFSET 3)";
    tamper(url, &format!("UPDATE logs SET client_ip = '10.6.6.6' WHERE seq = {fourth}")).await;
    let report = store.verify_audit_chain().await.unwrap();
    let b = report.first_break.unwrap();
    assert_eq!(b.position, 4);
    assert!(b.reason.contains("altered"), "{}", b.reason);

    // Removing it instead: the 5th record no longer follows the 3rd, found at position 4.
    tamper(url, &format!("DELETE FROM logs WHERE seq = {fourth}")).await;
    let b = store.verify_audit_chain().await.unwrap().first_break.unwrap();
    assert_eq!(b.position, 4);
    assert!(b.reason.contains("removed or inserted"), "{}", b.reason);
}

#[tokio::test]
async fn sqlite_audit_chain_detects_tampering() {
    let db = TestDatabase::on(Backend::Sqlite).unwrap();
    audit_chain_detects_tampering(&db.url).await;
}

#[tokio::test]
async fn postgres_audit_chain_detects_tampering() {
    let Some(db) = TestDatabase::on(Backend::Postgres) else {
        return;
    };
    audit_chain_detects_tampering(&db.url).await;
}

async fn change_feed(store: Arc<dyn Store>) {
    let before = now() - Duration::seconds(1);
    let alice = admin("alice@example.com");
    store.insert_admin(&alice, &record("admin.created", None)).await.unwrap();
    let mut listener = store.listen().await.unwrap();
    let k = key(&alice, "k", now());
    store.insert_key(&k, &record("key.created", Some(&k))).await.unwrap();
    let changed = store.changed_since(before).await.unwrap();
    assert!(changed.contains(&Invalidation::Key(k.id.clone())), "{changed:?}");
    assert!(changed.contains(&Invalidation::Owner(alice.id.clone())), "{changed:?}");
    assert!(store.changed_since(now() + Duration::seconds(5)).await.unwrap().is_empty());
    if let Some(listener) = listener.as_mut() {
        // Published in the transaction, delivered on commit: the insert above, then this update.
        let mut revoked = k.clone();
        revoked.revoked_at = Some(now());
        revoked.version = 2;
        store.update_key(&revoked, 1, &[]).await.unwrap();
        let first = tokio::time::timeout(std::time::Duration::from_secs(5), listener.next()).await.unwrap().unwrap();
        assert_eq!(first, Invalidation::Key(k.id.clone()));
        let second = tokio::time::timeout(std::time::Duration::from_secs(5), listener.next()).await.unwrap().unwrap();
        assert_eq!(second, Invalidation::Key(k.id.clone()));
        let mut disabled = alice.clone();
        disabled.disabled = true;
        store.update_admin(&disabled, true, &record("admin.updated", None)).await.unwrap();
        let third = tokio::time::timeout(std::time::Duration::from_secs(5), listener.next()).await.unwrap().unwrap();
        assert_eq!(third, Invalidation::Owner(alice.id.clone()));
    }
}

async fn reopens_a_migrated_database(store: Arc<dyn Store>) {
    store.insert_admin(&admin("a@example.com"), &record("admin.created", None)).await.unwrap();
    // Migrations are idempotent: a second node (or a restart) opening the same database runs none.
    assert_eq!(store.count_admins().await.unwrap(), 1);
}

#[tokio::test]
async fn sqlite_reopens_a_file_and_rejects_unknown_schemes() {
    let db = TestDatabase::on(Backend::Sqlite).unwrap();
    let store = open(&db.url).await.unwrap();
    store.insert_admin(&admin("a@example.com"), &record("admin.created", None)).await.unwrap();
    drop(store);
    let store = open(&db.url).await.unwrap();
    assert_eq!(store.count_admins().await.unwrap(), 1);
    assert!(open("mysql://nope").await.is_err());
}

#[tokio::test]
async fn postgres_nodes_starting_at_once_migrate_once() {
    let Some(db) = TestDatabase::on(Backend::Postgres) else {
        return;
    };
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { open(&url).await.map(|_| ()) })
        })
        .collect();
    for h in handles {
        h.await.unwrap().unwrap();
    }
}

on_backends!(signing_keys_and_revoked_tokens: sqlite_tokens, postgres_tokens);

fn signing_key(kid: &str, created_at: chrono::DateTime<Utc>) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        algorithm: "ES256".into(),
        public_key: vec![4; 65],
        encrypted_private_key: Some(vec![7; 40]),
        created_at,
        retired_at: None,
    }
}

async fn signing_keys_and_revoked_tokens(store: Arc<dyn Store>) {
    let t0 = now();
    assert!(store.signing_keys().await.unwrap().is_empty());
    let mut listener = store.listen().await.unwrap();
    let first = signing_key("first", t0);
    assert!(store.insert_signing_key(&first, false, &record("signing_key.created", None)).await.unwrap());
    // A second node starting at the same moment does not create a second current key.
    let racer = signing_key("racer", t0);
    assert!(!store.insert_signing_key(&racer, false, &record("signing_key.created", None)).await.unwrap());
    assert_eq!(store.signing_keys().await.unwrap(), vec![first.clone()]);

    let t1 = t0 + Duration::seconds(10);
    let second = signing_key("second", t1);
    assert!(store.insert_signing_key(&second, true, &record("signing_key.rotated", None)).await.unwrap());
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], second, "the current key comes first");
    assert_eq!(keys[1].kid, "first");
    assert_eq!(keys[1].retired_at, Some(t1));
    assert_eq!(keys[1].encrypted_private_key, None, "a retired key's private half is erased");
    assert_eq!(keys[1].public_key, first.public_key, "its public half stays for the JWKS");
    let changed = store.changed_since(t0 - Duration::seconds(1)).await.unwrap();
    assert!(changed.contains(&Invalidation::SigningKeys), "{changed:?}");

    let alice = admin("alice@example.com");
    store.insert_admin(&alice, &record("admin.created", None)).await.unwrap();
    let k = key(&alice, "k", t0);
    let revoked = RevokedToken {
        jti: "jti-1".into(),
        key_id: k.id.clone(),
        expires_at: t0 + Duration::seconds(3600),
        revoked_at: t0,
    };
    store.revoke_token(&revoked, &record("token.revoked", Some(&k))).await.unwrap();
    store.revoke_token(&revoked, &record("token.revoked", Some(&k))).await.unwrap();
    let old = RevokedToken { jti: "jti-old".into(), expires_at: t0 - Duration::seconds(1), ..revoked.clone() };
    store.revoke_token(&old, &record("token.revoked", Some(&k))).await.unwrap();
    assert_eq!(store.revoked_tokens(t0).await.unwrap(), vec![revoked.clone()], "expired entries are not listed");
    let changed = store.changed_since(t0 - Duration::seconds(1)).await.unwrap();
    assert!(changed.contains(&Invalidation::Token("jti-1".into())), "{changed:?}");
    assert_eq!(store.prune_revoked_tokens(t0).await.unwrap(), 1);
    assert_eq!(store.revoked_tokens(t0 - Duration::days(1)).await.unwrap(), vec![revoked]);

    if let Some(listener) = listener.as_mut() {
        let mut seen = Vec::new();
        while seen.len() < 4 {
            let next = tokio::time::timeout(std::time::Duration::from_secs(5), listener.next()).await.unwrap().unwrap();
            seen.push(next);
        }
        assert_eq!(
            seen,
            vec![
                Invalidation::SigningKeys,
                Invalidation::SigningKeys,
                Invalidation::Token("jti-1".into()),
                Invalidation::Token("jti-old".into())
            ]
        );
    }
}
