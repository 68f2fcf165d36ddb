//! The permission catalog: the scopes and resources of the operator's platform, and the roles
//! that bundle permissions.
//!
//! The catalog is configuration, so it is built once at start and shared read-only. It always
//! contains the `keyward` scope (Keyward's own API) and the built-in roles `global_admin` and
//! `global_viewer`; an example catalog ships for a new user to try.

use crate::permission::{Grant, Pattern, Permission, Targets};
use crate::ValidationError;
use serde::{Deserialize, Serialize};

/// A scope and its resources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeDef {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub resources: Vec<String>,
}

/// A named bundle of permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDef {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub permissions: Vec<Permission>,
    /// Every assignment of this role must list targets (or `["*"]`).
    #[serde(default)]
    pub requires_targets: bool,
}

/// One role given to a key, with the targets it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    pub role: String,
    pub targets: Targets,
    /// Whether targets were given explicitly (`requires_targets` roles need them).
    pub targets_given: bool,
}

/// The validated catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    scopes: Vec<ScopeDef>,
    roles: Vec<RoleDef>,
}

/// Keyward's own API as a scope: `keyward.keys`, `keyward.logs`, `keyward.verify`.
pub const KEYWARD_SCOPE: &str = "keyward";

fn scope(name: &str, description: &str, resources: &[&str]) -> ScopeDef {
    ScopeDef {
        name: name.into(),
        description: description.into(),
        resources: resources.iter().map(|r| r.to_string()).collect(),
    }
}

fn role(name: &str, description: &str, permissions: &[&str], requires_targets: bool) -> RoleDef {
    RoleDef {
        name: name.into(),
        description: description.into(),
        permissions: permissions.iter().filter_map(|p| p.parse().ok()).collect(),
        requires_targets,
    }
}

impl Catalog {
    /// The example catalog: the kinds of platform the consoles Keyward replaces protect.
    pub fn example_scopes() -> (Vec<ScopeDef>, Vec<RoleDef>) {
        let scopes = vec![
            scope("events", "Wireless security events and alerts", &["alerts", "events"]),
            scope("clients", "Wireless clients", &["devices"]),
            scope("access_points", "Access points", &["details"]),
            scope("sensors", "Wireless sensors", &["status"]),
            scope("policies", "Secure-access policies", &["destinations", "rules"]),
            scope("users", "Secure-access users", &["identities"]),
            scope("accounts", "Cloud accounts", &["config", "findings"]),
            scope("blacklist", "Firewall blacklist", &["entries"]),
        ];
        let roles =
            vec![role("cloud_account_viewer", "Read access to selected cloud accounts", &["accounts.*:read"], true)];
        (scopes, roles)
    }

    /// The example catalog, as shipped with the default configuration.
    pub fn example() -> Catalog {
        let (scopes, roles) = Self::example_scopes();
        Catalog::new(scopes, roles).unwrap_or_else(|e| unreachable!("the example catalog is valid: {e}"))
    }

    /// Validates an operator's catalog and adds the built-in scope and roles.
    pub fn new(mut scopes: Vec<ScopeDef>, mut roles: Vec<RoleDef>) -> Result<Catalog, String> {
        if scopes.iter().any(|s| s.name == KEYWARD_SCOPE) {
            return Err(format!("scope `{KEYWARD_SCOPE}` is built in and cannot be redefined"));
        }
        scopes.push(scope(KEYWARD_SCOPE, "Keyward's own API", &["keys", "logs", "verify"]));
        for (i, s) in scopes.iter().enumerate() {
            if !crate::permission::is_valid_name(&s.name) {
                return Err(format!("scope name {:?} must be 1 to 64 of [a-z0-9_-]", s.name));
            }
            if scopes[..i].iter().any(|o| o.name == s.name) {
                return Err(format!("scope `{}` is defined twice", s.name));
            }
            if s.resources.is_empty() {
                return Err(format!("scope `{}` has no resources", s.name));
            }
            for (j, r) in s.resources.iter().enumerate() {
                if !crate::permission::is_valid_name(r) {
                    return Err(format!("resource name {r:?} in scope `{}` must be 1 to 64 of [a-z0-9_-]", s.name));
                }
                if s.resources[..j].contains(r) {
                    return Err(format!("resource `{r}` is listed twice in scope `{}`", s.name));
                }
            }
        }
        for builtin in ["global_admin", "global_viewer"] {
            if roles.iter().any(|r| r.name == builtin) {
                return Err(format!("role `{builtin}` is built in and cannot be redefined"));
            }
        }
        roles.insert(0, role("global_admin", "Every permission, read and write", &["*:write"], false));
        roles.insert(1, role("global_viewer", "Every permission, read only", &["*:read"], false));
        let catalog = Catalog { scopes, roles };
        for (i, r) in catalog.roles.iter().enumerate() {
            if !crate::permission::is_valid_name(&r.name) {
                return Err(format!("role name {:?} must be 1 to 64 of [a-z0-9_-]", r.name));
            }
            if catalog.roles[..i].iter().any(|o| o.name == r.name) {
                return Err(format!("role `{}` is defined twice", r.name));
            }
            for p in &r.permissions {
                catalog.check_permission(p).map_err(|e| format!("role `{}`: {e}", r.name))?;
            }
        }
        Ok(catalog)
    }

    pub fn scopes(&self) -> &[ScopeDef] {
        &self.scopes
    }

    pub fn roles(&self) -> &[RoleDef] {
        &self.roles
    }

    pub fn role(&self, name: &str) -> Option<&RoleDef> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// Does the permission name scopes and resources that exist?
    pub fn check_permission(&self, p: &Permission) -> Result<(), String> {
        let Pattern::Name(scope_name) = &p.scope else {
            return Ok(());
        };
        let Some(scope) = self.scopes.iter().find(|s| *scope_name == *s.name) else {
            return Err(format!("unknown scope `{scope_name}` in `{p}`"));
        };
        match &p.resource {
            Pattern::Name(r) if !scope.resources.iter().any(|known| *r == **known) => {
                Err(format!("unknown resource `{r}` in scope `{scope_name}` (`{p}`)"))
            }
            _ => Ok(()),
        }
    }

    /// Parses grants given as input, checking each against the catalog.
    pub fn parse_grants(&self, field: &str, input: Vec<GrantInput>) -> Result<Vec<Grant>, ValidationError> {
        if input.len() > 100 {
            return Err(ValidationError::new(field, "at most 100 grants"));
        }
        input
            .into_iter()
            .enumerate()
            .map(|(i, g)| {
                let at = format!("{field}[{i}]");
                let (permission, targets) = match g {
                    GrantInput::Bare(p) => (p, None),
                    GrantInput::Full { permission, targets } => (permission, targets),
                };
                let permission: Permission =
                    permission.parse().map_err(|e: String| ValidationError::new(format!("{at}.permission"), e))?;
                self.check_permission(&permission).map_err(|e| ValidationError::new(format!("{at}.permission"), e))?;
                let targets = Targets::from_list(targets).map_err(|e| e.within(&at))?;
                Ok(Grant { permission, targets })
            })
            .collect()
    }

    /// Parses role assignments given as input, checking names and `requires_targets`.
    pub fn parse_roles(&self, input: Vec<RoleInput>) -> Result<Vec<RoleAssignment>, ValidationError> {
        if input.len() > 50 {
            return Err(ValidationError::new("roles", "at most 50 roles"));
        }
        input
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let at = format!("roles[{i}]");
                let def = self.role(&r.role).ok_or_else(|| {
                    let known: Vec<&str> = self.roles.iter().map(|r| r.name.as_str()).collect();
                    ValidationError::new(
                        format!("{at}.role"),
                        format!("unknown role {:?}; known roles: {}", r.role, known.join(", ")),
                    )
                })?;
                let targets_given = r.targets.as_ref().is_some_and(|t| !t.is_empty());
                if def.requires_targets && !targets_given {
                    return Err(ValidationError::new(
                        format!("{at}.targets"),
                        format!("role `{}` requires targets: list them, or [\"*\"] for all", def.name),
                    ));
                }
                let targets = Targets::from_list(r.targets).map_err(|e| e.within(&at))?;
                Ok(RoleAssignment { role: r.role, targets, targets_given })
            })
            .collect()
    }

    /// The grants a set of role assignments stands for. Unknown roles (removed from the
    /// configuration since) grant nothing.
    pub fn expand_roles(&self, roles: &[RoleAssignment]) -> Vec<Grant> {
        roles
            .iter()
            .filter_map(|a| self.role(&a.role).map(|def| (a, def)))
            .flat_map(|(a, def)| {
                def.permissions.iter().map(|p| Grant { permission: p.clone(), targets: a.targets.clone() })
            })
            .collect()
    }
}

/// A grant as accepted on input: a bare permission string, or an object with targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GrantInput {
    Bare(String),
    Full {
        permission: String,
        #[serde(default)]
        targets: Option<Vec<String>>,
    },
}

/// A role assignment as accepted on input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    pub role: String,
    #[serde(default)]
    pub targets: Option<Vec<String>>,
}

impl From<&Grant> for GrantInput {
    fn from(g: &Grant) -> Self {
        GrantInput::Full { permission: g.permission.to_string(), targets: Some(g.targets.to_list()) }
    }
}

impl From<&RoleAssignment> for RoleInput {
    fn from(r: &RoleAssignment) -> Self {
        RoleInput { role: r.role.clone(), targets: r.targets_given.then(|| r.targets.to_list()) }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn example_catalog_has_builtins() {
        let c = Catalog::example();
        assert!(c.role("global_admin").is_some());
        assert!(c.role("cloud_account_viewer").unwrap().requires_targets);
        assert!(c.check_permission(&"keyward.verify:read".parse().unwrap()).is_ok());
        assert!(c.check_permission(&"events.alerts:write".parse().unwrap()).is_ok());
        assert!(c.check_permission(&"events.nope:write".parse().unwrap()).is_err());
        assert!(c.check_permission(&"nope.x:write".parse().unwrap()).is_err());
        assert!(c.check_permission(&"*:write".parse().unwrap()).is_ok());
    }

    #[test]
    fn operator_catalog_is_validated() {
        let s = |n: &str| scope(n, "", &["a"]);
        assert!(Catalog::new(vec![s("keyward")], vec![]).is_err());
        assert!(Catalog::new(vec![s("x"), s("x")], vec![]).is_err());
        assert!(Catalog::new(vec![s("x")], vec![role("r", "", &["y.a:read"], false)]).is_err());
        assert!(Catalog::new(vec![s("x")], vec![role("global_admin", "", &["x.a:read"], false)]).is_err());
        assert!(Catalog::new(vec![s("x")], vec![role("r", "", &["x.a:read"], false)]).is_ok());
    }

    #[test]
    fn roles_requiring_targets_need_them() {
        let c = Catalog::example();
        let viewer = |targets: Option<Vec<&str>>| RoleInput {
            role: "cloud_account_viewer".into(),
            targets: targets.map(|t| t.into_iter().map(String::from).collect()),
        };
        assert!(c.parse_roles(vec![viewer(None)]).is_err());
        assert!(c.parse_roles(vec![viewer(Some(vec![]))]).is_err());
        let roles = c.parse_roles(vec![viewer(Some(vec!["*"]))]).unwrap();
        assert_eq!(roles[0].targets, Targets::All);
        let roles = c.parse_roles(vec![viewer(Some(vec!["123"]))]).unwrap();
        let grants = c.expand_roles(&roles);
        assert_eq!(grants.len(), 1);
        assert!(grants[0].allows(&"accounts.config:read".parse().unwrap(), Some("123")));
        assert!(c.parse_roles(vec![RoleInput { role: "nope".into(), targets: None }]).is_err());
    }

    #[test]
    fn grants_are_checked_with_field_names() {
        let c = Catalog::example();
        let err = c
            .parse_grants(
                "grants",
                vec![GrantInput::Bare("events.alerts:read".into()), GrantInput::Bare("zz.y:read".into())],
            )
            .unwrap_err();
        assert_eq!(err.field, "grants[1].permission");
        assert!(err.message.contains("unknown scope"));
    }
}
