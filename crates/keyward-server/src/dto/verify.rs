//! Wire types of verification (`/v1/verify`, forward-auth) and operations (`/healthz`, `/readyz`).

use super::{grants, GrantDto, OwnerDto};
use chrono::{DateTime, Utc};
use keyward_service::verify::Verdict;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A question for `/v1/verify`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The key as the client presented it: the whole secret, or `id:secret`.
    pub key: String,
    /// Omitted: only validity (and networks) are checked.
    #[schema(example = "events.alerts:write")]
    pub permission: Option<String>,
    pub target: Option<String>,
    /// The client's address (not the verifier's). A network-restricted key checked without it
    /// is `ip_not_allowed`.
    #[schema(example = "203.0.113.7")]
    pub client_ip: Option<String>,
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
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResponse {
    pub valid: bool,
    /// `valid`, `not_found`, `expired`, `revoked`, `owner_disabled`, `ip_not_allowed`,
    /// `insufficient_permission`, `signature_required` or `signature_invalid`.
    #[schema(example = "valid")]
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerDto>,
    /// The key's effective grants, so the platform can filter by target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<GrantDto>>,
    /// Present (possibly `null` = never) on valid answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

impl From<&Verdict> for VerifyResponse {
    fn from(v: &Verdict) -> Self {
        let valid = v.code == keyward_service::verify::VerifyCode::Valid;
        let key = v.key.as_deref();
        let full = key.filter(|_| valid);
        VerifyResponse {
            valid,
            code: v.code.as_str().to_string(),
            key_id: key.map(|k| k.id.to_string()),
            name: full.map(|k| k.name.clone()),
            owner: full.map(|k| OwnerDto { id: k.owner_id.to_string(), email: k.owner_email.clone() }),
            grants: full.map(|k| grants(&k.grants)),
            expires_at: full.map(|k| k.expires_at),
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
