//! Administrator management (superadmin only) and the bootstrap superadmin.

use crate::auth::hash_password;
use crate::{Keyward, RequestContext, ServiceError, ServiceResult, StartupReport};
use keyward_domain::admin::{normalize_email, validate_admin_name, validate_password, Admin, AdminRole};
use keyward_domain::catalog::GrantInput;
use keyward_domain::ids::{random_base62, AdminId, KeyId};
use keyward_domain::permission::Grant;
use keyward_domain::policy::{AdminManagement, OwnAccount};

/// A new administrator, as given.
#[derive(Debug, Clone)]
pub struct NewAdmin {
    pub email: String,
    pub name: String,
    pub password: String,
    pub role: String,
    pub can_manage_keys: bool,
    pub permissions: Vec<GrantInput>,
}

/// A partial change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AdminPatch {
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: Option<String>,
    pub can_manage_keys: Option<bool>,
    pub permissions: Option<Vec<GrantInput>>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
}

impl Keyward {
    pub(crate) async fn bootstrap(&self, env: &crate::EnvLookup, report: &mut StartupReport) -> ServiceResult<()> {
        if self.store().count_admins().await? > 0 {
            return Ok(());
        }
        let email = env("KEYWARD_BOOTSTRAP_EMAIL").unwrap_or_else(|| "admin@localhost".into());
        let (password, generated) = match env("KEYWARD_BOOTSTRAP_PASSWORD") {
            Some(p) => (p, false),
            None => (random_base62(&mut rand::thread_rng(), 24), true),
        };
        let input = NewAdmin {
            email,
            name: "Superadmin".into(),
            password: password.clone(),
            role: "superadmin".into(),
            can_manage_keys: true,
            permissions: vec![GrantInput::Bare("*:write".into())],
        };
        let admin = match self.create_admin(&AdminManagement::local_operator(), input, &RequestContext::default()).await
        {
            Ok(admin) => admin,
            // Another node of the cluster, starting at the same moment, bootstrapped first.
            Err(ServiceError::Conflict(_)) if self.store().count_admins().await? > 0 => return Ok(()),
            Err(e) => return Err(ServiceError::Internal(format!("cannot create the bootstrap superadmin: {e}"))),
        };
        report.bootstrap_email = Some(admin.email);
        if generated {
            report.bootstrap_password = Some(password);
        }
        Ok(())
    }

    fn parse_admin_permissions(&self, input: Vec<GrantInput>) -> ServiceResult<Vec<Grant>> {
        Ok(self.catalog().parse_grants("permissions", input)?)
    }

    pub async fn create_admin(
        &self,
        auth: &AdminManagement,
        input: NewAdmin,
        ctx: &RequestContext,
    ) -> ServiceResult<Admin> {
        let email = normalize_email(&input.email)?;
        validate_admin_name(&input.name)?;
        validate_password(&input.password)?;
        let role = AdminRole::parse(&input.role)?;
        let permissions = self.parse_admin_permissions(input.permissions)?;
        let password_hash = hash_password(&input.password)?;
        let now = self.now();
        let admin = Admin {
            id: AdminId::generate(&mut rand::thread_rng()),
            email,
            name: input.name,
            role,
            can_manage_keys: input.can_manage_keys,
            permissions,
            disabled: false,
            created_at: now,
            updated_at: now,
            password_hash,
        };
        let mut record = self.audit("admin.created", auth.actor(), ctx);
        record.subject_admin_id = Some(admin.id.clone());
        record.details = Some(serde_json::json!({
            "email": admin.email, "role": role.as_str(), "can_manage_keys": admin.can_manage_keys,
            "permissions": permission_strings(&admin.permissions),
        }));
        self.store().insert_admin(&admin, &record).await.map_err(|e| match e {
            keyward_store::StoreError::Conflict(_) => {
                ServiceError::Conflict(format!("an administrator with email {} exists already", admin.email))
            }
            other => other.into(),
        })?;
        Ok(admin)
    }

    pub async fn list_admins(&self, _auth: &AdminManagement) -> ServiceResult<Vec<Admin>> {
        Ok(self.store().list_admins().await?)
    }

    pub async fn get_admin(&self, _auth: &AdminManagement, id: &AdminId) -> ServiceResult<Admin> {
        self.store().get_admin(id).await?.ok_or(ServiceError::NotFound("administrator"))
    }

    pub async fn update_admin(
        &self,
        auth: &AdminManagement,
        id: &AdminId,
        patch: AdminPatch,
        ctx: &RequestContext,
    ) -> ServiceResult<Admin> {
        let mut admin = self.get_admin(auth, id).await?;
        let myself = auth.acting_id() == id;
        let mut changed: Vec<&str> = Vec::new();
        let mut end_sessions = false;
        if let Some(email) = patch.email {
            admin.email = normalize_email(&email)?;
            changed.push("email");
        }
        if let Some(name) = patch.name {
            validate_admin_name(&name)?;
            admin.name = name;
            changed.push("name");
        }
        if let Some(role) = patch.role {
            let role = AdminRole::parse(&role)?;
            if myself && role != admin.role {
                return Err(ServiceError::Conflict("you cannot change your own role".into()));
            }
            admin.role = role;
            changed.push("role");
        }
        if let Some(can) = patch.can_manage_keys {
            admin.can_manage_keys = can;
            changed.push("can_manage_keys");
        }
        if let Some(perms) = patch.permissions {
            admin.permissions = self.parse_admin_permissions(perms)?;
            changed.push("permissions");
        }
        if let Some(disabled) = patch.disabled {
            if myself && disabled {
                return Err(ServiceError::Conflict("you cannot disable yourself".into()));
            }
            end_sessions |= disabled && !admin.disabled;
            admin.disabled = disabled;
            changed.push("disabled");
        }
        if let Some(password) = patch.password {
            validate_password(&password)?;
            admin.password_hash = hash_password(&password)?;
            end_sessions |= !myself;
            changed.push("password");
        }
        admin.updated_at = self.now();
        let mut record = self.audit("admin.updated", auth.actor(), ctx);
        record.subject_admin_id = Some(admin.id.clone());
        record.details = Some(serde_json::json!({
            "changed": changed, "disabled": admin.disabled, "role": admin.role.as_str(),
            "can_manage_keys": admin.can_manage_keys, "permissions": permission_strings(&admin.permissions),
        }));
        self.store().update_admin(&admin, end_sessions, &record).await.map_err(|e| match e {
            keyward_store::StoreError::Conflict(_) => {
                ServiceError::Conflict(format!("an administrator with email {} exists already", admin.email))
            }
            other => other.into(),
        })?;
        self.inner.cache.invalidate_owner(&admin.id);
        Ok(admin)
    }

    /// An administrator changes their own password, proving they know the current one (a
    /// session left open on someone else's screen is not enough). Wrong guesses count as failed
    /// logins of the account, so they are throttled alike. The caller's sessions stay open.
    pub async fn change_own_password(
        &self,
        auth: &OwnAccount,
        current_password: &str,
        new_password: &str,
        ctx: &RequestContext,
    ) -> ServiceResult<()> {
        let mut admin =
            self.store().get_admin(auth.admin_id()).await?.ok_or(ServiceError::NotFound("administrator"))?;
        let now = self.now();
        let address = ctx.client_ip.map(|ip| ip.to_string());
        if let Some(retry_after_secs) = self.inner.throttle.check(&admin.email, address.as_deref(), now) {
            return Err(ServiceError::RateLimited { retry_after_secs });
        }
        if !crate::auth::password_matches(current_password.to_string(), Some(admin.password_hash.clone())).await {
            self.inner.throttle.record_failure(&admin.email, address.as_deref(), now);
            return Err(ServiceError::Forbidden("the current password is not correct".into()));
        }
        validate_password(new_password)?;
        admin.password_hash = hash_password(new_password)?;
        admin.updated_at = now;
        let mut record = self.audit("admin.updated", auth.actor(), ctx);
        record.subject_admin_id = Some(admin.id.clone());
        record.details = Some(serde_json::json!({ "changed": ["password"], "by": "self" }));
        self.store().update_admin(&admin, false, &record).await?;
        Ok(())
    }

    /// Deletes an admin; every key of theirs is revoked first, each with its own audit record.
    pub async fn delete_admin(&self, auth: &AdminManagement, id: &AdminId, ctx: &RequestContext) -> ServiceResult<()> {
        let admin = self.get_admin(auth, id).await?;
        if auth.acting_id() == id {
            return Err(ServiceError::Conflict("you cannot delete yourself".into()));
        }
        let revocation = |key: &KeyId| {
            let mut r = self.audit("key.revoked", auth.actor(), ctx);
            r.key_id = Some(key.clone());
            r.key_owner_id = Some(admin.id.clone());
            r.details = Some(serde_json::json!({ "reason": "owner deleted" }));
            r
        };
        let mut record = self.audit("admin.deleted", auth.actor(), ctx);
        record.subject_admin_id = Some(admin.id.clone());
        record.details = Some(serde_json::json!({ "email": admin.email }));
        let revoked = self.store().delete_admin(id, self.now(), &revocation, &record).await?;
        tracing::info!(admin_id = %id, revoked_keys = revoked.len(), "administrator deleted");
        self.inner.cache.invalidate_owner(id);
        Ok(())
    }

    /// `keyward admins create --config …`: the command line writing to the database directly.
    pub async fn create_admin_locally(&self, input: NewAdmin) -> ServiceResult<Admin> {
        self.create_admin(&AdminManagement::local_operator(), input, &RequestContext::default()).await
    }
}

pub(crate) fn permission_strings(grants: &[Grant]) -> Vec<String> {
    grants
        .iter()
        .map(|g| match &g.targets {
            keyward_domain::permission::Targets::All => g.permission.to_string(),
            t => format!("{}@{}", g.permission, t.to_list().join(",")),
        })
        .collect()
}
