//! The authorization rules of SPEC §1 "Administrators", decided in one place.
//!
//! Every privileged service call takes a proof value ([`KeyAccess`], [`AdminManagement`],
//! [`LogAccess`]) that only the functions of this module can make, so a handler cannot reach a
//! privileged operation without going through the rules. Ownership is expressed as a
//! [`Visibility`] that storage queries apply, which is why another admin's key is answered
//! exactly like a key that does not exist.

use crate::admin::{Admin, AdminRole};
use crate::catalog::Catalog;
use crate::ids::{AdminId, KeyId};
use crate::key::Privileges;
use crate::permission::{covered_by, Access, Grant, Permission};
use crate::ValidationError;

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A login session of the admin.
    Session,
    /// An API key acting as its owner, limited to its effective grants.
    ApiKey { key_id: KeyId, grants: Vec<Grant> },
}

/// An authenticated caller: the admin (for a key, its owner) as they are now, and how they
/// authenticated.
#[derive(Debug, Clone)]
pub struct Principal {
    pub admin: Admin,
    pub credential: Credential,
}

/// Who did something, as audit records name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Admin {
        id: AdminId,
        email: String,
    },
    Key {
        id: KeyId,
        owner_email: String,
    },
    /// The command line acting directly on the database, or the server itself (bootstrap).
    System,
}

impl Principal {
    pub fn actor(&self) -> Actor {
        match &self.credential {
            Credential::Session => Actor::Admin { id: self.admin.id.clone(), email: self.admin.email.clone() },
            Credential::ApiKey { key_id, .. } => {
                Actor::Key { id: key_id.clone(), owner_email: self.admin.email.clone() }
            }
        }
    }

    fn is_superadmin(&self) -> bool {
        self.admin.role == AdminRole::Superadmin
    }

    /// For key credentials, whether the key itself holds `keyward.<resource>:<access>`.
    fn key_holds(&self, resource: &str, access: Access) -> bool {
        match &self.credential {
            Credential::Session => true,
            Credential::ApiKey { grants, .. } => crate::permission::allows(
                grants,
                &Permission::new(crate::catalog::KEYWARD_SCOPE, resource, access),
                None,
            ),
        }
    }
}

/// Which keys (and their records) a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    All,
    OwnedBy(AdminId),
}

impl Visibility {
    pub fn can_see(&self, owner: &AdminId) -> bool {
        match self {
            Visibility::All => true,
            Visibility::OwnedBy(id) => id == owner,
        }
    }
}

/// A refusal: `403 forbidden` with this explanation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// Configurable parts of the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PolicySettings {
    pub superadmin_can_issue_keys: bool,
}

/// What the caller wants to do with keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    /// List, show, stats.
    Read,
    /// Update, revoke, delete.
    Manage,
    /// Create, refresh, regenerate: anything that yields a secret.
    Issue,
}

/// Proof that the caller may act on keys, and on which.
#[derive(Debug, Clone)]
pub struct KeyAccess {
    visibility: Visibility,
    /// The admin acting: for a key credential, its owner. New keys belong to them.
    acting: Admin,
    actor: Actor,
}

impl KeyAccess {
    pub fn visibility(&self) -> &Visibility {
        &self.visibility
    }
    pub fn acting_admin(&self) -> &Admin {
        &self.acting
    }
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

/// Rules 1–3: superadmins see everything but never hold a usable secret (by default); admins
/// see only their own keys and need `can_manage_keys`; a key acting for its owner also needs
/// `keyward.keys:read` or `:write` itself.
pub fn authorize_keys(p: &Principal, action: KeyAction, settings: PolicySettings) -> Result<KeyAccess, Denied> {
    let access = if action == KeyAction::Read { Access::Read } else { Access::Write };
    if !p.key_holds("keys", access) {
        return Err(Denied(format!("this API key lacks the permission keyward.keys:{}", access.as_str())));
    }
    let visibility = if p.is_superadmin() {
        match action {
            KeyAction::Read | KeyAction::Manage => Visibility::All,
            KeyAction::Issue if settings.superadmin_can_issue_keys => Visibility::OwnedBy(p.admin.id.clone()),
            KeyAction::Issue => {
                return Err(Denied(
                    "a superadmin cannot create, refresh or regenerate keys (policy superadmin_can_issue_keys = false)"
                        .into(),
                ))
            }
        }
    } else {
        if !p.admin.can_manage_keys {
            return Err(Denied("this administrator does not have the API keys permission (can_manage_keys)".into()));
        }
        Visibility::OwnedBy(p.admin.id.clone())
    };
    Ok(KeyAccess { visibility, acting: p.admin.clone(), actor: p.actor() })
}

/// Proof that the caller may manage administrators.
#[derive(Debug, Clone)]
pub struct AdminManagement {
    actor: Actor,
    acting_id: AdminId,
}

impl AdminManagement {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
    pub fn acting_id(&self) -> &AdminId {
        &self.acting_id
    }
    /// The command line working directly on the database is trusted like a superadmin: whoever
    /// can read the database file already holds everything.
    pub fn local_operator() -> Self {
        AdminManagement { actor: Actor::System, acting_id: AdminId::from_string("") }
    }
}

/// Only a superadmin, logged in (not through an API key), manages administrators.
pub fn authorize_admin_management(p: &Principal) -> Result<AdminManagement, Denied> {
    match (&p.credential, p.is_superadmin()) {
        (Credential::Session, true) => Ok(AdminManagement { actor: p.actor(), acting_id: p.admin.id.clone() }),
        (Credential::Session, false) => Err(Denied("only a superadmin manages administrators".into())),
        (Credential::ApiKey { .. }, _) => {
            Err(Denied("administrators are managed by a logged-in superadmin, not by API keys".into()))
        }
    }
}

/// Proof that the caller may change their own account (their password), whatever their role.
#[derive(Debug, Clone)]
pub struct OwnAccount {
    actor: Actor,
    admin_id: AdminId,
}

impl OwnAccount {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
    /// The administrator whose account this is: always the caller.
    pub fn admin_id(&self) -> &AdminId {
        &self.admin_id
    }
}

/// Any administrator, logged in, may change their own password; an API key may not change its
/// owner's (a leaked key must not be able to take over the account).
pub fn authorize_own_account(p: &Principal) -> Result<OwnAccount, Denied> {
    match &p.credential {
        Credential::Session => Ok(OwnAccount { actor: p.actor(), admin_id: p.admin.id.clone() }),
        Credential::ApiKey { .. } => Err(Denied("an API key cannot change its owner's password; log in".into())),
    }
}

/// Proof that the caller may list and rotate the instance's token-signing keys.
#[derive(Debug, Clone)]
pub struct SigningKeyManagement {
    actor: Actor,
}

impl SigningKeyManagement {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

/// Only a superadmin, logged in (not through an API key), manages the signing keys: they sign
/// every access token of the instance.
pub fn authorize_signing_keys(p: &Principal) -> Result<SigningKeyManagement, Denied> {
    match (&p.credential, p.is_superadmin()) {
        (Credential::Session, true) => Ok(SigningKeyManagement { actor: p.actor() }),
        (Credential::Session, false) => Err(Denied("only a superadmin manages the token-signing keys".into())),
        (Credential::ApiKey { .. }, _) => {
            Err(Denied("the token-signing keys are managed by a logged-in superadmin, not by API keys".into()))
        }
    }
}

/// Proof that the caller may read logs, and whose.
#[derive(Debug, Clone)]
pub struct LogAccess {
    /// `All`, or the records of this admin's keys and this admin's own `auth.*` records.
    pub visibility: Visibility,
}

/// A superadmin sees every record; an admin their own keys' records and their own logins; a key
/// with `keyward.logs:read` what its owner sees.
pub fn authorize_logs(p: &Principal) -> Result<LogAccess, Denied> {
    if !p.key_holds("logs", Access::Read) {
        return Err(Denied("this API key lacks the permission keyward.logs:read".into()));
    }
    let visibility = if p.is_superadmin() { Visibility::All } else { Visibility::OwnedBy(p.admin.id.clone()) };
    Ok(LogAccess { visibility })
}

/// Rule 4 at the moment privileges are given: every grant (roles expanded) must be covered by
/// the owner's permissions. `inherit` is always within them by definition.
pub fn check_no_escalation(owner: &Admin, privileges: &Privileges, catalog: &Catalog) -> Result<(), ValidationError> {
    let Some(grants) = privileges.own_grants(catalog) else {
        return Ok(());
    };
    for g in &grants {
        if !covered_by(g, &owner.permissions) {
            let targets = g.targets.to_list().join(", ");
            return Err(ValidationError::new(
                "grants",
                format!(
                    "{} (targets: {targets}) goes beyond the owner's permissions; a key can only be given what its owner has",
                    g.permission
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::permission::Targets;
    use chrono::Utc;

    fn admin(role: AdminRole, can_manage_keys: bool, perms: &[&str]) -> Admin {
        Admin {
            id: AdminId::from_string(format!("{role:?}")),
            email: "a@example.com".into(),
            name: "A".into(),
            role,
            can_manage_keys,
            permissions: perms.iter().map(|p| Grant::all_targets(p.parse().unwrap())).collect(),
            disabled: false,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            password_hash: String::new(),
        }
    }

    fn session(a: Admin) -> Principal {
        Principal { admin: a, credential: Credential::Session }
    }

    #[test]
    fn superadmin_sees_all_but_cannot_issue_by_default() {
        let p = session(admin(AdminRole::Superadmin, true, &["*:write"]));
        let s = PolicySettings::default();
        assert_eq!(authorize_keys(&p, KeyAction::Read, s).unwrap().visibility(), &Visibility::All);
        assert_eq!(authorize_keys(&p, KeyAction::Manage, s).unwrap().visibility(), &Visibility::All);
        assert!(authorize_keys(&p, KeyAction::Issue, s).is_err());
        let allowed = PolicySettings { superadmin_can_issue_keys: true };
        assert!(authorize_keys(&p, KeyAction::Issue, allowed).is_ok());
        assert!(authorize_admin_management(&p).is_ok());
        assert_eq!(authorize_logs(&p).unwrap().visibility, Visibility::All);
    }

    #[test]
    fn admins_see_their_own_and_need_the_keys_permission() {
        let a = admin(AdminRole::Admin, true, &["events.*:write"]);
        let id = a.id.clone();
        let p = session(a);
        let access = authorize_keys(&p, KeyAction::Issue, PolicySettings::default()).unwrap();
        assert_eq!(access.visibility(), &Visibility::OwnedBy(id.clone()));
        assert!(authorize_admin_management(&p).is_err());
        assert_eq!(authorize_logs(&p).unwrap().visibility, Visibility::OwnedBy(id));
        let without = session(admin(AdminRole::Admin, false, &[]));
        for action in [KeyAction::Read, KeyAction::Manage, KeyAction::Issue] {
            assert!(authorize_keys(&without, action, PolicySettings::default()).is_err());
        }
    }

    #[test]
    fn every_admin_may_change_their_own_password_but_no_api_key_may() {
        for role in [AdminRole::Admin, AdminRole::Superadmin] {
            let a = admin(role, false, &[]);
            let id = a.id.clone();
            assert_eq!(authorize_own_account(&session(a)).unwrap().admin_id(), &id);
        }
        let key = Principal {
            admin: admin(AdminRole::Superadmin, true, &["*:write"]),
            credential: Credential::ApiKey { key_id: KeyId::from_string("k"), grants: vec![] },
        };
        assert!(authorize_own_account(&key).is_err());
    }

    #[test]
    fn api_keys_act_for_their_owner_within_their_own_grants() {
        let owner = admin(AdminRole::Admin, true, &["*:write"]);
        let key = |perms: &[&str]| Principal {
            admin: owner.clone(),
            credential: Credential::ApiKey {
                key_id: KeyId::from_string("k"),
                grants: perms.iter().map(|p| Grant::all_targets(p.parse().unwrap())).collect(),
            },
        };
        let s = PolicySettings::default();
        assert!(authorize_keys(&key(&["keyward.keys:read"]), KeyAction::Read, s).is_ok());
        assert!(authorize_keys(&key(&["keyward.keys:read"]), KeyAction::Manage, s).is_err());
        assert!(authorize_keys(&key(&["keyward.keys:write"]), KeyAction::Issue, s).is_ok());
        assert!(authorize_keys(&key(&["events.alerts:write"]), KeyAction::Read, s).is_err());
        assert!(authorize_logs(&key(&["keyward.keys:write"])).is_err());
        assert!(authorize_logs(&key(&["keyward.*:read"])).is_ok());
        assert!(authorize_admin_management(&key(&["*:write"])).is_err());
    }

    #[test]
    fn no_escalation_beyond_the_owner() {
        let catalog = Catalog::example();
        let owner = admin(AdminRole::Admin, true, &["events.*:write", "accounts.config:read"]);
        let grant = |p: &str| Grant::all_targets(p.parse().unwrap());
        let ok = Privileges::new(vec![], vec![grant("events.alerts:read")], false).unwrap();
        assert!(check_no_escalation(&owner, &ok, &catalog).is_ok());
        let too_much =
            Privileges::new(vec![], vec![grant("events.alerts:read"), grant("policies.rules:read")], false).unwrap();
        let err = check_no_escalation(&owner, &too_much, &catalog).unwrap_err();
        assert!(err.message.contains("policies.rules:read"));
        let roles = catalog
            .parse_roles(vec![crate::catalog::RoleInput {
                role: "cloud_account_viewer".into(),
                targets: Some(vec!["1".into()]),
            }])
            .unwrap();
        let via_role = Privileges::new(roles, vec![], false).unwrap();
        assert!(check_no_escalation(&owner, &via_role, &catalog).is_err(), "accounts.findings is not the owner's");
        let inherit = Privileges::new(vec![], vec![], true).unwrap();
        assert!(check_no_escalation(&owner, &inherit, &catalog).is_ok());
        assert!(Privileges::new(vec![], vec![grant("events.alerts:read")], true).is_err());
        let _ = Targets::All;
    }

    #[test]
    fn effective_permissions_follow_the_owner() {
        let catalog = Catalog::example();
        let grant = |p: &str| Grant::all_targets(p.parse().unwrap());
        let privileges = Privileges::new(vec![], vec![grant("events.*:write")], false).unwrap();
        let owner_now = vec![grant("events.alerts:read")];
        let effective = privileges.effective(&catalog, &owner_now);
        assert_eq!(effective, vec![grant("events.alerts:read")]);
        let inherit = Privileges::new(vec![], vec![], true).unwrap();
        assert_eq!(inherit.effective(&catalog, &owner_now), owner_now);
    }
}
