//! The service API driven as a library, with a manual clock: expiry, grace periods, cache
//! coherence and concurrency, without sleeping and without HTTP.
#![allow(clippy::unwrap_used)]

use chrono::Duration;
use keyward_domain::catalog::GrantInput;
use keyward_domain::ids::{AdminId, KeyId};
use keyward_domain::policy::{authorize_admin_management, authorize_logs, KeyAction, Principal};
use keyward_service::admins::AdminPatch;
use keyward_service::keys::{ExpiryFields, IssuedKey, KeyPatch, NewKey};
use keyward_service::logs::LogSearch;
use keyward_service::verify::{Channel, VerifyCode, VerifyQuery};
use keyward_service::{RequestContext, ServiceError};

mod common;

use common::{node, node_with, Node};

/// What `verify` answers for a secret (and permission), with nothing else asked.
trait Answers {
    async fn code(&self, secret: &str, permission: Option<&str>) -> VerifyCode;
}

impl Answers for Node {
    async fn code(&self, secret: &str, permission: Option<&str>) -> VerifyCode {
        let permission = permission.map(|p| p.parse().unwrap());
        let q =
            VerifyQuery { key: secret, permission: permission.as_ref(), target: None, client_ip: None, request: None };
        self.keyward.verify(q).await.unwrap().code
    }
}

/// Alice (who may write events) and her key `k`, which may read alerts.
async fn alerts_reader(n: &Node) -> (Principal, IssuedKey) {
    let alice = n.admin("alice@example.com", &["events.*:write"]).await;
    let issued = n
        .keyward
        .create_key(
            &n.access(&alice, KeyAction::Issue),
            key("k", &["events.alerts:read"], None),
            &RequestContext::default(),
        )
        .await
        .unwrap();
    (alice, issued)
}

fn key(name: &str, grants: &[&str], lifetime_days: Option<i64>) -> NewKey {
    NewKey {
        name: name.into(),
        grants: Some(grants.iter().map(|g| GrantInput::Bare(g.to_string())).collect()),
        expiry: ExpiryFields { lifetime_days, ..Default::default() },
        ..Default::default()
    }
}

#[tokio::test]
async fn keys_expire_on_the_clock() {
    let n = node().await;
    let alice = n.admin("alice@example.com", &["events.*:write"]).await;
    let issue = n.access(&alice, KeyAction::Issue);
    let issued = n
        .keyward
        .create_key(&issue, key("k", &["events.alerts:read"], Some(1)), &RequestContext::default())
        .await
        .unwrap();
    assert_eq!(issued.view.remaining_days, Some(1));
    assert_eq!(n.code(issued.secret.expose(), Some("events.alerts:read")).await, VerifyCode::Valid);
    n.clock.advance(Duration::days(1) + Duration::seconds(1));
    assert_eq!(n.code(issued.secret.expose(), None).await, VerifyCode::Expired);
    let read = n.access(&alice, KeyAction::Read);
    let view = n.keyward.get_key(&read, &issued.view.key.id).await.unwrap();
    assert_eq!(view.status.as_str(), "expired");
    assert_eq!(view.remaining_days, Some(0));
    // Regenerate restarts the lifetime from now.
    let again = n.keyward.regenerate_key(&issue, &issued.view.key.id, &RequestContext::default()).await.unwrap();
    assert_eq!(n.code(again.secret.expose(), None).await, VerifyCode::Valid);
    assert_eq!(n.code(issued.secret.expose(), None).await, VerifyCode::NotFound);
}

#[tokio::test]
async fn refresh_grace_ends_on_the_clock_and_on_a_second_refresh() {
    let n = node().await;
    let alice = n.admin("alice@example.com", &["events.*:write"]).await;
    let issue = n.access(&alice, KeyAction::Issue);
    let ctx = RequestContext::default();
    let first = n.keyward.create_key(&issue, key("k", &[], None), &ctx).await.unwrap();
    let id = first.view.key.id.clone();
    let second = n.keyward.refresh_key(&issue, &id, Some(60), &ctx).await.unwrap();
    assert_eq!(n.code(first.secret.expose(), None).await, VerifyCode::Valid);
    assert_eq!(n.code(second.secret.expose(), None).await, VerifyCode::Valid);
    n.clock.advance(Duration::seconds(61));
    assert_eq!(n.code(first.secret.expose(), None).await, VerifyCode::NotFound);
    let third = n.keyward.refresh_key(&issue, &id, Some(600), &ctx).await.unwrap();
    let fourth = n.keyward.refresh_key(&issue, &id, Some(600), &ctx).await.unwrap();
    assert_eq!(n.code(second.secret.expose(), None).await, VerifyCode::NotFound);
    assert_eq!(n.code(third.secret.expose(), None).await, VerifyCode::Valid, "within its grace");
    n.keyward.revoke_key(&n.access(&alice, KeyAction::Manage), &id, &ctx).await.unwrap();
    assert_eq!(n.code(third.secret.expose(), None).await, VerifyCode::NotFound, "revoking ends every grace");
    assert_eq!(n.code(fourth.secret.expose(), None).await, VerifyCode::Revoked);
    assert!(matches!(n.keyward.refresh_key(&issue, &id, None, &ctx).await, Err(ServiceError::Conflict(_))));
}

#[tokio::test]
async fn cached_verdicts_follow_every_write_at_once() {
    let n = node().await;
    let alice = n.admin("alice@example.com", &["events.*:write"]).await;
    let ctx = RequestContext::default();
    let issued = n
        .keyward
        .create_key(&n.access(&alice, KeyAction::Issue), key("k", &["events.*:write"], None), &ctx)
        .await
        .unwrap();
    let secret = issued.secret.expose();
    let id = issued.view.key.id.clone();
    assert_eq!(n.code(secret, Some("events.alerts:write")).await, VerifyCode::Valid);

    // Narrowing the key's own grants.
    let patch = KeyPatch { grants: Some(vec![GrantInput::Bare("events.alerts:read".into())]), ..Default::default() };
    n.keyward.update_key(&n.access(&alice, KeyAction::Manage), &id, patch, &ctx).await.unwrap();
    assert_eq!(n.code(secret, Some("events.alerts:write")).await, VerifyCode::InsufficientPermission);

    // Narrowing the owner's permissions narrows the key (rule 4), and disabling the owner stops it.
    let root = n.principal("root@example.com", "root-password").await;
    let manage = authorize_admin_management(&root).unwrap();
    let alice_id: AdminId = alice.admin.id.clone();
    let patch = AdminPatch { permissions: Some(vec![GrantInput::Bare("clients.*:read".into())]), ..Default::default() };
    n.keyward.update_admin(&manage, &alice_id, patch, &ctx).await.unwrap();
    assert_eq!(n.code(secret, Some("events.alerts:read")).await, VerifyCode::InsufficientPermission);
    n.keyward
        .update_admin(&manage, &alice_id, AdminPatch { disabled: Some(true), ..Default::default() }, &ctx)
        .await
        .unwrap();
    assert_eq!(n.code(secret, None).await, VerifyCode::OwnerDisabled);
    assert!(n.keyward.authenticate(secret, &ctx).await.is_err(), "a disabled owner's key authenticates nothing");
    n.keyward
        .update_admin(&manage, &alice_id, AdminPatch { disabled: Some(false), ..Default::default() }, &ctx)
        .await
        .unwrap();
    assert_eq!(n.code(secret, None).await, VerifyCode::Valid);

    // Deleting the owner revokes the key, with an audit record per key.
    n.keyward.delete_admin(&manage, &alice_id, &ctx).await.unwrap();
    assert_eq!(n.code(secret, None).await, VerifyCode::Revoked);
    let logs = authorize_logs(&root).unwrap();
    let search = LogSearch { key_ids: vec![id.to_string()], action: Some("key.revoked".into()), ..Default::default() };
    assert_eq!(n.keyward.search_logs(&logs, search).await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn concurrent_changes_to_one_key_are_all_applied() {
    let n = node().await;
    let alice = n.admin("alice@example.com", &["events.*:write"]).await;
    let ctx = RequestContext::default();
    let issued = n.keyward.create_key(&n.access(&alice, KeyAction::Issue), key("k", &[], None), &ctx).await.unwrap();
    let id: KeyId = issued.view.key.id.clone();
    let manage = n.access(&alice, KeyAction::Manage);
    let issue = n.access(&alice, KeyAction::Issue);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (k, m, id) = (n.keyward.clone(), manage.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let patch = KeyPatch { networks: Some(vec![format!("10.0.0.{i}")]), ..Default::default() };
            k.update_key(&m, &id, patch, &RequestContext::default()).await.map(|_| ())
        }));
    }
    let (k, iss, id2) = (n.keyward.clone(), issue.clone(), id.clone());
    let refresh = tokio::spawn(async move { k.refresh_key(&iss, &id2, None, &RequestContext::default()).await });
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let refreshed = refresh.await.unwrap().unwrap();
    let view = n.keyward.get_key(&n.access(&alice, KeyAction::Read), &id).await.unwrap();
    assert_eq!(view.key.version, 1 + 8 + 1, "every change landed on its own version");
    assert!(view.key.secret_hash == refreshed.view.key.secret_hash || view.key.version > refreshed.view.key.version);
    let logs = authorize_logs(&alice).unwrap();
    let search = LogSearch { key_ids: vec![id.to_string()], kind: Some("audit".into()), ..Default::default() };
    assert_eq!(n.keyward.search_logs(&logs, search).await.unwrap().items.len(), 1 + 8 + 1);
}

#[tokio::test]
async fn another_admins_key_is_indistinguishable_from_a_missing_one() {
    let n = node().await;
    let alice = n.admin("alice@example.com", &["events.*:write"]).await;
    let bob = n.admin("bob@example.com", &["events.*:write"]).await;
    let ctx = RequestContext::default();
    let issued = n.keyward.create_key(&n.access(&alice, KeyAction::Issue), key("same", &[], None), &ctx).await.unwrap();
    let id = issued.view.key.id.clone();
    let as_bob = n.access(&bob, KeyAction::Manage);
    assert!(matches!(n.keyward.get_key(&as_bob, &id).await, Err(ServiceError::NotFound(_))));
    assert!(matches!(n.keyward.revoke_key(&as_bob, &id, &ctx).await, Err(ServiceError::NotFound(_))));
    // Names are unique per owner only: Bob may use Alice's key name.
    n.keyward.create_key(&n.access(&bob, KeyAction::Issue), key("same", &[], None), &ctx).await.unwrap();
    let clash = n.keyward.create_key(&n.access(&alice, KeyAction::Issue), key("same", &[], None), &ctx).await;
    assert!(matches!(clash, Err(ServiceError::Conflict(_))));
    // Bob's log search for Alice's key finds nothing.
    let search = LogSearch { key_ids: vec![id.to_string()], ..Default::default() };
    assert!(n.keyward.search_logs(&authorize_logs(&bob).unwrap(), search).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn malformed_keys_never_reach_the_store() {
    let n = node().await;
    // A key id that exists, embedded in a secret whose checksum is wrong, answers not_found
    // exactly like garbage, and leaves the cache untouched (no lookup happened).
    let alice = n.admin("alice@example.com", &["events.*:write"]).await;
    let issued = n
        .keyward
        .create_key(&n.access(&alice, KeyAction::Issue), key("k", &[], None), &RequestContext::default())
        .await
        .unwrap();
    let s = issued.secret.expose();
    let bad = format!("{}{}", &s[..s.len() - 1], if s.ends_with('A') { 'B' } else { 'A' });
    for input in [bad.as_str(), "", "kw_x", &s[..s.len() - 3]] {
        assert_eq!(n.code(input, None).await, VerifyCode::NotFound);
    }
    assert_eq!(n.keyward.cached_keys(), 0, "the store was not read for malformed input");
    assert_eq!(n.code(s, None).await, VerifyCode::Valid);
    assert_eq!(n.keyward.cached_keys(), 1);
    // Once the key is cached, its checksum is left to the hash comparison: the same answer.
    assert_eq!(n.code(&bad, None).await, VerifyCode::NotFound);
}

#[tokio::test]
async fn only_the_keys_own_secret_passes_before_and_after_it_was_proven() {
    use keyward_domain::secret::generate_secret;
    use rand::SeedableRng as _;
    let n = node().await;
    let (alice, issued) = alerts_reader(&n).await;
    let (id, s) = (issued.view.key.id.clone(), issued.secret.expose().to_owned());
    // Well-formed secrets of the same key id (valid checksums), which are not its secret.
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let forged: Vec<String> =
        (0..3).map(|_| generate_secret(&mut rng, &n.keyward.config().key_prefix, &id).expose().to_owned()).collect();
    for f in &forged {
        assert_eq!(n.code(f, None).await, VerifyCode::NotFound, "before the secret was proven");
    }
    for _ in 0..3 {
        // The first check proves the secret (the snapshot remembers it); the others use that.
        assert_eq!(n.code(&s, Some("events.alerts:read")).await, VerifyCode::Valid);
        assert_eq!(n.code(&format!("{id}:{s}"), None).await, VerifyCode::Valid);
        for f in &forged {
            assert_eq!(n.code(f, None).await, VerifyCode::NotFound, "after the secret was proven");
        }
    }
    // A refresh makes a new snapshot: the old secret is accepted in its grace period, the new
    // one is, and neither is mistaken for the other.
    let ctx = RequestContext::default();
    let renewed = n.keyward.refresh_key(&n.access(&alice, KeyAction::Issue), &id, Some(60), &ctx).await.unwrap();
    for _ in 0..3 {
        assert_eq!(n.code(renewed.secret.expose(), None).await, VerifyCode::Valid);
        assert_eq!(n.code(&s, None).await, VerifyCode::Valid, "within its grace");
        assert_eq!(n.code(&forged[0], None).await, VerifyCode::NotFound);
    }
    n.clock.advance(Duration::seconds(61));
    assert_eq!(n.code(&s, None).await, VerifyCode::NotFound, "after its grace");
    assert_eq!(n.code(renewed.secret.expose(), None).await, VerifyCode::Valid);
}

#[tokio::test]
async fn a_full_usage_log_drops_records_and_counts_them_but_never_blocks_verification() {
    // No background writer runs here, so the pending set only fills: 100 checks for 100
    // different targets are 100 distinct records, and only 10 may wait.
    let n = node_with(|c| c.usage_queue_capacity = 10).await;
    let (alice, issued) = alerts_reader(&n).await;
    let permission = "events.alerts:read".parse().unwrap();
    for i in 0..100 {
        let target = format!("acct-{i}");
        let q = VerifyQuery {
            key: issued.secret.expose(),
            permission: Some(&permission),
            target: Some(&target),
            client_ip: None,
            request: None,
        };
        let verdict = n.keyward.check(q, Channel::Verify).await.unwrap();
        assert_eq!(verdict.code, VerifyCode::Valid);
    }
    let m = n.keyward.metrics();
    assert_eq!((m.usage_queue_depth, m.usage_dropped), (10, 90));
    assert_eq!(m.verifications.iter().find(|(c, _)| *c == "valid").unwrap().1, 100);
    // Audit records never go through the usage log: changes are still recorded.
    n.keyward
        .revoke_key(&n.access(&alice, KeyAction::Manage), &issued.view.key.id, &RequestContext::default())
        .await
        .unwrap();
    let search =
        LogSearch { key_ids: vec![issued.view.key.id.to_string()], kind: Some("audit".into()), ..Default::default() };
    assert_eq!(n.keyward.search_logs(&authorize_logs(&alice).unwrap(), search).await.unwrap().items.len(), 2);
    // The pending records are written on flush: the first ten targets.
    n.keyward.flush_usage().await;
    assert_eq!(n.keyward.metrics().usage_written, 10);
    let search =
        LogSearch { key_ids: vec![issued.view.key.id.to_string()], kind: Some("usage".into()), ..Default::default() };
    let mut targets: Vec<String> = n
        .keyward
        .search_logs(&authorize_logs(&alice).unwrap(), search)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.target.unwrap())
        .collect();
    targets.sort();
    let mut expected: Vec<String> = (0..10).map(|i| format!("acct-{i}")).collect();
    expected.sort();
    assert_eq!(targets, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_checks_share_one_pending_record_per_thread_so_a_small_log_never_drops_them() {
    // Each thread keeps its own share of the pending records: 4 worker threads and the denied
    // check are at most 5 pending records, whatever the number of checks.
    let n = node_with(|c| c.usage_queue_capacity = 5).await;
    let (alice, issued) = alerts_reader(&n).await;
    let permission = "events.alerts:read".parse().unwrap();
    let client_ip = Some("203.0.113.9".parse().unwrap());
    // Load the key's snapshot first (`verify` logs nothing): tasks that all missed the cache at
    // once would each load a snapshot of their own, and records are per snapshot.
    let q = VerifyQuery { key: issued.secret.expose(), permission: None, target: None, client_ip, request: None };
    assert_eq!(n.keyward.verify(q).await.unwrap().code, VerifyCode::Valid);
    // Checks from several threads land in several shards; the writer merges them.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let keyward = n.keyward.clone();
        let secret = issued.secret.expose().to_owned();
        let permission: keyward_domain::permission::Permission = "events.alerts:read".parse().unwrap();
        tasks.push(tokio::spawn(async move {
            for _ in 0..250 {
                let q =
                    VerifyQuery { key: &secret, permission: Some(&permission), target: None, client_ip, request: None };
                assert_eq!(keyward.check(q, Channel::ForwardAuth).await.unwrap().code, VerifyCode::Valid);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let q = VerifyQuery { key: "kw_nope", permission: Some(&permission), target: None, client_ip, request: None };
    assert_eq!(n.keyward.check(q, Channel::ForwardAuth).await.unwrap().code, VerifyCode::NotFound);
    let m = n.keyward.metrics();
    assert_eq!(m.usage_dropped, 0);
    assert!((2..=5).contains(&m.usage_queue_depth), "{}", m.usage_queue_depth);
    n.keyward.flush_usage().await;
    assert_eq!(n.keyward.metrics().usage_written, 1001);
    let search =
        LogSearch { key_ids: vec![issued.view.key.id.to_string()], kind: Some("usage".into()), ..Default::default() };
    let items = n.keyward.search_logs(&authorize_logs(&alice).unwrap(), search).await.unwrap().items;
    assert_eq!(items.len(), 1, "one record for 1,000 identical checks");
    assert_eq!(items[0].details.as_ref().unwrap()["count"], 1000);
    assert_eq!(items[0].client_ip.as_deref(), Some("203.0.113.9"));
    let view = n.keyward.get_key(&n.access(&alice, KeyAction::Read), &issued.view.key.id).await.unwrap();
    assert_eq!(view.key.use_count, 1000);
    assert_eq!(view.key.last_used_ip.as_deref(), Some("203.0.113.9"));
}

#[tokio::test]
async fn checks_are_logged_and_move_last_use_only_when_they_succeed() {
    let n = node().await;
    let alice = n.admin("alice@example.com", &["events.*:write"]).await;
    let ctx = RequestContext::default();
    let issued = n
        .keyward
        .create_key(&n.access(&alice, KeyAction::Issue), key("k", &["events.alerts:read"], None), &ctx)
        .await
        .unwrap();
    let id = issued.view.key.id.clone();
    let read = "events.alerts:read".parse().unwrap();
    let write = "events.alerts:write".parse().unwrap();
    let ip = Some("203.0.113.7".parse().unwrap());
    let check = |permission, target| VerifyQuery {
        key: issued.secret.expose(),
        permission,
        target,
        client_ip: ip,
        request: None,
    };
    n.keyward.check(check(Some(&write), None), Channel::Verify).await.unwrap();
    n.keyward.flush_usage().await;
    let view = n.keyward.get_key(&n.access(&alice, KeyAction::Read), &id).await.unwrap();
    assert_eq!((view.key.use_count, view.key.last_used_at), (0, None), "a denied check is not a use");
    n.clock.advance(Duration::seconds(5));
    n.keyward.check(check(Some(&read), Some("acct-9")), Channel::ForwardAuth).await.unwrap();
    n.keyward.flush_usage().await;
    let view = n.keyward.get_key(&n.access(&alice, KeyAction::Read), &id).await.unwrap();
    assert_eq!(view.key.use_count, 1);
    assert_eq!(view.key.last_used_ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(view.key.last_used_at, Some(n.keyward.now()));
    let search = LogSearch { key_ids: vec![id.to_string()], kind: Some("usage".into()), ..Default::default() };
    let records = n.keyward.search_logs(&authorize_logs(&alice).unwrap(), search).await.unwrap().items;
    let seen: Vec<_> = records
        .iter()
        .map(|r| (r.action.as_str(), r.code.as_deref(), r.permission.as_deref(), r.target.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("forward_auth", Some("valid"), Some("events.alerts:read"), Some("acct-9")),
            ("key.verified", Some("insufficient_permission"), Some("events.alerts:write"), None),
        ]
    );
    assert!(records.iter().all(|r| r.node.is_some() && r.client_ip.as_deref() == Some("203.0.113.7")));
    // Retention: after usage_retention_days the records go; the audit record of the key stays.
    n.clock.advance(Duration::days(i64::from(n.keyward.config().usage_retention_days) + 1));
    assert_eq!(n.keyward.prune_usage().await, 2);
    let all = LogSearch { key_ids: vec![id.to_string()], ..Default::default() };
    let left = n.keyward.search_logs(&authorize_logs(&alice).unwrap(), all).await.unwrap().items;
    assert_eq!(left.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(), ["key.created"]);
}

#[tokio::test]
async fn identical_checks_written_in_one_batch_share_a_record_with_their_count() {
    let n = node().await;
    let alice = n.admin("alice@example.com", &["events.*:write"]).await;
    let ctx = RequestContext::default();
    let issued = n
        .keyward
        .create_key(&n.access(&alice, KeyAction::Issue), key("k", &["events.alerts:read"], None), &ctx)
        .await
        .unwrap();
    let read = "events.alerts:read".parse().unwrap();
    let first = n.keyward.now();
    let (a, b) = ("203.0.113.7".parse().unwrap(), "198.51.100.1".parse().unwrap());
    for i in 0..7 {
        let client_ip = Some(if i == 3 || i == 5 { b } else { a });
        let q = VerifyQuery {
            key: issued.secret.expose(),
            permission: Some(&read),
            target: None,
            client_ip,
            request: None,
        };
        n.keyward.check(q, Channel::Verify).await.unwrap();
        n.clock.advance(Duration::seconds(1));
    }
    // No background writer runs here: the seven checks are one batch for the flush.
    n.keyward.flush_usage().await;
    let id = issued.view.key.id.clone();
    let search = LogSearch { key_ids: vec![id.to_string()], kind: Some("usage".into()), ..Default::default() };
    let records = n.keyward.search_logs(&authorize_logs(&alice).unwrap(), search).await.unwrap().items;
    let mut seen: Vec<_> = records
        .iter()
        .map(|r| {
            let count = r.details.as_ref().unwrap()["count"].as_u64().unwrap();
            (r.client_ip.clone().unwrap(), count, r.time.timestamp_millis())
        })
        .collect();
    seen.sort();
    let at = |s: i64| (first + Duration::seconds(s)).timestamp_millis();
    assert_eq!(seen, [("198.51.100.1".to_string(), 2, at(5)), ("203.0.113.7".to_string(), 5, at(6))]);
    let from_a = records.iter().find(|r| r.client_ip.as_deref() == Some("203.0.113.7")).unwrap();
    assert_eq!(
        from_a.details.as_ref().unwrap()["first_at"],
        first.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    let view = n.keyward.get_key(&n.access(&alice, KeyAction::Read), &id).await.unwrap();
    assert_eq!((view.key.use_count, view.key.last_used_ip.as_deref()), (7, Some("203.0.113.7")));
    assert_eq!(n.keyward.metrics().usage_written, 7, "the metric counts checks, not rows");
}

#[tokio::test]
async fn usage_logging_can_be_switched_off() {
    let n = node_with(|c| c.usage_log = false).await;
    let alice = n.admin("alice@example.com", &["events.*:write"]).await;
    let issued = n
        .keyward
        .create_key(&n.access(&alice, KeyAction::Issue), key("k", &[], None), &RequestContext::default())
        .await
        .unwrap();
    let q = VerifyQuery { key: issued.secret.expose(), permission: None, target: None, client_ip: None, request: None };
    assert_eq!(n.keyward.check(q, Channel::Verify).await.unwrap().code, VerifyCode::Valid);
    assert_eq!(n.keyward.metrics().usage_queue_depth, 0);
}

#[tokio::test]
async fn a_full_cache_evicts_and_evicted_keys_are_read_from_the_store_again() {
    let n = node_with(|c| c.cache_capacity = 3).await;
    let alice = n.admin("alice@example.com", &["events.*:write"]).await;
    let ctx = RequestContext::default();
    let mut issued = Vec::new();
    for i in 0..12 {
        issued.push(
            n.keyward
                .create_key(
                    &n.access(&alice, KeyAction::Issue),
                    key(&format!("k{i}"), &["events.alerts:read"], None),
                    &ctx,
                )
                .await
                .unwrap(),
        );
    }
    for round in 0..3 {
        for k in &issued {
            assert_eq!(n.code(k.secret.expose(), None).await, VerifyCode::Valid, "round {round}");
            assert!(n.keyward.cached_keys() <= 3, "{} keys cached", n.keyward.cached_keys());
        }
    }
    // A key that left the cache is still revoked at once: its next check reads the store.
    n.keyward.revoke_key(&n.access(&alice, KeyAction::Manage), &issued[0].view.key.id, &ctx).await.unwrap();
    assert_eq!(n.code(issued[0].secret.expose(), None).await, VerifyCode::Revoked);
    let m = n.keyward.metrics();
    assert!(m.cache_misses >= 12, "evicted keys were loaded again: {} misses", m.cache_misses);
}
