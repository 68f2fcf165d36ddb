//! Wire types of verification (`/v1/verify`, forward-auth) and operations (`/healthz`, `/readyz`).

use super::{GrantDto, OwnerDto};
use chrono::{DateTime, Utc};
use keyward_domain::permission::{Grant, Targets};
use keyward_service::cache::CachedKey;
use keyward_service::verify::{Verdict, VerifyCode};
use serde::ser::SerializeStruct as _;
use serde::Serializer;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use utoipa::ToSchema;

/// A question for `/v1/verify`.
// Its strings borrow from the request body where they can: the data plane parses one per request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest<'a> {
    /// The key as the client presented it: the whole secret, or `id:secret`.
    #[serde(borrow)]
    #[schema(value_type = String)]
    pub key: Cow<'a, str>,
    /// Omitted: only validity (and networks) are checked.
    #[serde(borrow, default)]
    #[schema(value_type = Option<String>, example = "events.alerts:write")]
    pub permission: Option<Text<'a>>,
    #[serde(borrow, default)]
    #[schema(value_type = Option<String>)]
    pub target: Option<Text<'a>>,
    /// The client's address (not the verifier's). A network-restricted key checked without it
    /// is `ip_not_allowed`.
    #[serde(borrow, default)]
    #[schema(value_type = Option<String>, example = "203.0.113.7")]
    pub client_ip: Option<Text<'a>>,
    /// The client's request, for keys with a verify key: its RFC 9421 signature is checked
    /// (`signature_required` / `signature_invalid`).
    pub request: Option<SignedRequestDto>,
}

/// A string of a request body, borrowed from it unless it holds escapes. serde borrows a
/// `Cow<str>` only where it is a field's whole type: inside an `Option` it would be copied into
/// a `String` of its own (two allocations per verify request for `permission` and `client_ip`).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Text<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// The client's HTTP request, for signature checks.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedRequestDto {
    #[schema(example = "POST")]
    pub method: String,
    /// The absolute URI the client requested (`@target-uri`).
    #[schema(example = "https://api.example.com/v1/alerts?x=1")]
    pub target_uri: String,
    /// Header fields by name (case-insensitive), including `Signature-Input`, `Signature` and
    /// `Content-Digest`.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// The body, when the caller has it: `content-digest` must then be covered and match it.
    pub body_base64: Option<String>,
}

/// The verdict. `valid: false` answers carry `key_id` only when the caller held the key's full
/// secret (nothing about a key is revealed otherwise).
// Borrows the verdict's snapshot: an answer is serialized without copying the key's fields first.
#[derive(Serialize, ToSchema)]
pub struct VerifyResponse<'a> {
    pub valid: bool,
    /// `valid`, `not_found`, `expired`, `revoked`, `owner_disabled`, `ip_not_allowed`,
    /// `insufficient_permission`, `signature_required` or `signature_invalid`.
    #[schema(example = "valid")]
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<OwnerDto>)]
    pub owner: Option<OwnerView<'a>>,
    /// The key's effective grants, so the platform can filter by target.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<GrantDto>>)]
    pub grants: Option<GrantsView<'a>>,
    /// Present (possibly `null` = never) on valid answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub expires_at: Option<Option<TimeView>>,
}

impl<'a> From<&'a Verdict> for VerifyResponse<'a> {
    fn from(v: &'a Verdict) -> Self {
        VerifyResponse::new(v.code, v.key.as_deref())
    }
}

impl<'a> VerifyResponse<'a> {
    /// The answer for `code` about `key` (the key the caller proved they hold, if any).
    pub fn new(code: VerifyCode, key: Option<&'a CachedKey>) -> Self {
        let valid = code == VerifyCode::Valid;
        let full = key.filter(|_| valid);
        VerifyResponse {
            valid,
            code: code.as_str(),
            key_id: key.map(|k| k.id.as_str()),
            name: full.map(|k| k.name.as_str()),
            owner: full.map(|k| OwnerView { id: k.owner_id.as_str(), email: &k.owner_email }),
            grants: full.map(|k| GrantsView(&k.grants)),
            expires_at: full.map(|k| k.expires_at.map(TimeView)),
        }
    }
}

/// [`OwnerDto`], borrowed.
#[derive(Serialize)]
pub struct OwnerView<'a> {
    pub id: &'a str,
    pub email: &'a str,
}

/// Grants serialized as [`GrantDto`]s, straight from the domain's.
pub struct GrantsView<'a>(pub &'a [Grant]);

impl Serialize for GrantsView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(GrantView))
    }
}

struct GrantView<'a>(&'a Grant);

impl Serialize for GrantView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut grant = serializer.serialize_struct("GrantDto", 2)?;
        grant.serialize_field("permission", &self.0.permission.text())?;
        grant.serialize_field("targets", &TargetsView(&self.0.targets))?;
        grant.end()
    }
}

/// A time written as chrono's `Serialize` writes it (RFC 3339 in UTC with `Z`, a fraction of 3,
/// 6 or 9 digits only when there is one), without the formatting machinery chrono goes
/// through, which costs more than the rest of a verify answer. Times chrono would write
/// otherwise (a year outside 0–9999, a leap second) are left to chrono.
pub struct TimeView(pub DateTime<Utc>);

impl Serialize for TimeView {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use chrono::{Datelike as _, Timelike as _};
        let t = &self.0;
        let (year, nanos) = (t.year(), t.nanosecond());
        let (Ok(year), true) = (u32::try_from(year), nanos < 1_000_000_000) else {
            return t.serialize(serializer);
        };
        if year > 9999 {
            return t.serialize(serializer);
        }
        /// `value`'s last digits, as many as `field` holds.
        fn put(field: &mut [u8], mut value: u32) {
            for digit in field.iter_mut().rev() {
                // Below 10: a digit.
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        let mut out = *b"0000-00-00T00:00:00.000000000Z";
        put(&mut out[0..4], year);
        put(&mut out[5..7], t.month());
        put(&mut out[8..10], t.day());
        put(&mut out[11..13], t.hour());
        put(&mut out[14..16], t.minute());
        put(&mut out[17..19], t.second());
        let at = match nanos {
            0 => 19,
            n if n % 1_000_000 == 0 => {
                put(&mut out[20..23], n / 1_000_000);
                23
            }
            n if n % 1_000 == 0 => {
                put(&mut out[20..26], n / 1_000);
                26
            }
            n => {
                put(&mut out[20..29], n);
                29
            }
        };
        out[at] = b'Z';
        let at = at + 1;
        match std::str::from_utf8(&out[..at]) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => t.serialize(serializer),
        }
    }
}

struct TargetsView<'a>(&'a Targets);

impl Serialize for TargetsView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Targets::All => serializer.collect_seq(["*"]),
            Targets::Only(list) => serializer.collect_seq(list),
        }
    }
}

/// The body of forward-auth answers (the decision is in the status and headers).
#[derive(Debug, Serialize, ToSchema)]
pub struct ForwardAuthBody {
    /// A verification code, or `missing_credential`.
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyResponse {
    #[schema(example = "ready")]
    pub status: String,
    /// The storage backend, e.g. `sqlite`.
    #[schema(example = "sqlite")]
    pub backend: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn a_verify_request_borrows_its_strings_from_the_body_unless_they_hold_escapes() {
        let body =
            br#"{"key":"kw_a","permission":"events.alerts:read","target":"acct\u002d7","client_ip":"203.0.113.7"}"#;
        let request: VerifyRequest<'_> = serde_json::from_slice(body).unwrap();
        assert!(matches!(request.key, Cow::Borrowed("kw_a")));
        assert!(matches!(request.permission, Some(Text(Cow::Borrowed("events.alerts:read")))));
        assert!(matches!(request.client_ip, Some(Text(Cow::Borrowed("203.0.113.7")))));
        // An escape cannot be borrowed: the string is unescaped into one of its own.
        assert!(matches!(&request.target, Some(Text(Cow::Owned(t))) if t == "acct-7"));
        assert_eq!(request.target.as_deref(), Some("acct-7"));
        let omitted: VerifyRequest<'_> = serde_json::from_slice(br#"{"key":"kw_a"}"#).unwrap();
        assert!(omitted.permission.is_none() && omitted.target.is_none() && omitted.client_ip.is_none());
    }

    #[test]
    fn times_are_written_as_chrono_writes_them() {
        let mut times = vec![
            Utc.timestamp_opt(0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2016, 12, 31, 23, 59, 59).unwrap() + chrono::Duration::nanoseconds(1_500_000_000),
        ];
        // Every precision a fraction can take, over dates from 1970 on.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let nanos = match seed % 5 {
                0 => 0,
                1 => (seed >> 8) % 1_000 * 1_000_000,
                2 => (seed >> 8) % 1_000_000 * 1_000,
                _ => (seed >> 8) % 1_000_000_000,
            };
            let seconds = (seed >> 20) % 8_000_000_000;
            times.push(Utc.timestamp_opt(seconds as i64, nanos as u32).unwrap());
        }
        for t in times {
            assert_eq!(serde_json::to_string(&TimeView(t)).unwrap(), serde_json::to_string(&t).unwrap(), "{t:?}");
        }
    }
}
