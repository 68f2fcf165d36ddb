//! Wire types of verification (`/v1/verify`, forward-auth) and operations (`/healthz`, `/readyz`).

use super::{GrantDto, OwnerDto};
use chrono::{DateTime, Utc};
use keyward_domain::permission::{Grant, Targets};
use keyward_service::verify::Verdict;
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
    pub permission: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    #[schema(value_type = Option<String>)]
    pub target: Option<Cow<'a, str>>,
    /// The client's address (not the verifier's). A network-restricted key checked without it
    /// is `ip_not_allowed`.
    #[serde(borrow, default)]
    #[schema(value_type = Option<String>, example = "203.0.113.7")]
    pub client_ip: Option<Cow<'a, str>>,
    /// The client's request, for keys with a verify key: its RFC 9421 signature is checked
    /// (`signature_required` / `signature_invalid`).
    pub request: Option<SignedRequestDto>,
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
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

impl<'a> From<&'a Verdict> for VerifyResponse<'a> {
    fn from(v: &'a Verdict) -> Self {
        let valid = v.code == keyward_service::verify::VerifyCode::Valid;
        let key = v.key.as_deref();
        let full = key.filter(|_| valid);
        VerifyResponse {
            valid,
            code: v.code.as_str(),
            key_id: key.map(|k| k.id.as_str()),
            name: full.map(|k| k.name.as_str()),
            owner: full.map(|k| OwnerView { id: k.owner_id.as_str(), email: &k.owner_email }),
            grants: full.map(|k| GrantsView(&k.grants)),
            expires_at: full.map(|k| k.expires_at),
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
        grant.serialize_field("permission", &DisplayAsStr(&self.0.permission))?;
        grant.serialize_field("targets", &TargetsView(&self.0.targets))?;
        grant.end()
    }
}

struct DisplayAsStr<'a, T>(&'a T);

impl<T: std::fmt::Display> Serialize for DisplayAsStr<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
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
