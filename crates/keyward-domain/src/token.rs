//! Access tokens (RFC 9068) and jwt-format keys, as pure rules: the claims they carry, how a
//! requested scope is parsed and checked against a key's grants, what a token may do, and when
//! its time claims make it unusable. Signing and verifying signatures is the service's job.
//!
//! A token's scope is a list of permissions without targets; at every check it is intersected
//! with the key's effective grants *as they are then*, so narrowing a key (or its owner) narrows
//! the tokens already issued to it, and target restrictions of the key still apply.

use crate::permission::{intersect_all, Grant, Permission};
use serde::{Deserialize, Serialize};

/// The JWS `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// The JWS `typ` of jwt-format API keys (SPEC §8 "Tokens").
pub const KEY_TYP: &str = "JWT";
/// How far in the future an `iat` may lie (clock skew between nodes) before a token is refused.
pub const IAT_LEEWAY_SECONDS: i64 = 60;

/// The claims of an access token (RFC 9068 §2.2). Times are seconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The key id (the client acts on its own behalf).
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    /// Space-separated permissions.
    pub scope: String,
}

/// The claims of a jwt-format key (SPEC §1 "Secret formats"): no `exp` when it never expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyClaims {
    pub iss: String,
    pub sub: String,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    pub jti: String,
}

/// Why a requested scope is refused (`invalid_scope`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("{0}")]
    Malformed(String),
    #[error("the scope {0} is not within the client's permissions")]
    Beyond(String),
}

/// Parses a space-separated scope (RFC 6749 §3.3). Duplicates are dropped, order is kept.
pub fn parse_scope(scope: &str) -> Result<Vec<Permission>, ScopeError> {
    let mut out: Vec<Permission> = Vec::new();
    for item in scope.split(' ').filter(|s| !s.is_empty()) {
        let p: Permission = item.parse().map_err(ScopeError::Malformed)?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// The scope of a token issued to a key with `grants`: what was asked for, which must be within
/// the grants (each permission covered by one of them, for some targets at least), or without a
/// request every permission the key holds.
pub fn grant_scope(requested: Option<Vec<Permission>>, grants: &[Grant]) -> Result<Vec<Permission>, ScopeError> {
    match requested {
        None => {
            let mut all: Vec<Permission> = Vec::new();
            for g in grants {
                if !all.contains(&g.permission) {
                    all.push(g.permission.clone());
                }
            }
            Ok(all)
        }
        Some(requested) => {
            if let Some(beyond) = requested.iter().find(|p| !grants.iter().any(|g| g.permission.covers(p))) {
                return Err(ScopeError::Beyond(beyond.to_string()));
            }
            Ok(requested)
        }
    }
}

/// The space-separated form of a scope.
pub fn format_scope(scope: &[Permission]) -> String {
    scope.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
}

/// What a token with `scope` may do now: its scope intersected with its key's current grants.
pub fn token_grants(scope: &[Permission], key_grants: &[Grant]) -> Vec<Grant> {
    let scope: Vec<Grant> = scope.iter().cloned().map(Grant::all_targets).collect();
    intersect_all(&scope, key_grants)
}

/// What the time claims of a token say about it at `now` (seconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTime {
    Valid,
    Expired,
    /// Issued in the future beyond the leeway: not a token this instance made as it says.
    NotYetValid,
}

pub fn check_time(iat: i64, exp: Option<i64>, now: i64) -> TokenTime {
    if iat > now + IAT_LEEWAY_SECONDS {
        TokenTime::NotYetValid
    } else if exp.is_some_and(|e| e <= now) {
        TokenTime::Expired
    } else {
        TokenTime::Valid
    }
}

/// How every JWS starts: the base64url of its header's `{"`.
pub const JWS_START: &str = "eyJ";

/// Is `credential` a compact JWS (three base64url parts)? Opaque keys and `id:secret` pairs
/// never contain a dot, and session tokens start with `session.`.
///
/// One pass without a branch per byte (the compiler vectorizes it): tokens are hundreds of
/// bytes, and three passes with a branch per byte cost more than the rest of a cached token's
/// check.
pub fn looks_like_jws(credential: &str) -> bool {
    let bytes = credential.as_bytes();
    if !credential.starts_with(JWS_START) {
        return false;
    }
    let (mut dots, mut others) = (0usize, 0usize);
    for &b in bytes {
        let letter = (b | 0x20).wrapping_sub(b'a') < 26;
        let digit = b.wrapping_sub(b'0') < 10;
        let dot = b == b'.';
        dots += usize::from(dot);
        others += usize::from(!(letter | digit | dot | (b == b'-') | (b == b'_')));
    }
    dots == 2 && others == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::permission::Targets;

    fn grant(p: &str) -> Grant {
        Grant::all_targets(p.parse().unwrap())
    }

    #[test]
    fn scopes_parse_and_must_be_within_the_grants() {
        assert_eq!(parse_scope("").unwrap(), vec![]);
        let s = parse_scope("events.alerts:read  events.alerts:read events.*:write").unwrap();
        assert_eq!(format_scope(&s), "events.alerts:read events.*:write");
        assert!(matches!(parse_scope("events"), Err(ScopeError::Malformed(_))));
        let grants = [grant("events.*:write")];
        assert_eq!(grant_scope(Some(s.clone()), &grants).unwrap(), s);
        assert_eq!(
            grant_scope(Some(parse_scope("billing.x:read").unwrap()), &grants),
            Err(ScopeError::Beyond("billing.x:read".into()))
        );
        assert_eq!(format_scope(&grant_scope(None, &grants).unwrap()), "events.*:write");
    }

    #[test]
    fn a_token_may_do_what_both_its_scope_and_its_key_allow() {
        let key = [Grant {
            permission: "events.*:write".parse().unwrap(),
            targets: Targets::from_list(Some(vec!["acct-1".into()])).unwrap(),
        }];
        let g = token_grants(&parse_scope("events.alerts:read").unwrap(), &key);
        let read: Permission = "events.alerts:read".parse().unwrap();
        let write: Permission = "events.alerts:write".parse().unwrap();
        assert!(crate::permission::allows(&g, &read, Some("acct-1")));
        assert!(!crate::permission::allows(&g, &read, Some("acct-2")), "the key's targets still apply");
        assert!(!crate::permission::allows(&g, &write, Some("acct-1")), "the scope narrows the key");
        assert!(token_grants(&parse_scope("events.alerts:read").unwrap(), &[]).is_empty());
    }

    #[test]
    fn time_claims() {
        assert_eq!(check_time(100, Some(200), 150), TokenTime::Valid);
        assert_eq!(check_time(100, Some(200), 200), TokenTime::Expired);
        assert_eq!(check_time(100, None, 1_000_000), TokenTime::Valid);
        assert_eq!(check_time(1000, Some(2000), 1000 - IAT_LEEWAY_SECONDS - 1), TokenTime::NotYetValid);
    }

    #[test]
    fn compact_jws_is_told_apart_from_keys_and_sessions() {
        assert!(looks_like_jws("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
        assert!(!looks_like_jws("kw_abc_def123"));
        assert!(!looks_like_jws("session.abc"));
        assert!(!looks_like_jws("eyJ.a.b.c"));
        assert!(!looks_like_jws("eyJa.b c.d"));
    }

    #[test]
    fn jws_shape_agrees_with_its_definition_on_every_byte() {
        let reference = |s: &str| {
            s.starts_with("eyJ")
                && s.bytes().filter(|&b| b == b'.').count() == 2
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        let base = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_9Z";
        assert!(looks_like_jws(base));
        for byte in 0..=u8::MAX {
            let c = char::from(byte);
            for at in [3, 10, base.len() - 1] {
                let mut s = base.to_string();
                s.insert(at, c);
                assert_eq!(looks_like_jws(&s), reference(&s), "{s:?}");
                s.replace_range(at..at + c.len_utf8(), "");
                s.replace_range(at..at + 1, &c.to_string());
                assert_eq!(looks_like_jws(&s), reference(&s), "{s:?}");
            }
        }
    }
}
