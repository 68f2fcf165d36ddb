//! The permission grammar and grants.
//!
//! ```text
//! <scope>.<resource>:<access>     access = read | write   (write implies read)
//! events.alerts:write   policies.*:read   *:read
//! ```
//!
//! A [`Grant`] is a permission with optional targets (resource instances). Two operations carry
//! the authorization model: [`covers`](Permission::covers) (is one permission at least as broad
//! as another?) and [`intersect`](Grant::intersect) (what do two grants allow together?). A key's
//! effective grants are its own intersected with its owner's current ones.

use crate::ids::{inline_words, INLINE_LEN};
use crate::ValidationError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// `read` or `write`; `write` implies `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }

    /// The access an HTTP method needs: `GET`, `HEAD`, `OPTIONS` read; everything else writes.
    pub fn for_method(method: &str) -> Access {
        if ["GET", "HEAD", "OPTIONS"].iter().any(|m| m.eq_ignore_ascii_case(method)) {
            Access::Read
        } else {
            Access::Write
        }
    }
}

impl FromStr for Access {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Access::Read),
            "write" => Ok(Access::Write),
            other => Err(format!("access must be `read` or `write`, not {other:?}")),
        }
    }
}

/// A scope or resource name, compared, ordered, hashed and shown as its text.
///
/// A name of up to 23 bytes (`events`, `alerts`, every name of the default catalog) is held in
/// place, so matching a permission against a key's grants reads no other allocation: with a
/// million keys cached, each name read through a pointer was a cache miss on every check. Its
/// bytes and its length are kept as three words, compared as three integers. A name is inline
/// exactly when it fits, so two names are equal exactly when their forms are.
/// Made only by [`Name::new`], which keeps that rule.
#[derive(Clone, PartialEq, Eq)]
pub struct Name(NameForm);

#[derive(Clone, PartialEq, Eq)]
enum NameForm {
    /// The bytes, zero after the end, and the length in the last byte.
    Inline([u64; 3]),
    Boxed(Box<str>),
}

impl Name {
    pub fn new(name: &str) -> Name {
        Name(inline_words(name).map_or_else(|| NameForm::Boxed(name.into()), NameForm::Inline))
    }

    /// The text, in a buffer (an inline name's bytes are words).
    fn text(&self) -> NameText<'_> {
        match &self.0 {
            NameForm::Inline(words) => {
                let mut bytes = [0u8; INLINE_LEN + 1];
                for (i, w) in words.iter().enumerate() {
                    bytes[8 * i..8 * i + 8].copy_from_slice(&w.to_ne_bytes());
                }
                NameText::Inline(bytes)
            }
            NameForm::Boxed(name) => NameText::Boxed(name),
        }
    }
}

/// A [`Name`]'s text, borrowed or copied out of its words.
enum NameText<'a> {
    Inline([u8; INLINE_LEN + 1]),
    Boxed(&'a str),
}

impl NameText<'_> {
    fn as_str(&self) -> &str {
        match self {
            // Made from a `&str` by `Name::new`: always UTF-8.
            NameText::Inline(bytes) => {
                let len = usize::from(bytes[INLINE_LEN]).min(INLINE_LEN);
                std::str::from_utf8(&bytes[..len]).unwrap_or_default()
            }
            NameText::Boxed(name) => name,
        }
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text().as_str().cmp(other.text().as_str())
    }
}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text().as_str().hash(state);
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.text().as_str() == other
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.text().as_str(), f)
    }
}

/// A scope or resource name, or `*` for all of them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pattern {
    Any,
    Name(Name),
}

impl Pattern {
    fn matches(&self, other: &Pattern) -> bool {
        match (self, other) {
            (Pattern::Any, _) => true,
            (Pattern::Name(a), Pattern::Name(b)) => a == b,
            (Pattern::Name(_), Pattern::Any) => false,
        }
    }

    fn intersect(&self, other: &Pattern) -> Option<Pattern> {
        match (self, other) {
            (Pattern::Any, p) | (p, Pattern::Any) => Some(p.clone()),
            (Pattern::Name(a), Pattern::Name(b)) if a == b => Some(self.clone()),
            _ => None,
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Any => f.write_str("*"),
            Pattern::Name(n) => fmt::Display::fmt(n, f),
        }
    }
}

/// Scope and resource names: 1–64 of `[a-z0-9_-]`, starting with a letter or digit.
pub fn is_valid_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && s.as_bytes()[0].is_ascii_alphanumeric()
}

/// One parsed permission. `*:read` has `scope == resource == Any`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    pub scope: Pattern,
    pub resource: Pattern,
    pub access: Access,
}

impl Permission {
    /// Is every request `other` allows also allowed by `self`?
    pub fn covers(&self, other: &Permission) -> bool {
        self.access >= other.access && self.scope.matches(&other.scope) && self.resource.matches(&other.resource)
    }

    /// The permission both allow, if any.
    pub fn intersect(&self, other: &Permission) -> Option<Permission> {
        Some(Permission {
            scope: self.scope.intersect(&other.scope)?,
            resource: self.resource.intersect(&other.resource)?,
            access: self.access.min(other.access),
        })
    }

    /// `scope.resource:access` for a concrete pair.
    pub fn new(scope: &str, resource: &str, access: Access) -> Self {
        Permission { scope: Pattern::Name(Name::new(scope)), resource: Pattern::Name(Name::new(resource)), access }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl Permission {
    /// `scope.resource:access` (or `*:access`), written without the formatting machinery,
    /// which costs several times more (a verify answer writes one per grant).
    pub fn text(&self) -> String {
        fn push(text: &mut String, pattern: &Pattern) {
            match pattern {
                Pattern::Any => text.push('*'),
                Pattern::Name(name) => text.push_str(name.text().as_str()),
            }
        }
        let mut text = String::with_capacity(2 * INLINE_LEN + 8);
        push(&mut text, &self.scope);
        if matches!(self.scope, Pattern::Name(_)) {
            text.push('.');
            push(&mut text, &self.resource);
        }
        text.push(':');
        text.push_str(self.access.as_str());
        text
    }
}

impl FromStr for Permission {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let grammar =
            || format!("{s:?} is not a permission: expected <scope>.<resource>:<read|write>, e.g. events.alerts:read");
        let (path, access) = s.rsplit_once(':').ok_or_else(grammar)?;
        let access: Access = access.parse().map_err(|e: String| format!("{}: {e}", grammar()))?;
        Permission::with_access(path, access).map_err(|_| grammar())
    }
}

impl Permission {
    /// `path` (`scope.resource`, or `*`) with `access`: what `"{path}:{access}".parse()` gives,
    /// without writing that text (forward-auth takes the access from the request's method).
    pub fn with_access(path: &str, access: Access) -> Result<Permission, String> {
        let grammar = || format!("{path:?} is not a permission path: expected <scope>.<resource>, e.g. events.alerts");
        if path == "*" {
            return Ok(Permission { scope: Pattern::Any, resource: Pattern::Any, access });
        }
        let (scope, resource) = path.split_once('.').ok_or_else(grammar)?;
        if !is_valid_name(scope) {
            return Err(grammar());
        }
        let resource = match resource {
            "*" => Pattern::Any,
            r if is_valid_name(r) => Pattern::Name(Name::new(r)),
            _ => return Err(grammar()),
        };
        Ok(Permission { scope: Pattern::Name(Name::new(scope)), resource, access })
    }
}

impl Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Which resource instances a grant applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Targets {
    /// No targets, or `["*"]`: every instance.
    All,
    /// Only these instances (never empty).
    Only(BTreeSet<String>),
}

impl Targets {
    /// Targets as given on the wire: absent, `[]` and `["*"]` mean all.
    pub fn from_list(list: Option<Vec<String>>) -> Result<Targets, ValidationError> {
        let list = list.unwrap_or_default();
        if list.is_empty() || list.iter().any(|t| t == "*") {
            if list.len() > 1 {
                return Err(ValidationError::new(
                    "targets",
                    "`*` means all targets and cannot be combined with others",
                ));
            }
            return Ok(Targets::All);
        }
        if list.len() > 100 {
            return Err(ValidationError::new("targets", "at most 100 targets per grant"));
        }
        for t in &list {
            if t.is_empty() || t.len() > 255 || t.chars().any(char::is_control) {
                return Err(ValidationError::new(
                    "targets",
                    format!("target {t:?} must be 1 to 255 printable characters"),
                ));
            }
        }
        Ok(Targets::Only(list.into_iter().collect()))
    }

    pub fn to_list(&self) -> Vec<String> {
        match self {
            Targets::All => vec!["*".into()],
            Targets::Only(set) => set.iter().cloned().collect(),
        }
    }

    pub fn contains(&self, target: &str) -> bool {
        match self {
            Targets::All => true,
            Targets::Only(set) => set.contains(target),
        }
    }

    fn intersect(&self, other: &Targets) -> Option<Targets> {
        match (self, other) {
            (Targets::All, t) | (t, Targets::All) => Some(t.clone()),
            (Targets::Only(a), Targets::Only(b)) => {
                let both: BTreeSet<String> = a.intersection(b).cloned().collect();
                (!both.is_empty()).then_some(Targets::Only(both))
            }
        }
    }
}

/// A permission with the targets it applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grant {
    pub permission: Permission,
    pub targets: Targets,
}

impl Grant {
    pub fn all_targets(permission: Permission) -> Self {
        Grant { permission, targets: Targets::All }
    }

    /// Does this grant allow `permission` on `target`? A grant limited to targets allows a check
    /// only when the check names one of them (deny by default).
    pub fn allows(&self, permission: &Permission, target: Option<&str>) -> bool {
        self.permission.covers(permission)
            && match (&self.targets, target) {
                (Targets::All, _) => true,
                (Targets::Only(set), Some(t)) => set.contains(t),
                (Targets::Only(_), None) => false,
            }
    }

    pub fn intersect(&self, other: &Grant) -> Option<Grant> {
        Some(Grant {
            permission: self.permission.intersect(&other.permission)?,
            targets: self.targets.intersect(&other.targets)?,
        })
    }
}

/// Does any of `grants` allow `permission` on `target`?
pub fn allows(grants: &[Grant], permission: &Permission, target: Option<&str>) -> bool {
    grants.iter().any(|g| g.allows(permission, target))
}

/// Is `wanted` within what `ceiling` allows? Each of its targets must be covered by some grant of
/// the ceiling whose permission covers it; a grant for all targets needs a ceiling grant for all.
pub fn covered_by(wanted: &Grant, ceiling: &[Grant]) -> bool {
    let covering = || ceiling.iter().filter(|c| c.permission.covers(&wanted.permission));
    match &wanted.targets {
        Targets::All => covering().any(|c| c.targets == Targets::All),
        Targets::Only(set) => set.iter().all(|t| covering().any(|c| c.targets.contains(t))),
    }
}

/// Every pairwise intersection of two grant sets, deduplicated: what both allow.
pub fn intersect_all(a: &[Grant], b: &[Grant]) -> Vec<Grant> {
    let mut out: BTreeSet<Grant> = BTreeSet::new();
    for x in a {
        for y in b {
            if let Some(g) = x.intersect(y) {
                out.insert(g);
            }
        }
    }
    // Drop grants another one already covers entirely, so answers stay short.
    let all: Vec<Grant> = out.into_iter().collect();
    all.iter()
        .enumerate()
        .filter(|(i, g)| {
            !all.iter().enumerate().any(|(j, h)| {
                *i != j && h != *g && h.permission.covers(&g.permission) && targets_within(&g.targets, &h.targets)
            })
        })
        .map(|(_, g)| g.clone())
        .collect()
}

fn targets_within(inner: &Targets, outer: &Targets) -> bool {
    match (inner, outer) {
        (_, Targets::All) => true,
        (Targets::All, Targets::Only(_)) => false,
        (Targets::Only(a), Targets::Only(b)) => a.is_subset(b),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn p(s: &str) -> Permission {
        s.parse().unwrap()
    }

    fn g(s: &str, targets: &[&str]) -> Grant {
        let list = targets.iter().map(|t| t.to_string()).collect();
        Grant { permission: p(s), targets: Targets::from_list(Some(list)).unwrap() }
    }

    #[test]
    fn grammar_round_trips() {
        for s in ["events.alerts:write", "clients.devices:read", "policies.*:read", "*:read", "a-b.c_d:write"] {
            assert_eq!(p(s).to_string(), s);
        }
        for bad in [
            "",
            "events",
            "events.alerts",
            "events.alerts:admin",
            "*.alerts:read",
            "Events.x:read",
            "e.:read",
            ".x:read",
            "e.x.y:read",
            "*:*",
        ] {
            assert!(bad.parse::<Permission>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_path_with_an_access_is_the_permission_written_out() {
        let paths =
            ["events.alerts", "*", "events.*", "a.b", "events", "events.", ".alerts", "events.al erts", "", "x.y.z"];
        for path in paths {
            for access in [Access::Read, Access::Write] {
                let written = format!("{path}:{}", access.as_str()).parse::<Permission>();
                assert_eq!(Permission::with_access(path, access).ok(), written.ok(), "{path}");
            }
        }
    }

    #[test]
    fn write_implies_read_and_wildcards_cover() {
        assert!(p("events.alerts:write").covers(&p("events.alerts:read")));
        assert!(!p("events.alerts:read").covers(&p("events.alerts:write")));
        assert!(p("events.*:read").covers(&p("events.alerts:read")));
        assert!(!p("events.alerts:read").covers(&p("events.*:read")));
        assert!(p("*:write").covers(&p("policies.rules:write")));
        assert!(p("*:write").covers(&p("*:read")));
        assert!(!p("events.*:write").covers(&p("clients.devices:read")));
    }

    #[test]
    fn targets_deny_by_default() {
        let grant = g("accounts.config:read", &["123", "456"]);
        assert!(grant.allows(&p("accounts.config:read"), Some("123")));
        assert!(!grant.allows(&p("accounts.config:read"), Some("789")));
        assert!(!grant.allows(&p("accounts.config:read"), None));
        assert!(g("accounts.config:read", &["*"]).allows(&p("accounts.config:read"), None));
        assert!(Targets::from_list(Some(vec!["*".into(), "a".into()])).is_err());
    }

    #[test]
    fn coverage_per_target() {
        let ceiling = vec![g("accounts.*:read", &["a"]), g("accounts.config:write", &["b"])];
        assert!(covered_by(&g("accounts.config:read", &["a", "b"]), &ceiling));
        assert!(!covered_by(&g("accounts.config:read", &["a", "c"]), &ceiling));
        assert!(!covered_by(&g("accounts.config:read", &[]), &ceiling));
        assert!(!covered_by(&g("accounts.findings:write", &["a"]), &ceiling));
        assert!(covered_by(&g("events.alerts:read", &[]), &[g("*:write", &[])]));
    }

    #[test]
    fn intersection_is_what_both_allow() {
        let key = vec![g("events.*:write", &[]), g("accounts.config:read", &["a", "b"])];
        let owner = vec![g("events.alerts:read", &[]), g("accounts.*:read", &["b", "c"])];
        let both = intersect_all(&key, &owner);
        assert_eq!(both, vec![g("accounts.config:read", &["b"]), g("events.alerts:read", &[])]);
        assert!(intersect_all(&key, &[]).is_empty());
        // Redundant grants are folded away.
        let folded = intersect_all(&[g("*:write", &[])], &[g("events.alerts:read", &[]), g("events.*:read", &[])]);
        assert_eq!(folded, vec![g("events.*:read", &[])]);
    }

    #[test]
    fn names_compare_order_and_show_as_their_text_inline_or_not() {
        let texts = [
            "a",
            "alerts",
            "events",
            "events-2",
            &"x".repeat(INLINE_LEN),
            &"x".repeat(INLINE_LEN + 1),
            &"y".repeat(64),
        ];
        for a in texts {
            let name = Name::new(a);
            assert_eq!(name.to_string(), a);
            assert_eq!(format!("{name:?}"), format!("{a:?}"));
            assert!(name == *a);
            for b in texts {
                let other = Name::new(b);
                assert_eq!(name == other, a == b, "{a} {b}");
                assert_eq!(name.cmp(&other), a.cmp(b), "{a} {b}");
            }
        }
        // Grants sort as their text did when names were strings.
        let mut sorted = [p("events.zeta:read"), p("events.alerts:read"), p("eventsx.a:read"), p("*:read")];
        sorted.sort();
        let shown: Vec<String> = sorted.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["*:read", "events.alerts:read", "events.zeta:read", "eventsx.a:read"]);
    }

    #[test]
    fn method_access() {
        assert_eq!(Access::for_method("get"), Access::Read);
        assert_eq!(Access::for_method("OPTIONS"), Access::Read);
        assert_eq!(Access::for_method("DELETE"), Access::Write);
    }
}
