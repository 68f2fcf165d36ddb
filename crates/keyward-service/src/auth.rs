//! Authentication: administrators' logins and sessions, and turning any presented credential
//! (a session token or an API key) into a [`Principal`].
//!
//! Session tokens look like `session.<43 base62>`: the dot never occurs in an API key, so the
//! two kinds of bearer credential cannot be confused. Only a SHA-256 of the token is stored.

use crate::verify::{VerifyCode, VerifyQuery};
use crate::{Keyward, RequestContext, ServiceError, ServiceResult};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};
use keyward_domain::admin::{normalize_email, Admin};
use keyward_domain::ids::random_base62;
use keyward_domain::permission::{Access, Permission};
use keyward_domain::policy::{Actor, Credential, Principal};
use keyward_domain::signature::HttpRequest;
use keyward_store::Session;
use sha2::{Digest, Sha256};

const SESSION_PREFIX: &str = "session.";

/// A successful login.
#[derive(Debug)]
pub struct LoginOutcome {
    pub session_token: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    pub admin: Admin,
}

/// An authenticated request: who, and for a session, the CSRF token its cookie writes must echo.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub principal: Principal,
    pub csrf_token: Option<String>,
    /// The session token's hash, for logout.
    session: Option<[u8; 32]>,
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// argon2id with the crate's recommended parameters.
pub fn hash_password(password: &str) -> ServiceResult<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Internal(format!("password hashing failed: {e}")))
}

/// Runs argon2 off the async threads: it takes milliseconds of CPU by design.
pub(crate) async fn password_matches(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        // Unknown accounts still pay for one verification, so timing does not reveal which
        // emails exist.
        let phc = phc.unwrap_or_else(|| DUMMY_HASH.to_string());
        PasswordHash::new(&phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// An argon2id hash of a random string nobody knows.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$DTDXYfQBSbKMmBIIZt9whxBRBfWlcTtjq7DHbSBEbks";

impl Keyward {
    pub async fn login(&self, email: &str, password: &str, ctx: &RequestContext) -> ServiceResult<LoginOutcome> {
        let now = self.now();
        let address = ctx.client_ip.map(|ip| ip.to_string());
        let email_key = email.trim().to_lowercase();
        if let Some(retry_after_secs) = self.inner.throttle.check(&email_key, address.as_deref(), now) {
            return Err(ServiceError::RateLimited { retry_after_secs });
        }
        let admin = match normalize_email(email) {
            Ok(e) => self.store().get_admin_by_email(&e).await?,
            Err(_) => None,
        };
        let ok = password_matches(password.to_string(), admin.as_ref().map(|a| a.password_hash.clone())).await;
        let failure = match (&admin, ok) {
            (Some(a), true) if a.disabled => Some("disabled"),
            (Some(_), true) => None,
            (Some(_), false) => Some("wrong_password"),
            (None, _) => Some("unknown_email"),
        };
        if let Some(reason) = failure {
            self.inner.throttle.record_failure(&email_key, address.as_deref(), now);
            let mut record = self.audit("auth.login_failed", &Actor::System, ctx);
            record.subject_admin_id = admin.as_ref().map(|a| a.id.clone());
            record.details =
                Some(serde_json::json!({ "email": email_key.chars().take(254).collect::<String>(), "reason": reason }));
            self.store().insert_log(&record).await?;
            return Err(if reason == "disabled" {
                ServiceError::Forbidden("this administrator is disabled".into())
            } else {
                ServiceError::Unauthorized("invalid email or password".into())
            });
        }
        let admin = admin.ok_or_else(|| ServiceError::Internal("login without an admin".into()))?;
        self.inner.throttle.record_success(&email_key);
        // The thread-local rng is not `Send`: it must be gone before the next `.await`, or the
        // whole future could not run on a multi-threaded runtime (axum handlers need `Send`).
        let (session_token, csrf_token) = {
            let mut rng = rand::thread_rng();
            (format!("{SESSION_PREFIX}{}", random_base62(&mut rng, 43)), random_base62(&mut rng, 32))
        };
        let expires_at = now + Duration::hours(i64::from(self.config().session_ttl_hours));
        let session = Session {
            token_hash: token_hash(&session_token),
            admin_id: admin.id.clone(),
            csrf_token: csrf_token.clone(),
            created_at: now,
            expires_at,
        };
        let mut record =
            self.audit("auth.login", &Actor::Admin { id: admin.id.clone(), email: admin.email.clone() }, ctx);
        record.subject_admin_id = Some(admin.id.clone());
        self.store().insert_session(&session, &record).await?;
        Ok(LoginOutcome { session_token, csrf_token, expires_at, admin })
    }

    pub async fn logout(&self, auth: &Authenticated) -> ServiceResult<()> {
        match &auth.session {
            Some(hash) => Ok(self.store().delete_session(hash).await?),
            None => Err(ServiceError::Forbidden("logout ends a session; API keys have none".into())),
        }
    }

    /// A bearer credential (session token or API key) → who is calling. API keys are verified
    /// like any other presentation, from the caller's address, and act as their owner within
    /// their effective grants.
    pub async fn authenticate(&self, credential: &str, ctx: &RequestContext) -> ServiceResult<Authenticated> {
        self.authenticate_request(credential, ctx, None, false).await
    }

    /// [`authenticate`](Self::authenticate) for a management request: `write` when it changes
    /// something. An API key with a verify key must then have signed `request` (SPEC §2 "Signed
    /// requests"): unsigned → `403` saying so; a bad signature → `403` saying why.
    pub async fn authenticate_request(
        &self,
        credential: &str,
        ctx: &RequestContext,
        request: Option<&HttpRequest>,
        write: bool,
    ) -> ServiceResult<Authenticated> {
        if credential.starts_with(SESSION_PREFIX) {
            return self.authenticate_session(credential).await;
        }
        let verdict = self
            .verify(VerifyQuery {
                key: credential,
                permission: None,
                target: None,
                client_ip: ctx.client_ip,
                request: None,
            })
            .await?;
        let key = match (verdict.code, verdict.key) {
            (VerifyCode::Valid, Some(key)) => key,
            (code, _) => {
                return Err(ServiceError::Unauthorized(format!(
                    "the credential is not a valid session or API key ({})",
                    code.as_str()
                )))
            }
        };
        if let Err(failure) = self.check_signature(&key, request, write, verdict.time.to_datetime()).await? {
            return Err(ServiceError::Forbidden(format!("{}: {}", failure.code.as_str(), failure.reason)));
        }
        let owner = self
            .store()
            .get_admin(&key.owner_id)
            .await?
            .filter(|o| !o.disabled)
            .ok_or_else(|| ServiceError::Unauthorized("the key's owner is disabled".into()))?;
        Ok(Authenticated {
            principal: Principal {
                admin: owner,
                credential: Credential::ApiKey { key_id: key.id.clone(), grants: key.grants.to_vec() },
            },
            csrf_token: None,
            session: None,
        })
    }

    async fn authenticate_session(&self, token: &str) -> ServiceResult<Authenticated> {
        let invalid = || ServiceError::Unauthorized("the session is unknown or has expired; log in again".into());
        let hash = token_hash(token);
        let session = self.store().get_session(&hash).await?.ok_or_else(invalid)?;
        if session.expires_at <= self.now() {
            return Err(invalid());
        }
        let admin = self.store().get_admin(&session.admin_id).await?.filter(|a| !a.disabled).ok_or_else(invalid)?;
        Ok(Authenticated {
            principal: Principal { admin, credential: Credential::Session },
            csrf_token: Some(session.csrf_token),
            session: Some(hash),
        })
    }

    /// Authenticates the caller of `/v1/verify` and `/oauth2/introspect`: an API key holding
    /// `keyward.verify:read`. `401` when the credential is no good, `403` when it lacks the
    /// permission or may not be used from the caller's address.
    pub async fn authenticate_verifier(&self, credential: &str, ctx: &RequestContext) -> ServiceResult<()> {
        let permission = Permission::new("keyward", "verify", Access::Read);
        let verdict = self
            .verify(VerifyQuery {
                key: credential,
                permission: Some(&permission),
                target: None,
                client_ip: ctx.client_ip,
                request: None,
            })
            .await?;
        match verdict.code {
            VerifyCode::Valid => Ok(()),
            VerifyCode::InsufficientPermission => {
                Err(ServiceError::Forbidden("the calling key lacks the permission keyward.verify:read".into()))
            }
            VerifyCode::IpNotAllowed | VerifyCode::OwnerDisabled => Err(ServiceError::Forbidden(format!(
                "the calling key may not be used here ({})",
                verdict.code.as_str()
            ))),
            code => Err(ServiceError::Unauthorized(format!(
                "callers of this endpoint authenticate with an API key holding keyward.verify:read ({})",
                code.as_str()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn dummy_hash_is_a_valid_phc_string_that_matches_nothing_common() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!password_matches("password".into(), None).await);
        let real = hash_password("correct horse").unwrap();
        assert!(password_matches("correct horse".into(), Some(real.clone())).await);
        assert!(!password_matches("wrong horse".into(), Some(real)).await);
    }
}
