//! Wire types of API keys (`/v1/keys`). No output type here has a field for a secret hash.

use super::{double_option, grants, GrantDto, GrantInputDto, OwnerDto, PrivilegesDto, RoleAssignmentDto, RoleInputDto};
use chrono::{DateTime, Utc};
use keyward_service::keys::KeyView;
use keyward_service::KeyStats;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An API key as shown to someone allowed to see it. Never carries its secret or a hash of it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyDto {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub owner: OwnerDto,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `null`: never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// The lifetime chosen at creation, in days; `null` for never. `regenerate` reuses it.
    pub lifetime_days: Option<u32>,
    /// `active`, `expired` or `revoked`, as of this answer.
    #[schema(example = "active")]
    pub status: String,
    /// Whole days until expiry; `null` when it never expires; `0` when expired.
    pub remaining_days: Option<i64>,
    pub roles: Vec<RoleAssignmentDto>,
    pub grants: Vec<GrantDto>,
    pub inherit: bool,
    /// What `regenerate` restores.
    pub initial_privileges: PrivilegesDto,
    /// Normalized CIDRs; empty: any address.
    #[schema(example = json!(["192.0.2.0/24"]))]
    pub networks: Vec<String>,
    /// `opaque` or `jwt`.
    #[schema(example = "opaque")]
    pub format: String,
    /// The ECDSA P-256 public key its requests are signed with (PEM SPKI); `null`: none.
    pub verify_key: Option<String>,
    /// Write checks need a valid RFC 9421 signature.
    pub require_signed_writes: bool,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    /// Successful checks of this key (verify, forward-auth), from the usage log; updated
    /// asynchronously, like `last_used_at`.
    pub use_count: u64,
    pub revoked_at: Option<DateTime<Utc>>,
    /// What the key may do now: its roles and grants intersected with its owner's current
    /// permissions.
    pub effective_grants: Vec<GrantDto>,
}

impl KeyDto {
    pub fn new(view: &KeyView) -> Self {
        let k = &view.key;
        KeyDto {
            id: k.id.to_string(),
            name: k.name.clone(),
            description: k.description.clone(),
            owner: OwnerDto { id: k.owner_id.to_string(), email: view.owner_email.clone() },
            created_at: k.created_at,
            updated_at: k.updated_at,
            expires_at: k.expires_at,
            lifetime_days: k.lifetime_days,
            status: view.status.as_str().to_string(),
            remaining_days: view.remaining_days,
            roles: k.privileges.roles.iter().map(Into::into).collect(),
            grants: grants(&k.privileges.grants),
            inherit: k.privileges.inherit,
            initial_privileges: (&k.initial_privileges).into(),
            networks: k.networks.iter().map(ToString::to_string).collect(),
            format: k.format.as_str().to_string(),
            verify_key: k.verify_key.clone(),
            require_signed_writes: k.require_signed_writes,
            last_used_at: k.last_used_at,
            last_used_ip: k.last_used_ip.clone(),
            use_count: k.use_count,
            revoked_at: k.revoked_at,
            effective_grants: grants(&view.effective_grants),
        }
    }
}

/// A key and the secret just made for it: shown once, never again.
#[derive(Serialize, ToSchema)]
pub struct IssuedKeyResponse {
    pub key: KeyDto,
    /// The whole secret; present it as `Authorization: Bearer <secret>`, `X-API-Key`, or Basic
    /// `<key id>:<secret>`.
    pub secret: String,
    /// With `signing: "generate"` only: the key's private signing key (PKCS#8 PEM), shown once
    /// and never stored. Sign write requests with it (`keyward sign`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_private_key_pem: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyResponse {
    pub key: KeyDto,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// The matching keys of this page, newest first: at most `limit`, and fewer (even none)
    /// when the request stopped searching before the page was full (see `next_cursor`).
    pub items: Vec<KeyDto>,
    /// Pass as `?cursor=` for the next page; `null` only when there is nothing more to find.
    /// One request examines at most a fixed number of keys when it tests each against the
    /// filters (the server's `list_walk_limit`, default 2,500), e.g. for a `q` shorter than
    /// three characters or a `status`. A request that stops there answers the
    /// matches found so far, possibly none, and a cursor that resumes the search after the last
    /// key it examined: a short or empty page with a cursor is not the end.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyStatsDto {
    pub total: u64,
    pub active: u64,
    pub expired: u64,
    pub revoked: u64,
    /// Active keys that expire within 30 days.
    pub expiring_within_30_days: u64,
}

impl From<KeyStats> for KeyStatsDto {
    fn from(s: KeyStats) -> Self {
        KeyStatsDto {
            total: s.total,
            active: s.active,
            expired: s.expired,
            revoked: s.revoked,
            expiring_within_30_days: s.expiring_soon,
        }
    }
}

/// A new key. Give at most one of `expires_at`, `lifetime_days` and `never_expires: true`
/// (none: the configured default lifetime).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    #[schema(example = "ci-deployer")]
    pub name: String,
    pub description: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    #[schema(example = 90)]
    pub lifetime_days: Option<i64>,
    pub never_expires: Option<bool>,
    pub roles: Option<Vec<RoleInputDto>>,
    pub grants: Option<Vec<GrantInputDto>>,
    /// "Same as my privileges": exactly the owner's current permissions; excludes roles/grants.
    pub inherit: Option<bool>,
    /// At most `max_networks` (default 10) addresses or CIDRs.
    pub networks: Option<Vec<String>>,
    /// `opaque` (default) or `jwt` (the secret is a compact ES256 JWS signed by the instance,
    /// verifiable against `/.well-known/jwks.json` and still checked online).
    pub format: Option<String>,
    /// ECDSA P-256 public key for signed requests (RFC 9421): PEM SPKI, or a JWK given as a
    /// JSON string (`kty` `EC`, `crv` `P-256`). Stored and shown as PEM SPKI.
    pub verify_key: Option<String>,
    /// `generate`: the server makes a P-256 key pair, stores the public half and returns the
    /// private key once (`signing_private_key_pem`). Excludes `verify_key`.
    #[schema(example = "generate")]
    pub signing: Option<String>,
    /// Write checks of this key need a valid signature. Default: `true` when the key gets a
    /// verify key; `true` without one → `422`.
    pub require_signed_writes: Option<bool>,
}

/// A partial update: absent fields stay as they are. Expiry changes with exactly one of
/// `expires_at`, `lifetime_days` (counted from now) and `never_expires: true`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyRequest {
    pub name: Option<String>,
    /// `null` clears the description.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub lifetime_days: Option<i64>,
    pub never_expires: Option<bool>,
    pub roles: Option<Vec<RoleInputDto>>,
    pub grants: Option<Vec<GrantInputDto>>,
    pub inherit: Option<bool>,
    pub networks: Option<Vec<String>>,
    /// A new verify key (PEM SPKI, or a JWK as a JSON string); `null` removes it (and turns
    /// `require_signed_writes` off). Setting one where there was none turns
    /// `require_signed_writes` on unless it is given.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub verify_key: Option<Option<String>>,
    pub require_signed_writes: Option<bool>,
    /// Not changeable after creation: present → `422`.
    #[schema(value_type = Option<String>)]
    pub format: Option<serde_json::Value>,
    /// Not changeable after creation: present → `422`.
    #[schema(value_type = Option<String>)]
    pub signing: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// How long the previous secret keeps working (0 to 604800 seconds; default 0).
    pub grace_period_seconds: Option<i64>,
}

/// An empty object (or no body at all).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyRequest {}

/// Filters of `GET /v1/keys`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KeyListQuery {
    /// `all` (default), `active`, `expired` or `revoked`.
    pub status: Option<String>,
    /// Case-insensitive substring of id, name, description or owner email.
    pub q: Option<String>,
    /// An admin id or email.
    pub owner: Option<String>,
    /// Only keys active now that expire within this many days.
    pub expiring_within_days: Option<i64>,
    /// Page size: default 50, above 1000 is treated as 1000. The most keys a page holds, not the
    /// number it holds: a page may be short, even empty, with a `next_cursor` (see `KeyList`).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page (a malformed cursor is `400`).
    pub cursor: Option<String>,
}
