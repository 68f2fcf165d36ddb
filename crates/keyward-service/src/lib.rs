//! Keyward's service API: the one surface the HTTP server, the command line and the console
//! call. It authenticates callers into a [`Principal`], asks the policy for a proof of access,
//! validates input against the catalog and configuration, writes through the store with an audit
//! record, and keeps the verification cache coherent.
//!
//! # Layout
//! - [`config`] — the typed configuration.
//! - [`auth`] — login, sessions, and turning a credential into a [`Principal`].
//! - [`admins`], [`keys`], [`logs`]: the management operations.
//! - [`verify`] — the data plane (`/v1/verify`, forward-auth), served from [`cache`].
//! - [`signing`] — verify keys of API keys and the signature step of signed requests.
//! - [`tokens`] — OAuth access tokens, introspection, revocation, the signing keys and JWKS.
//! - [`usage`] — coalesced `last_used_at` updates, off the hot path.
//!
//! Architecture invariant: nothing here knows HTTP. Requests arrive as plain values and a
//! [`RequestContext`]; answers are domain values or a [`ServiceError`].

pub mod admins;
pub mod auth;
pub mod cache;
mod coherence;
pub mod config;
pub mod error;
pub mod keys;
pub mod logs;
pub mod metrics;
mod pepper;
pub mod signing;
mod throttle;
pub mod tokens;
pub mod usage;
pub mod verify;

pub use config::Config;
pub use error::{ServiceError, ServiceResult};
pub use keyward_domain::policy::Principal;
/// Records the service returns, as they come from storage.
pub use keyward_store::{ChainReport, KeyStats, LogKind, LogRecord, Page};

use keyward_domain::catalog::Catalog;
use keyward_domain::clock::{Clock, SystemClock};
use keyward_domain::policy::Actor;
use keyward_domain::secret::SecretHasher;
use keyward_store::Store;
use std::net::IpAddr;
use std::sync::Arc;

/// Facts about the request that are not its body: where it came from (for audit records and
/// network checks).
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub client_ip: Option<IpAddr>,
}

/// One Keyward node. Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct Keyward {
    inner: Arc<Inner>,
}

struct Inner {
    /// The database; the only source of truth. Every node of a cluster shares it.
    store: Arc<dyn Store>,
    /// Configuration, fixed for the node's lifetime.
    config: Config,
    /// The catalog the configuration describes.
    catalog: Catalog,
    /// HMAC keyed with the pepper, cloned per hash instead of re-keyed.
    hasher: SecretHasher,
    /// Where "now" comes from (a manual clock in tests).
    clock: Arc<dyn Clock>,
    /// Verification snapshots of keys and owners; invalidated by every write of this node.
    cache: cache::VerifyCache,
    /// Failed-login counters per account and per address.
    throttle: throttle::LoginThrottle,
    /// The usage log's queue and counters; written in the background.
    usage: usage::UsageLog,
    /// Data-plane counters for `/metrics`.
    counters: metrics::Counters,
    /// Signing keys, verified tokens and the revoked-token denylist.
    tokens: tokens::Tokens,
    /// Changes to one key are applied one at a time on this node (striped by key id), so the
    /// store's optimistic version check only has to resolve races between nodes.
    key_locks: Vec<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Keyward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyward").field("backend", &self.inner.store.backend()).finish_non_exhaustive()
    }
}

/// What starting a node did that its operator must know.
#[derive(Debug, Default)]
pub struct StartupReport {
    /// The generated password of a bootstrap superadmin, to be printed once to the terminal.
    pub bootstrap_password: Option<String>,
    pub bootstrap_email: Option<String>,
    /// Warnings to log (never containing secrets).
    pub warnings: Vec<String>,
}

/// How a node is assembled; tests replace the clock.
pub struct Options {
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    /// `KEYWARD_PEPPER`, `KEYWARD_BOOTSTRAP_EMAIL`, `KEYWARD_BOOTSTRAP_PASSWORD` come from here.
    pub env: Box<EnvLookup>,
    /// Start as a serving node: load the token-signing keys (creating the first one on a new
    /// database; failing when the pepper cannot decrypt them) and create the bootstrap
    /// superadmin on an empty database. The server does; the command line working on the
    /// database directly does not (its admin is the first one, and it signs no tokens).
    pub bootstrap: bool,
}

/// Reads an environment variable (a map in tests).
pub type EnvLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

impl Options {
    pub fn new(config: Config) -> Self {
        Options { config, clock: Arc::new(SystemClock), env: Box::new(|k| std::env::var(k).ok()), bootstrap: true }
    }
}

impl Keyward {
    /// Opens the database (running migrations), loads or creates the pepper, and creates the
    /// bootstrap superadmin on an empty database.
    pub async fn start(options: Options) -> ServiceResult<(Keyward, StartupReport)> {
        let Options { config, clock, env, bootstrap } = options;
        let catalog = config.catalog().map_err(|e| ServiceError::Internal(e.to_string()))?;
        let store_options = keyward_store::StoreOptions { list_walk_limit: config.list_walk_limit };
        let store = keyward_store::open_with(&config.database_url, store_options).await?;
        let mut report = StartupReport::default();
        let pepper = pepper::load(&config, store.as_ref(), env.as_ref(), &mut report.warnings).await?;
        let cache = cache::VerifyCache::new(config.cache_capacity);
        let usage = usage::UsageLog::new(config.usage_log, config.usage_queue_capacity, config.node());
        let keyward = Keyward {
            inner: Arc::new(Inner {
                store,
                hasher: pepper.hasher(),
                tokens: tokens::Tokens::new(&pepper),
                throttle: throttle::LoginThrottle::new(
                    config.login_max_failures,
                    chrono::Duration::seconds(config.login_throttle_window_seconds as i64),
                ),
                config,
                catalog,
                clock,
                cache,
                usage,
                counters: metrics::Counters::default(),
                key_locks: (0..64).map(|_| tokio::sync::Mutex::new(())).collect(),
            }),
        };
        if bootstrap {
            keyward.start_tokens().await?;
            keyward.bootstrap(env.as_ref(), &mut report).await?;
        }
        Ok((keyward, report))
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// Now, to the millisecond: storage keeps milliseconds, so every time a client sees is the
    /// same whether it was just written or read back.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        use chrono::SubsecRound;
        self.inner.clock.now().trunc_subsecs(3)
    }

    /// Is the database reachable?
    pub async fn ready(&self) -> ServiceResult<&'static str> {
        self.inner.store.ping().await?;
        Ok(self.inner.store.backend())
    }

    /// How many keys the verification cache holds (for metrics and tests).
    pub fn cached_keys(&self) -> usize {
        self.inner.cache.len()
    }

    fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// A new audit record stamped now.
    fn audit(&self, action: &str, actor: &Actor, ctx: &RequestContext) -> LogRecord {
        let time = self.now();
        LogRecord {
            id: keyward_domain::ids::log_record_id(&mut rand::thread_rng(), time.timestamp_millis()),
            time,
            kind: LogKind::Audit,
            action: action.into(),
            key_id: None,
            key_owner_id: None,
            subject_admin_id: None,
            actor: actor.clone(),
            client_ip: ctx.client_ip.map(|ip| keyward_domain::network::canonical(ip).to_string()),
            code: None,
            permission: None,
            target: None,
            node: None,
            details: None,
        }
    }
}
