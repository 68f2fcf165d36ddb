//! Encoding of domain values into the columns every backend shares: JSON for privileges,
//! grants and networks, milliseconds for times, and the audit hash chain.
//!
//! Backend modules call these so that a PostgreSQL backend stores exactly what SQLite does.

use crate::{LogRecord, StoreError};
use chrono::{DateTime, Utc};
use keyward_domain::catalog::RoleAssignment;
use keyward_domain::key::Privileges;
use keyward_domain::permission::{Grant, Targets};
use keyward_domain::policy::Actor;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored {what} cannot be read: {e}"))
}

pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn time(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt("time", ms))
}

pub(crate) fn opt_time(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(time).transpose()
}

#[derive(Serialize, Deserialize)]
struct GrantRepr {
    permission: String,
    targets: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct RoleRepr {
    role: String,
    targets: Vec<String>,
    targets_given: bool,
}

#[derive(Serialize, Deserialize)]
struct PrivilegesRepr {
    roles: Vec<RoleRepr>,
    grants: Vec<GrantRepr>,
    inherit: bool,
}

fn grant_repr(g: &Grant) -> GrantRepr {
    GrantRepr { permission: g.permission.to_string(), targets: g.targets.to_list() }
}

fn grant_from(r: GrantRepr) -> Result<Grant, StoreError> {
    Ok(Grant {
        permission: r.permission.parse().map_err(|e: String| corrupt("permission", e))?,
        targets: Targets::from_list(Some(r.targets)).map_err(|e| corrupt("targets", e))?,
    })
}

pub(crate) fn encode_grants(grants: &[Grant]) -> String {
    serde_json::to_string(&grants.iter().map(grant_repr).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn decode_grants(json: &str) -> Result<Vec<Grant>, StoreError> {
    let reprs: Vec<GrantRepr> = serde_json::from_str(json).map_err(|e| corrupt("grants", e))?;
    reprs.into_iter().map(grant_from).collect()
}

pub(crate) fn encode_privileges(p: &Privileges) -> String {
    let repr = PrivilegesRepr {
        roles: p
            .roles
            .iter()
            .map(|r| RoleRepr { role: r.role.clone(), targets: r.targets.to_list(), targets_given: r.targets_given })
            .collect(),
        grants: p.grants.iter().map(grant_repr).collect(),
        inherit: p.inherit,
    };
    serde_json::to_string(&repr).unwrap_or_else(|_| "{}".into())
}

pub(crate) fn decode_privileges(json: &str) -> Result<Privileges, StoreError> {
    let repr: PrivilegesRepr = serde_json::from_str(json).map_err(|e| corrupt("privileges", e))?;
    let roles = repr
        .roles
        .into_iter()
        .map(|r| {
            Ok(RoleAssignment {
                role: r.role,
                targets: Targets::from_list(Some(r.targets)).map_err(|e| corrupt("role targets", e))?,
                targets_given: r.targets_given,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let grants = repr.grants.into_iter().map(grant_from).collect::<Result<Vec<_>, _>>()?;
    Ok(Privileges { roles, grants, inherit: repr.inherit })
}

pub(crate) fn encode_networks(n: &[ipnet::IpNet]) -> String {
    serde_json::to_string(&n.iter().map(ToString::to_string).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn decode_networks(json: &str) -> Result<Vec<ipnet::IpNet>, StoreError> {
    let list: Vec<String> = serde_json::from_str(json).map_err(|e| corrupt("networks", e))?;
    list.iter().map(|s| s.parse().map_err(|e| corrupt("network", e))).collect()
}

/// `(type, id, email)` columns of an actor.
pub(crate) fn actor_columns(a: &Actor) -> (&'static str, Option<String>, Option<String>) {
    match a {
        Actor::Admin { id, email } => ("admin", Some(id.to_string()), Some(email.clone())),
        Actor::Key { id, owner_email } => ("key", Some(id.to_string()), Some(owner_email.clone())),
        Actor::System => ("system", None, None),
    }
}

pub(crate) fn actor_from(kind: &str, id: Option<String>, email: Option<String>) -> Actor {
    match (kind, id) {
        ("admin", Some(id)) => {
            Actor::Admin { id: keyward_domain::ids::AdminId::from_string(id), email: email.unwrap_or_default() }
        }
        ("key", Some(id)) => {
            Actor::Key { id: keyward_domain::ids::KeyId::from_string(id), owner_email: email.unwrap_or_default() }
        }
        _ => Actor::System,
    }
}

/// Audit records are read back for chain verification in batches of this many.
pub(crate) const CHAIN_BATCH: i64 = 1000;

/// Checks one link of the audit chain: that the record points at its predecessor's hash
/// (nothing removed or inserted before it) and that its own hash matches its content (not
/// altered). `expected_prev` is the predecessor's stored hash (`None` for the first record).
pub(crate) fn check_link(
    position: u64,
    expected_prev: Option<&[u8]>,
    stored_prev: Option<&[u8]>,
    stored_hash: Option<&[u8]>,
    record: &LogRecord,
) -> Option<crate::ChainBreak> {
    let broken =
        |reason: &str| Some(crate::ChainBreak { position, record_id: record.id.clone(), reason: reason.into() });
    if stored_prev != expected_prev {
        return broken("does not follow the previous record: a record before it was removed or inserted");
    }
    if stored_hash != Some(chain_hash(expected_prev, record).as_slice()) {
        return broken("its content does not match its hash: it was altered");
    }
    None
}

/// The hash of an audit record chained to its predecessor's hash: SHA-256 over the previous
/// hash and every field, each length-prefixed so no two records can encode alike.
pub(crate) fn chain_hash(prev: Option<&[u8]>, r: &LogRecord) -> Vec<u8> {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(prev.unwrap_or_default());
    let (actor_type, actor_id, actor_email) = actor_columns(&r.actor);
    let details = r.details.as_ref().map(|d| d.to_string());
    for part in [
        Some(r.id.as_str()),
        Some(&millis(r.time).to_string()),
        Some(r.kind.as_str()),
        Some(r.action.as_str()),
        r.key_id.as_ref().map(|k| k.as_str()),
        r.key_owner_id.as_ref().map(|k| k.as_str()),
        r.subject_admin_id.as_ref().map(|k| k.as_str()),
        Some(actor_type),
        actor_id.as_deref(),
        actor_email.as_deref(),
        r.client_ip.as_deref(),
        r.code.as_deref(),
        r.permission.as_deref(),
        details.as_deref(),
    ] {
        match part {
            Some(s) => field(s.as_bytes()),
            None => field(b"\xff"),
        }
    }
    // Fields added later are hashed only when present, so earlier chains still verify.
    for part in [r.target.as_deref(), r.node.as_deref()].into_iter().flatten() {
        field(part.as_bytes());
    }
    h.finalize().to_vec()
}
