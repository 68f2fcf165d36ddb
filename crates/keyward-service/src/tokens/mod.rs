//! Access tokens (OAuth 2.0 client credentials, RFC 6749 §4.4, as RFC 9068 JWTs), their
//! introspection (RFC 7662) and revocation (RFC 7009), the JWKS, and the signature side of
//! jwt-format keys.
//!
//! Verification cost: the first check of a given JWS pays one ECDSA verification; later
//! checks cost about what an opaque key's does, and still see every change to the key and every
//! revocation of the token at once ([`verified`]).
//!
//! Signing keys: the current key signs; a rotation makes a new one current and retires the old
//! one, whose private half is erased while its public half stays in the JWKS (see
//! docs/DECISIONS.md). Other nodes reload on the change feed's `SigningKeys`, and any node
//! meeting an unknown `kid` reloads (at most once a second).

pub mod signing;
mod verified;

use crate::usage::UsageEvent;
use crate::verify::{Verdict, VerifyCode, VerifyQuery};
use crate::{Keyward, RequestContext, ServiceError, ServiceResult};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Header};
use keyward_domain::ids::random_base62;
use keyward_domain::permission::Permission;
use keyward_domain::policy::{Actor, SigningKeyManagement};
use keyward_domain::secret::SecretHash;
use keyward_domain::token::{
    format_scope, grant_scope, looks_like_jws, parse_scope, AccessClaims, KeyClaims, ScopeError, ACCESS_TOKEN_TYP,
    KEY_TYP,
};
use keyward_store::{RevokedToken, SigningKeyRecord};
use parking_lot::{Mutex, RwLock};
use signing::{KeySet, PublicKey, Sealer};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use verified::{Claims, VerifiedTokens};

/// Length of a token's random `jti` in base62 (≈ 131 bits).
const JTI_LEN: usize = 22;
/// An unknown `kid` makes a node reload its signing keys at most this often.
const RELOAD_INTERVAL: chrono::Duration = chrono::Duration::seconds(1);

/// The token state of one node.
pub(crate) struct Tokens {
    sealer: Sealer,
    keys: RwLock<Arc<KeySet>>,
    last_reload: Mutex<Option<DateTime<Utc>>>,
    /// Tokens whose signature checked out, and what they resolved to.
    verified: VerifiedTokens,
    /// Revoked access tokens (`jti`) and until when they would have been valid; every change
    /// is followed by [`VerifiedTokens::denylist_changed`].
    denylist: RwLock<HashMap<Box<str>, DateTime<Utc>, foldhash::fast::RandomState>>,
    /// The server's own base URL, the default issuer when the configuration names none.
    base_url: OnceLock<String>,
}

impl Tokens {
    pub(crate) fn new(pepper: &keyward_domain::secret::Pepper) -> Self {
        Tokens {
            sealer: Sealer::new(pepper.as_bytes()),
            keys: RwLock::default(),
            last_reload: Mutex::default(),
            verified: VerifiedTokens::default(),
            denylist: RwLock::default(),
            base_url: OnceLock::new(),
        }
    }
}

/// An access token just issued (RFC 6749 §5.1).
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken").field("expires_in", &self.expires_in).field("scope", &self.scope).finish()
    }
}

/// The errors of the token and revocation endpoints (RFC 6749 §5.2).
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    /// Unknown client, wrong secret, revoked or expired key.
    #[error("client authentication failed")]
    InvalidClient,
    /// A valid client that may not get a token now (network, disabled owner).
    #[error("{0}")]
    UnauthorizedClient(String),
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    UnsupportedGrantType(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// How a client authenticated at the token or revocation endpoint.
#[derive(Debug, Clone, Copy)]
pub struct ClientCredentials<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
}

/// An RFC 7662 answer. Inactive answers carry nothing else.
#[derive(Debug, Clone, Default)]
pub struct Introspection {
    pub active: bool,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub sub: Option<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub iss: Option<String>,
    pub aud: Option<String>,
    pub jti: Option<String>,
    /// `Bearer` for access tokens, `api_key` for keys.
    pub token_type: Option<&'static str>,
    /// The key owner's email.
    pub username: Option<String>,
}

/// A signing key as `keyward signing-keys list` shows it.
#[derive(Debug, Clone)]
pub struct SigningKeyInfo {
    pub kid: String,
    pub algorithm: &'static str,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub current: bool,
}

impl From<&PublicKey> for SigningKeyInfo {
    fn from(k: &PublicKey) -> Self {
        SigningKeyInfo {
            kid: k.kid.clone(),
            algorithm: signing::ALGORITHM,
            created_at: k.created_at,
            retired_at: k.retired_at,
            current: k.retired_at.is_none(),
        }
    }
}

/// One public key of the JWKS.
#[derive(Debug, Clone)]
pub struct Jwk {
    pub kid: String,
    pub x: String,
    pub y: String,
}

impl Keyward {
    fn tokens(&self) -> &Tokens {
        &self.inner.tokens
    }

    /// Loads the signing keys (creating the first one on a new database) and the denylist.
    pub(crate) async fn start_tokens(&self) -> ServiceResult<()> {
        if self.store().signing_keys().await?.is_empty() {
            let record = signing::generate(&self.tokens().sealer, self.now())?;
            let audit = self.signing_audit("signing_key.created", &Actor::System, &record, &RequestContext::default());
            self.store().insert_signing_key(&record, false, &audit).await?;
        }
        self.reload_signing_keys().await?;
        self.prune_revoked_tokens().await;
        self.reload_denylist().await
    }

    /// Forgets revoked tokens that have expired, in the store and in memory (they fail on their
    /// expiry anyway). Run at start and with the usage retention.
    pub(crate) async fn prune_revoked_tokens(&self) {
        let now = self.now();
        if let Err(e) = self.store().prune_revoked_tokens(now).await {
            tracing::warn!(error = %e, "could not prune expired revoked tokens");
        }
        self.tokens().denylist.write().retain(|_, until| *until > now);
        self.tokens().verified.denylist_changed();
    }

    fn signing_audit(
        &self,
        action: &str,
        actor: &Actor,
        key: &SigningKeyRecord,
        ctx: &RequestContext,
    ) -> keyward_store::LogRecord {
        let mut r = self.audit(action, actor, ctx);
        r.details = Some(serde_json::json!({"kid": key.kid, "algorithm": key.algorithm}));
        r
    }

    pub(crate) async fn reload_signing_keys(&self) -> ServiceResult<()> {
        *self.tokens().last_reload.lock() = Some(self.now());
        let records = self.store().signing_keys().await?;
        let set = KeySet::load(&records, &self.tokens().sealer)?;
        *self.tokens().keys.write() = Arc::new(set);
        Ok(())
    }

    pub(crate) async fn reload_denylist(&self) -> ServiceResult<()> {
        let revoked = self.store().revoked_tokens(self.now()).await?;
        let mut denylist = self.tokens().denylist.write();
        for r in revoked {
            denylist.insert(r.jti.into(), r.expires_at);
        }
        drop(denylist);
        self.tokens().verified.denylist_changed();
        Ok(())
    }

    /// A token revoked here or on another node: refused on this node until `until`.
    pub(crate) fn denylist_token(&self, jti: &str, until: DateTime<Utc>) {
        self.tokens().denylist.write().insert(jti.into(), until);
        self.tokens().verified.denylist_changed();
    }

    /// The latest an access token issued now could still be valid (for denylist entries learnt
    /// from another node, which come without the token's expiry).
    pub(crate) fn longest_token_life(&self) -> DateTime<Utc> {
        self.now() + chrono::Duration::seconds(self.config().access_token_ttl_seconds as i64)
    }

    /// The issuer (`iss`) of tokens and the RFC 8414 document: the configured `issuer`, else
    /// the server's own base URL.
    pub fn issuer(&self) -> String {
        if let Some(issuer) = &self.config().issuer {
            return issuer.trim_end_matches('/').to_string();
        }
        match self.tokens().base_url.get() {
            Some(url) => url.clone(),
            None => format!("http://{}", self.config().listen),
        }
    }

    /// Tells the node its own base URL once it listens (the default issuer).
    pub fn set_base_url(&self, url: String) {
        let _ = self.tokens().base_url.set(url.trim_end_matches('/').to_string());
    }

    /// The public signing keys: the current one and the retired ones.
    pub fn jwks(&self) -> Vec<Jwk> {
        let keys = self.tokens().keys.read().clone();
        keys.public.iter().map(|k| Jwk { kid: k.kid.clone(), x: k.x.clone(), y: k.y.clone() }).collect()
    }

    pub async fn list_signing_keys(&self, _proof: &SigningKeyManagement) -> ServiceResult<Vec<SigningKeyInfo>> {
        let records = self.store().signing_keys().await?;
        let set = KeySet::load(&records, &self.tokens().sealer)?;
        Ok(set.public.iter().map(|k| SigningKeyInfo::from(k.as_ref())).collect())
    }

    /// Makes a new signing key current; the old one signs no more but stays published.
    pub async fn rotate_signing_key(
        &self,
        proof: &SigningKeyManagement,
        ctx: &RequestContext,
    ) -> ServiceResult<SigningKeyInfo> {
        let record = signing::generate(&self.tokens().sealer, self.now())?;
        let audit = self.signing_audit("signing_key.rotated", proof.actor(), &record, ctx);
        if !self.store().insert_signing_key(&record, true, &audit).await? {
            return Err(ServiceError::Conflict("another rotation happened at the same moment; try again".into()));
        }
        self.reload_signing_keys().await?;
        let keys = self.tokens().keys.read().clone();
        let info = keys.by_kid.get(&record.kid).map(|k| SigningKeyInfo::from(k.as_ref()));
        info.ok_or_else(|| ServiceError::Internal("the new signing key was not found after the rotation".into()))
    }

    /// Signs claims with the current key.
    fn sign<T: serde::Serialize>(&self, typ: &str, claims: &T) -> ServiceResult<String> {
        let keys = self.tokens().keys.read().clone();
        let current =
            keys.current.as_ref().ok_or_else(|| ServiceError::Internal("no current token-signing key".into()))?;
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(typ.into());
        header.kid = Some(current.kid.clone());
        jsonwebtoken::encode(&header, claims, &current.encoding)
            .map_err(|e| ServiceError::Internal(format!("cannot sign a token: {e}")))
    }

    /// A jwt-format key's secret: a JWS naming the key, with a fresh random `jti`, and the keyed
    /// hash of that `jti` (what the key record stores).
    pub(crate) fn jwt_key_secret(
        &self,
        key_id: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> ServiceResult<(String, SecretHash)> {
        let jti = random_base62(&mut rand::thread_rng(), JTI_LEN);
        let claims = KeyClaims {
            iss: self.issuer(),
            sub: key_id.into(),
            iat: self.now().timestamp(),
            exp: expires_at.map(|e| e.timestamp()),
            jti,
        };
        let jws = self.sign(KEY_TYP, &claims)?;
        Ok((jws, self.inner.hasher.hash(&claims.jti)))
    }

    fn may_reload(&self) -> bool {
        let last = *self.tokens().last_reload.lock();
        last.is_none_or(|t| self.now() - t >= RELOAD_INTERVAL)
    }

    /// Authenticates an OAuth client: the key id and its whole secret (opaque or jwt-format).
    async fn authenticate_client(&self, client: ClientCredentials<'_>, ctx: &RequestContext) -> ServiceResult<Verdict> {
        let now = self.now();
        let query = VerifyQuery {
            key: client.client_secret,
            permission: None,
            target: None,
            client_ip: ctx.client_ip,
            request: None,
        };
        if looks_like_jws(client.client_secret) {
            return self.verify_jws(&query, client.client_secret, Some(client.client_id), true, now).await;
        }
        let pair = format!("{}:{}", client.client_id, client.client_secret);
        self.verify(VerifyQuery { key: &pair, ..query }).await
    }

    /// RFC 6749 §4.4: an access token for a key, narrowed to `scope` when one is asked for.
    pub async fn issue_token(
        &self,
        client: ClientCredentials<'_>,
        scope: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<IssuedToken, OAuthError> {
        let verdict = self.authenticate_client(client, ctx).await?;
        let result = self.issue_for(&verdict, scope);
        let code = match &result {
            Ok(_) => "valid",
            Err(OAuthError::InvalidClient) => "invalid_client",
            Err(OAuthError::UnauthorizedClient(_)) => verdict.code.as_str(),
            Err(OAuthError::InvalidScope(_)) => "invalid_scope",
            Err(_) => "error",
        };
        self.inner.usage.record(UsageEvent {
            time: verdict.time,
            action: "token.issued",
            key: verdict.key.as_ref(),
            code,
            permission: None,
            target: None,
            client_ip: ctx.client_ip,
            success: result.is_ok(),
        });
        result
    }

    fn issue_for(&self, verdict: &Verdict, scope: Option<&str>) -> Result<IssuedToken, OAuthError> {
        let entry = match (verdict.code, &verdict.key) {
            (VerifyCode::Valid, Some(entry)) => entry,
            (VerifyCode::OwnerDisabled, _) => {
                return Err(OAuthError::UnauthorizedClient("the key's owner is disabled".into()))
            }
            (VerifyCode::IpNotAllowed, _) => {
                return Err(OAuthError::UnauthorizedClient("the key may not be used from this client address".into()))
            }
            _ => return Err(OAuthError::InvalidClient),
        };
        let requested = match scope {
            Some(s) => Some(parse_scope(s).map_err(|e| OAuthError::InvalidScope(e.to_string()))?),
            None => None,
        };
        let scope = grant_scope(requested, &entry.grants).map_err(|e| match e {
            ScopeError::Malformed(m) | ScopeError::Beyond(m) => OAuthError::InvalidScope(m),
        })?;
        let ttl = self.config().access_token_ttl_seconds;
        let iat = verdict.time.to_datetime().timestamp();
        let issuer = self.issuer();
        let claims = AccessClaims {
            iss: issuer.clone(),
            sub: entry.id.to_string(),
            aud: issuer,
            exp: iat + ttl as i64,
            iat,
            jti: random_base62(&mut rand::thread_rng(), JTI_LEN),
            client_id: entry.id.to_string(),
            scope: format_scope(&scope),
        };
        let access_token = self.sign(ACCESS_TOKEN_TYP, &claims)?;
        Ok(IssuedToken { access_token, expires_in: ttl, scope: claims.scope })
    }

    /// RFC 7662: is this access token or API key usable now, and what is it? Networks are not
    /// part of the answer (the caller states no client address): a network-restricted key is
    /// active, and checked for its network where it is used.
    pub async fn introspect(&self, token: &str) -> ServiceResult<Introspection> {
        let query = VerifyQuery { key: token, permission: None, target: None, client_ip: None, request: None };
        let verdict = self.verify(query).await?;
        let active = matches!(verdict.code, VerifyCode::Valid | VerifyCode::IpNotAllowed);
        self.inner.usage.record(UsageEvent {
            time: verdict.time,
            action: "token.introspected",
            key: verdict.key.as_ref(),
            code: if active { "active" } else { verdict.code.as_str() },
            permission: None,
            target: None,
            client_ip: None,
            success: false,
        });
        let (true, Some(entry)) = (active, verdict.key) else {
            return Ok(Introspection::default());
        };
        let mut answer = Introspection {
            active: true,
            client_id: Some(entry.id.to_string()),
            sub: Some(entry.id.to_string()),
            username: Some(entry.owner_email.clone()),
            ..Introspection::default()
        };
        let verified = if looks_like_jws(token) { self.verified(token).await } else { None };
        match verified.as_ref().map(|t| &t.claims) {
            Some(Claims::Access { claims, .. }) => {
                answer.scope = Some(claims.scope.clone());
                answer.exp = Some(claims.exp);
                answer.iat = Some(claims.iat);
                answer.iss = Some(claims.iss.clone());
                answer.aud = Some(claims.aud.clone());
                answer.jti = Some(claims.jti.clone());
                answer.token_type = Some("Bearer");
            }
            other => {
                let perms: Vec<Permission> = entry.grants.iter().map(|g| g.permission.clone()).collect();
                answer.scope = Some(format_scope(&perms));
                answer.exp = entry.expires_at.map(|e| e.timestamp());
                if let Some(Claims::Key { claims, .. }) = other {
                    answer.iat = Some(claims.iat);
                    answer.iss = Some(claims.iss.clone());
                }
                answer.token_type = Some("api_key");
            }
        }
        Ok(answer)
    }

    /// RFC 7009: the client revokes one of its own access tokens. Anything else (an unknown,
    /// malformed or expired token, another client's token, an API key) changes nothing and is
    /// not an error.
    pub async fn revoke_token(
        &self,
        client: ClientCredentials<'_>,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<(), OAuthError> {
        let verdict = self.authenticate_client(client, ctx).await?;
        let entry = match (verdict.code, &verdict.key) {
            (VerifyCode::Valid | VerifyCode::OwnerDisabled | VerifyCode::IpNotAllowed, Some(entry)) => entry.clone(),
            _ => return Err(OAuthError::InvalidClient),
        };
        if !looks_like_jws(token) {
            return Ok(());
        }
        let verified = self.verified(token).await;
        let Some(Claims::Access { claims, .. }) = verified.as_ref().map(|t| &t.claims) else {
            return Ok(());
        };
        let now = verdict.time.to_datetime();
        let expires_at = DateTime::<Utc>::from_timestamp(claims.exp, 0).unwrap_or(now);
        if claims.client_id != entry.id.as_str() || expires_at <= now {
            return Ok(());
        }
        let revoked = RevokedToken { jti: claims.jti.clone(), key_id: entry.id.clone(), expires_at, revoked_at: now };
        let actor = Actor::Key { id: entry.id.clone(), owner_email: entry.owner_email.clone() };
        let mut audit = self.audit("token.revoked", &actor, ctx);
        audit.key_id = Some(entry.id.clone());
        audit.key_owner_id = Some(entry.owner_id.clone());
        audit.details = Some(serde_json::json!({"jti": claims.jti}));
        self.store().revoke_token(&revoked, &audit).await.map_err(ServiceError::from)?;
        self.denylist_token(&claims.jti, expires_at);
        Ok(())
    }
}

/// The JWS names a key this node does not know (yet).
struct UnknownKid;
