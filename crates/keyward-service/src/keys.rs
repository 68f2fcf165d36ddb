//! Key lifecycle: create, list, show, update, refresh, regenerate, revoke, delete, stats.
//!
//! Every operation takes a [`KeyAccess`] proof from the policy; a key the proof's visibility
//! does not cover is answered exactly like a key that does not exist. Every change is written
//! with its audit record in one transaction, and the verification cache entry is dropped before
//! the call returns.

use crate::{signing, Keyward, RequestContext, ServiceError, ServiceResult};
use chrono::{DateTime, Duration, Utc};
use keyward_domain::admin::Admin;
use keyward_domain::catalog::{GrantInput, RoleInput};
use keyward_domain::ids::{AdminId, KeyId};
use keyward_domain::key::{
    validate_description, validate_grace, validate_name, ApiKey, ExpiryInput, KeyFormat, KeyStatus, PreviousSecret,
    Privileges,
};
use keyward_domain::network::parse_networks;
use keyward_domain::permission::Grant;
use keyward_domain::policy::{check_no_escalation, KeyAccess, Visibility};
use keyward_domain::secret::{generate_secret, PlainSecret};
use keyward_store::{KeyQuery, KeyStats, LogRecord, Page, StatsQuery, StatusFilter, StoreError};

/// The three ways to say when a key expires; at most one may be given.
#[derive(Debug, Clone, Default)]
pub struct ExpiryFields {
    pub expires_at: Option<DateTime<Utc>>,
    pub lifetime_days: Option<i64>,
    pub never_expires: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct NewKey {
    pub name: String,
    pub description: Option<String>,
    pub expiry: ExpiryFields,
    pub roles: Option<Vec<RoleInput>>,
    pub grants: Option<Vec<GrantInput>>,
    pub inherit: Option<bool>,
    pub networks: Option<Vec<String>>,
    pub format: Option<String>,
    pub verify_key: Option<String>,
    pub signing: Option<String>,
    pub require_signed_writes: Option<bool>,
}

/// A partial update; `None` leaves a field as it is. `description: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct KeyPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub expiry: ExpiryFields,
    pub roles: Option<Vec<RoleInput>>,
    pub grants: Option<Vec<GrantInput>>,
    pub inherit: Option<bool>,
    pub networks: Option<Vec<String>>,
    pub verify_key: Option<Option<String>>,
    pub require_signed_writes: Option<bool>,
}

/// Filters of `GET /v1/keys`, as given.
#[derive(Debug, Clone, Default)]
pub struct KeyListing {
    pub status: Option<String>,
    pub q: Option<String>,
    pub owner: Option<String>,
    pub expiring_within_days: Option<i64>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// A key as shown to someone allowed to see it.
#[derive(Debug, Clone)]
pub struct KeyView {
    pub key: ApiKey,
    pub owner_email: String,
    pub status: KeyStatus,
    pub remaining_days: Option<i64>,
    /// What the key may do now: its own grants intersected with its owner's current permissions.
    pub effective_grants: Vec<Grant>,
}

/// A key with the secret that was just made for it; the only moment a secret exists in the clear.
#[derive(Debug)]
pub struct IssuedKey {
    pub view: KeyView,
    pub secret: PlainSecret,
    /// With `signing: "generate"`: the private key (PKCS#8 PEM), shown once, never stored.
    pub signing_private_key_pem: Option<keyward_domain::signing_key::PrivateKeyPem>,
}

/// Default and maximum page sizes.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 1000;

/// `?limit=`: default 50; above 1000 is treated as 1000; below 1 is refused.
pub fn page_limit(limit: Option<i64>) -> ServiceResult<u32> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if n < 1 => Err(ServiceError::validation("limit", "must be at least 1")),
        Some(n) => Ok(n.min(i64::from(MAX_LIMIT)) as u32),
    }
}

impl Keyward {
    fn view(&self, key: ApiKey, owner_email: String, owner_permissions: &[Grant]) -> KeyView {
        let now = self.now();
        KeyView {
            status: key.status(now),
            remaining_days: key.remaining_days(now),
            effective_grants: key.privileges.effective(self.catalog(), owner_permissions),
            key,
            owner_email,
        }
    }

    /// The current permissions of a key's owner; none once the owner is deleted.
    async fn owner_permissions(&self, owner: &AdminId) -> ServiceResult<Vec<Grant>> {
        Ok(self.store().get_admin(owner).await?.map(|a| a.permissions).unwrap_or_default())
    }

    fn key_audit(&self, action: &str, access: &KeyAccess, key: &ApiKey, ctx: &RequestContext) -> LogRecord {
        let mut r = self.audit(action, access.actor(), ctx);
        r.key_id = Some(key.id.clone());
        r.key_owner_id = Some(key.owner_id.clone());
        r
    }

    /// A new secret in the key's format and the keyed hash to store: of the whole secret for
    /// `opaque`, of the JWS's random `jti` for `jwt`.
    fn new_secret(
        &self,
        id: &KeyId,
        format: KeyFormat,
        expires_at: Option<DateTime<Utc>>,
    ) -> ServiceResult<(PlainSecret, keyward_domain::secret::SecretHash)> {
        if format == KeyFormat::Jwt {
            let (jws, hash) = self.jwt_key_secret(id.as_str(), expires_at)?;
            return Ok((PlainSecret::new(jws), hash));
        }
        let secret = generate_secret(&mut rand::thread_rng(), &self.config().key_prefix, id);
        let hash = self.inner.hasher.hash(secret.expose());
        Ok((secret, hash))
    }

    fn parse_privileges(
        &self,
        roles: Option<Vec<RoleInput>>,
        grants: Option<Vec<GrantInput>>,
        inherit: bool,
    ) -> ServiceResult<Privileges> {
        let roles = self.catalog().parse_roles(roles.unwrap_or_default())?;
        let grants = self.catalog().parse_grants("grants", grants.unwrap_or_default())?;
        Ok(Privileges::new(roles, grants, inherit)?)
    }

    fn parse_format(format: Option<&str>) -> ServiceResult<KeyFormat> {
        match format {
            None => Ok(KeyFormat::Opaque),
            Some(f) => KeyFormat::parse(f)
                .ok_or_else(|| ServiceError::validation("format", format!("must be `opaque` or `jwt`, not {f:?}"))),
        }
    }

    pub async fn create_key(
        &self,
        access: &KeyAccess,
        input: NewKey,
        ctx: &RequestContext,
    ) -> ServiceResult<IssuedKey> {
        let owner = access.acting_admin().clone();
        validate_name(&input.name)?;
        if let Some(d) = &input.description {
            validate_description(d)?;
        }
        let format = Self::parse_format(input.format.as_deref())?;
        let (verify_key, signing_private_key_pem) =
            signing::new_verify_key(input.verify_key.as_deref(), input.signing.as_deref())?;
        let require_signed_writes =
            signing::require_signed_writes(input.require_signed_writes, verify_key.is_some(), verify_key.is_some())?;
        let now = self.now();
        let rules = self.config().expiry_rules();
        let expiry =
            ExpiryInput::from_fields(input.expiry.expires_at, input.expiry.lifetime_days, input.expiry.never_expires)?
                .unwrap_or(ExpiryInput::LifetimeDays(i64::from(rules.default_lifetime_days)));
        let (expires_at, lifetime_days) = expiry.resolve(now, &rules)?;
        let privileges = self.parse_privileges(input.roles, input.grants, input.inherit.unwrap_or(false))?;
        check_no_escalation(&owner, &privileges, self.catalog())?;
        let networks = parse_networks(&input.networks.unwrap_or_default(), self.config().max_networks)?;
        let id = KeyId::generate(&mut rand::thread_rng());
        let (secret, secret_hash) = self.new_secret(&id, format, expires_at)?;
        let key = ApiKey {
            id,
            owner_id: owner.id.clone(),
            name: input.name,
            description: input.description.filter(|d| !d.is_empty()),
            created_at: now,
            updated_at: now,
            expires_at,
            lifetime_days,
            revoked_at: None,
            deleted_at: None,
            initial_privileges: privileges.clone(),
            privileges,
            networks,
            format,
            verify_key: verify_key.map(|k| k.to_pem()),
            require_signed_writes,
            secret_hash,
            previous_secret: None,
            last_used_at: None,
            last_used_ip: None,
            use_count: 0,
            version: 1,
        };
        let mut record = self.key_audit("key.created", access, &key, ctx);
        record.details = Some(describe(&key, self));
        self.store().insert_key(&key, &record).await.map_err(|e| name_conflict(e, &key.name))?;
        self.inner.cache.invalidate_key(&key.id);
        Ok(IssuedKey { view: self.view(key, owner.email, &owner.permissions), secret, signing_private_key_pem })
    }

    /// A key the caller may see, not deleted; anything else is `404`.
    async fn visible_key(&self, visibility: &Visibility, id: &KeyId) -> ServiceResult<(ApiKey, String)> {
        match self.store().get_key_with_owner(id).await? {
            Some(k) if k.key.deleted_at.is_none() && visibility.can_see(&k.key.owner_id) => Ok((k.key, k.owner_email)),
            _ => Err(ServiceError::NotFound("key")),
        }
    }

    pub async fn get_key(&self, access: &KeyAccess, id: &KeyId) -> ServiceResult<KeyView> {
        let (key, owner_email) = self.visible_key(access.visibility(), id).await?;
        let owner_permissions = self.owner_permissions(&key.owner_id).await?;
        Ok(self.view(key, owner_email, &owner_permissions))
    }

    pub async fn list_keys(&self, access: &KeyAccess, listing: KeyListing) -> ServiceResult<Page<KeyView>> {
        let now = self.now();
        let status = match listing.status.as_deref() {
            None | Some("all") => StatusFilter::All,
            Some("active") => StatusFilter::Active,
            Some("expired") => StatusFilter::Expired,
            Some("revoked") => StatusFilter::Revoked,
            Some(other) => {
                return Err(ServiceError::validation(
                    "status",
                    format!("must be all, active, expired or revoked, not {other:?}"),
                ))
            }
        };
        let expiring_before = match listing.expiring_within_days {
            None => None,
            Some(d) if !(0..=36_500).contains(&d) => {
                return Err(ServiceError::validation("expiring_within_days", "must be between 0 and 36500"))
            }
            Some(d) => Some(now + Duration::days(d)),
        };
        let owner = match listing.owner.as_deref().map(str::trim).filter(|o| !o.is_empty()) {
            None => None,
            Some(o) if o.contains('@') => Some(
                self.store()
                    .get_admin_by_email(&o.to_lowercase())
                    .await?
                    .map(|a| a.id)
                    .unwrap_or_else(|| AdminId::from_string("")),
            ),
            Some(o) => Some(AdminId::from_string(o)),
        };
        let query = KeyQuery {
            visibility: access.visibility().clone(),
            now,
            status,
            q: listing.q.filter(|q| !q.is_empty()),
            owner,
            expiring_before,
            limit: page_limit(listing.limit)?,
            cursor: listing.cursor,
        };
        let page = self.store().list_keys(&query).await?;
        // Owners' permissions, read once per owner on the page.
        let mut owners: std::collections::HashMap<AdminId, Vec<Grant>> = Default::default();
        let mut items = Vec::with_capacity(page.items.len());
        for k in page.items {
            if !owners.contains_key(&k.key.owner_id) {
                let permissions = self.owner_permissions(&k.key.owner_id).await?;
                owners.insert(k.key.owner_id.clone(), permissions);
            }
            let permissions = owners.get(&k.key.owner_id).map(Vec::as_slice).unwrap_or_default();
            items.push(self.view(k.key, k.owner_email, permissions));
        }
        Ok(Page { items, next_cursor: page.next_cursor })
    }

    pub async fn key_stats(&self, access: &KeyAccess) -> ServiceResult<KeyStats> {
        let now = self.now();
        let query =
            StatsQuery { visibility: access.visibility().clone(), now, expiring_before: now + Duration::days(30) };
        Ok(self.store().key_stats(&query).await?)
    }

    /// Read, change, write with a version check; retried when another request changed the key
    /// in between, so concurrent changes are applied one after the other and none is lost.
    async fn mutate_key<T>(
        &self,
        access: &KeyAccess,
        id: &KeyId,
        mut change: impl FnMut(&mut ApiKey, &Admin) -> ServiceResult<(Vec<LogRecord>, T)>,
    ) -> ServiceResult<(KeyView, T)> {
        let stripe = id.as_str().bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(b)));
        let _serialized = self.inner.key_locks[stripe % self.inner.key_locks.len()].lock().await;
        for _ in 0..5 {
            let (mut key, owner_email) = self.visible_key(access.visibility(), id).await?;
            let owner = self
                .store()
                .get_admin(&key.owner_id)
                .await?
                .ok_or_else(|| ServiceError::Conflict("the key's owner no longer exists".into()))?;
            let expected = key.version;
            let (audits, extra) = change(&mut key, &owner)?;
            if audits.is_empty() {
                return Ok((self.view(key, owner_email, &owner.permissions), extra));
            }
            key.version = expected + 1;
            key.updated_at = self.now();
            match self.store().update_key(&key, expected, &audits).await {
                Ok(()) => {
                    self.inner.cache.invalidate_key(&key.id);
                    return Ok((self.view(key, owner_email, &owner.permissions), extra));
                }
                Err(StoreError::VersionConflict) => continue,
                Err(e) => return Err(name_conflict(e, &key.name)),
            }
        }
        Err(ServiceError::Conflict("the key is being changed by other requests; retry".into()))
    }

    pub async fn update_key(
        &self,
        access: &KeyAccess,
        id: &KeyId,
        patch: KeyPatch,
        ctx: &RequestContext,
    ) -> ServiceResult<KeyView> {
        let new_verify_key = match &patch.verify_key {
            Some(Some(given)) => Some(Some(signing::parse_verify_key(given)?.to_pem())),
            Some(None) => Some(None),
            None => None,
        };
        let now = self.now();
        let rules = self.config().expiry_rules();
        let expiry =
            ExpiryInput::from_fields(patch.expiry.expires_at, patch.expiry.lifetime_days, patch.expiry.never_expires)?;
        if let Some(name) = &patch.name {
            validate_name(name)?;
        }
        if let Some(Some(d)) = &patch.description {
            validate_description(d)?;
        }
        let networks = match &patch.networks {
            Some(list) => Some(parse_networks(list, self.config().max_networks)?),
            None => None,
        };
        let touches_privileges = patch.roles.is_some() || patch.grants.is_some() || patch.inherit.is_some();
        let (view, ()) = self
            .mutate_key(access, id, |key, owner| {
                if key.revoked_at.is_some() {
                    return Err(ServiceError::Conflict("a revoked key cannot be changed".into()));
                }
                let mut changed: Vec<&str> = Vec::new();
                if let Some(name) = &patch.name {
                    if *name != key.name {
                        if !self.config().allow_key_rename {
                            return Err(ServiceError::validation(
                                "name",
                                "renaming keys is disabled (allow_key_rename = false)",
                            ));
                        }
                        key.name = name.clone();
                        changed.push("name");
                    }
                }
                if let Some(d) = &patch.description {
                    key.description = d.clone().filter(|d| !d.is_empty());
                    changed.push("description");
                }
                if let Some(e) = expiry {
                    let (expires_at, _) = e.resolve(now, &rules)?;
                    key.expires_at = expires_at;
                    changed.push("expires_at");
                }
                if touches_privileges {
                    let inherit = patch
                        .inherit
                        .unwrap_or(key.privileges.inherit && patch.roles.is_none() && patch.grants.is_none());
                    let roles = patch
                        .roles
                        .clone()
                        .or_else(|| (!inherit).then(|| key.privileges.roles.iter().map(RoleInput::from).collect()));
                    let grants = patch
                        .grants
                        .clone()
                        .or_else(|| (!inherit).then(|| key.privileges.grants.iter().map(GrantInput::from).collect()));
                    let privileges = self.parse_privileges(roles, grants, inherit)?;
                    check_no_escalation(owner, &privileges, self.catalog())?;
                    key.privileges = privileges;
                    changed.push("privileges");
                }
                if let Some(n) = &networks {
                    key.networks = n.clone();
                    changed.push("networks");
                }
                // A verify key set where there was none turns signed writes on unless told
                // otherwise; removing it turns them off; replacing it keeps the setting.
                let mut signed_writes_default = key.require_signed_writes;
                if let Some(v) = &new_verify_key {
                    if *v != key.verify_key {
                        signed_writes_default = match (v, &key.verify_key) {
                            (None, _) => false,
                            (Some(_), None) => true,
                            (Some(_), Some(_)) => key.require_signed_writes,
                        };
                        key.verify_key = v.clone();
                        changed.push("verify_key");
                    }
                }
                let require = signing::require_signed_writes(
                    patch.require_signed_writes,
                    signed_writes_default,
                    key.verify_key.is_some(),
                )?;
                if require != key.require_signed_writes {
                    key.require_signed_writes = require;
                    changed.push("require_signed_writes");
                }
                if changed.is_empty() {
                    return Ok((Vec::new(), ()));
                }
                let mut record = self.key_audit("key.updated", access, key, ctx);
                let mut details = describe(key, self);
                details["changed"] = serde_json::json!(changed);
                record.details = Some(details);
                Ok((vec![record], ()))
            })
            .await?;
        Ok(view)
    }

    pub async fn refresh_key(
        &self,
        access: &KeyAccess,
        id: &KeyId,
        grace_period_seconds: Option<i64>,
        ctx: &RequestContext,
    ) -> ServiceResult<IssuedKey> {
        let grace = validate_grace(grace_period_seconds.unwrap_or(0))?;
        let now = self.now();
        let (view, secret) = self
            .mutate_key(access, id, |key, _| {
                if key.revoked_at.is_some() {
                    return Err(ServiceError::Conflict("a revoked key cannot be refreshed".into()));
                }
                let (secret, hash) = self.new_secret(&key.id, key.format, key.expires_at)?;
                key.previous_secret = (grace > Duration::zero())
                    .then_some(PreviousSecret { hash: key.secret_hash, valid_until: now + grace });
                key.secret_hash = hash;
                let mut record = self.key_audit("key.refreshed", access, key, ctx);
                record.details = Some(serde_json::json!({ "grace_period_seconds": grace.num_seconds() }));
                Ok((vec![record], secret))
            })
            .await?;
        Ok(IssuedKey { view, secret, signing_private_key_pem: None })
    }

    pub async fn regenerate_key(
        &self,
        access: &KeyAccess,
        id: &KeyId,
        ctx: &RequestContext,
    ) -> ServiceResult<IssuedKey> {
        let now = self.now();
        let (view, secret) = self
            .mutate_key(access, id, |key, _| {
                if key.revoked_at.is_some() {
                    return Err(ServiceError::Conflict("a revoked key cannot be regenerated".into()));
                }
                key.expires_at = key.lifetime_days.map(|d| now + Duration::days(i64::from(d)));
                let (secret, hash) = self.new_secret(&key.id, key.format, key.expires_at)?;
                key.secret_hash = hash;
                key.previous_secret = None;
                key.privileges = key.initial_privileges.clone();
                let mut record = self.key_audit("key.regenerated", access, key, ctx);
                record.details = Some(describe(key, self));
                Ok((vec![record], secret))
            })
            .await?;
        Ok(IssuedKey { view, secret, signing_private_key_pem: None })
    }

    /// Idempotent: revoking a revoked key changes nothing and writes no record.
    pub async fn revoke_key(&self, access: &KeyAccess, id: &KeyId, ctx: &RequestContext) -> ServiceResult<KeyView> {
        let now = self.now();
        let (view, ()) = self
            .mutate_key(access, id, |key, _| {
                if key.revoked_at.is_some() {
                    return Ok((Vec::new(), ()));
                }
                key.revoked_at = Some(now);
                key.previous_secret = None;
                Ok((vec![self.key_audit("key.revoked", access, key, ctx)], ()))
            })
            .await?;
        Ok(view)
    }

    /// Revokes the key if needed, then hides it; its records stay searchable by its id.
    pub async fn delete_key(&self, access: &KeyAccess, id: &KeyId, ctx: &RequestContext) -> ServiceResult<()> {
        let now = self.now();
        self.mutate_key(access, id, |key, _| {
            let mut audits = Vec::new();
            if key.revoked_at.is_none() {
                key.revoked_at = Some(now);
                key.previous_secret = None;
                audits.push(self.key_audit("key.revoked", access, key, ctx));
            }
            key.deleted_at = Some(now);
            let mut record = self.key_audit("key.deleted", access, key, ctx);
            record.details = Some(serde_json::json!({ "name": key.name }));
            audits.push(record);
            Ok((audits, ()))
        })
        .await?;
        Ok(())
    }
}

fn name_conflict(e: StoreError, name: &str) -> ServiceError {
    match e {
        StoreError::Conflict(_) => ServiceError::Conflict(format!("you already have a key named {name:?}")),
        other => other.into(),
    }
}

/// What an audit record says about a key's settings (never its secret or hashes).
fn describe(key: &ApiKey, keyward: &Keyward) -> serde_json::Value {
    let grants = key.privileges.own_grants(keyward.catalog()).unwrap_or_default();
    serde_json::json!({
        "name": key.name,
        "expires_at": key.expires_at,
        "inherit": key.privileges.inherit,
        "roles": key.privileges.roles.iter().map(|r| r.role.clone()).collect::<Vec<_>>(),
        "grants": crate::admins::permission_strings(&grants),
        "networks": key.networks.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "verify_key": key.verify_key.is_some(),
        "require_signed_writes": key.require_signed_writes,
    })
}
