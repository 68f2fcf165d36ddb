//! The `NAME[@T1,T2]` syntax of `--grant`, `--role` and `--permission` flags.
//!
//! It exists so that a grant (a permission or a role, optionally limited to
//! some target resource instances) fits in one shell word, and so the same
//! syntax is used both to read flags and to show grants back in tables.

use std::fmt;

use serde_json::{Map, Value};

/// One `--grant`/`--role`/`--permission` value: a name and optional targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSpec {
    /// The permission (`events.alerts:write`) or role (`global_viewer`) name.
    pub name: String,
    /// `None` when no `@` was given (all targets); otherwise at least one target.
    pub targets: Option<Vec<String>>,
}

impl GrantSpec {
    /// Parses `NAME` or `NAME@T1,T2`. Used as a clap `value_parser`.
    pub fn parse(input: &str) -> Result<Self, String> {
        let input = input.trim();
        let (name, targets) = match input.split_once('@') {
            None => (input, None),
            Some((name, targets)) => (name.trim(), Some(targets)),
        };
        if name.is_empty() {
            return Err(format!("missing name in {input:?}: write NAME or NAME@TARGET1,TARGET2"));
        }
        if name.chars().any(|c| c.is_whitespace() || c == ',') {
            return Err(format!("{name:?} is not a single name: give one value per flag (repeat the flag for more)"));
        }
        let targets = match targets {
            None => None,
            Some(list) => {
                let list: Vec<String> = list.split(',').map(|t| t.trim().to_owned()).collect();
                if list.iter().any(String::is_empty) {
                    return Err(format!("empty target in {input:?}: write NAME@TARGET1,TARGET2 (or NAME@* for all)"));
                }
                Some(list)
            }
        };
        Ok(Self { name: name.to_owned(), targets })
    }

    /// The API's JSON form: `{"<name_field>": name, "targets"?: [...]}`.
    /// `name_field` is `"permission"` for grants and `"role"` for roles.
    pub fn to_json(&self, name_field: &str) -> Value {
        let mut object = Map::new();
        object.insert(name_field.to_owned(), Value::String(self.name.clone()));
        if let Some(targets) = &self.targets {
            object.insert("targets".to_owned(), Value::Array(targets.iter().cloned().map(Value::String).collect()));
        }
        Value::Object(object)
    }
}

/// Formats back into the flag syntax, so `parse(spec.to_string()) == spec`.
impl fmt::Display for GrantSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(targets) = &self.targets {
            write!(f, "@{}", targets.join(","))?;
        }
        Ok(())
    }
}

/// A list of specs in their JSON form.
pub fn list_json(specs: &[GrantSpec], name_field: &str) -> Value {
    Value::Array(specs.iter().map(|s| s.to_json(name_field)).collect())
}

/// Shows a grant or role object from the server in flag syntax (`perm@t1,t2`).
/// A bare string (a grant without targets) is shown as is; anything else as JSON.
pub fn display_json(value: &Value, name_field: &str) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Object(object) => {
            let Some(name) = object.get(name_field).and_then(Value::as_str) else {
                return value.to_string();
            };
            match object.get("targets") {
                Some(Value::Array(targets)) if !targets.is_empty() => {
                    let targets: Vec<String> =
                        targets.iter().map(|t| t.as_str().map_or_else(|| t.to_string(), str::to_owned)).collect();
                    format!("{name}@{}", targets.join(","))
                }
                _ => name.to_owned(),
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn bare_name_has_no_targets() {
        let g = GrantSpec::parse("events.alerts:write").unwrap();
        assert_eq!(g.name, "events.alerts:write");
        assert_eq!(g.targets, None);
        assert_eq!(g.to_json("permission"), json!({"permission": "events.alerts:write"}));
    }

    #[test]
    fn targets_after_at() {
        let g = GrantSpec::parse("accounts.config:read@123, 456").unwrap();
        assert_eq!(g.targets, Some(vec!["123".to_owned(), "456".to_owned()]));
        assert_eq!(g.to_json("permission"), json!({"permission": "accounts.config:read", "targets": ["123", "456"]}));
        assert_eq!(g.to_string(), "accounts.config:read@123,456");
        assert_eq!(GrantSpec::parse(&g.to_string()).unwrap(), g);
    }

    #[test]
    fn role_uses_role_field() {
        let r = GrantSpec::parse("cloud_account_viewer@*").unwrap();
        assert_eq!(r.to_json("role"), json!({"role": "cloud_account_viewer", "targets": ["*"]}));
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "@a", "perm@", "perm@a,,b", "perm@a,", "a b", "a,b"] {
            assert!(GrantSpec::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn displays_server_json() {
        assert_eq!(display_json(&json!({"permission": "p:read", "targets": ["a", "b"]}), "permission"), "p:read@a,b");
        assert_eq!(display_json(&json!({"role": "global_viewer", "targets": []}), "role"), "global_viewer");
        assert_eq!(display_json(&json!("p:write"), "permission"), "p:write");
        assert_eq!(list_json(&[GrantSpec::parse("x:read").unwrap()], "permission"), json!([{"permission": "x:read"}]));
    }
}
