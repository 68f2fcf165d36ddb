//! Configuration: defaults, then the TOML file, then `KEYWARD_<KEY>` environment overrides;
//! parsed once into [`Config`] and passed explicitly (no globals, so tests run many
//! differently configured servers side by side).

use keyward_domain::catalog::{Catalog, RoleDef, ScopeDef};
use keyward_domain::key::ExpiryRules;
use keyward_domain::policy::PolicySettings;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The configuration file's keys (SPEC §7). Unknown keys are an error naming the key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: String,
    pub database_url: String,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub key_prefix: String,
    pub default_lifetime_days: u32,
    pub max_lifetime_days: Option<u32>,
    pub allow_never_expire: bool,
    pub allow_key_rename: bool,
    pub max_networks: usize,
    pub superadmin_can_issue_keys: bool,
    pub access_token_ttl_seconds: u64,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub usage_retention_days: u32,
    pub issuer: Option<String>,
    pub pepper_file: Option<PathBuf>,
    /// How long a login session lasts, in hours.
    pub session_ttl_hours: u32,
    /// Failed logins allowed per account (and ×4 per client address) in `login_throttle_window_seconds`.
    pub login_max_failures: u32,
    pub login_throttle_window_seconds: u64,
    /// Keys the verification cache holds at most (each a few hundred bytes; see
    /// docs/BENCHMARKS.md); a key beyond it is read from the store when checked.
    pub cache_capacity: usize,
    /// Record every data-plane check in the usage log.
    pub usage_log: bool,
    /// Distinct usage records waiting to be written at most (identical checks share one); beyond
    /// that, checks are dropped from the usage log and counted.
    pub usage_queue_capacity: usize,
    /// This node's name in usage records (default: host name and process id).
    pub node_name: Option<String>,
    /// How far a signed request's `created` may be from the server's clock, in seconds
    /// (RFC 9421 signatures; also how long a nonce is remembered).
    pub signature_max_skew_seconds: u32,
    /// The most keys one `GET /v1/keys` request examines when it walks the keys newest first
    /// testing each against the filters (a `?q=` shorter than three characters, a status, a
    /// large expiry range); a page that reaches it is short (even empty) with a `next_cursor`
    /// that resumes the search. Bounds the time of one request (about 15 ms at the default).
    pub list_walk_limit: u32,
    pub scopes: Option<Vec<ScopeDef>>,
    pub roles: Vec<RoleDef>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://keyward.db".into(),
            tls_cert: None,
            tls_key: None,
            key_prefix: "kw".into(),
            default_lifetime_days: 180,
            max_lifetime_days: None,
            allow_never_expire: true,
            allow_key_rename: true,
            max_networks: 10,
            superadmin_can_issue_keys: false,
            access_token_ttl_seconds: 3600,
            trusted_proxies: vec!["127.0.0.1/32".parse().unwrap_or_else(|_| unreachable!())],
            usage_retention_days: 90,
            issuer: None,
            pepper_file: None,
            session_ttl_hours: 12,
            login_max_failures: 5,
            login_throttle_window_seconds: 900,
            cache_capacity: 1_000_000,
            usage_log: true,
            usage_queue_capacity: 65_536,
            node_name: None,
            signature_max_skew_seconds: 300,
            list_walk_limit: keyward_store::DEFAULT_LIST_WALK_LIMIT,
            scopes: None,
            roles: Vec::new(),
        }
    }
}

/// A configuration that cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

const TOP_LEVEL_KEYS: &[&str] = &[
    "listen",
    "database_url",
    "tls_cert",
    "tls_key",
    "key_prefix",
    "default_lifetime_days",
    "max_lifetime_days",
    "allow_never_expire",
    "allow_key_rename",
    "max_networks",
    "superadmin_can_issue_keys",
    "access_token_ttl_seconds",
    "trusted_proxies",
    "usage_retention_days",
    "issuer",
    "pepper_file",
    "session_ttl_hours",
    "login_max_failures",
    "login_throttle_window_seconds",
    "cache_capacity",
    "usage_log",
    "usage_queue_capacity",
    "node_name",
    "signature_max_skew_seconds",
    "list_walk_limit",
    "scopes",
    "roles",
];

impl Config {
    /// Loads the file (if any), applies `KEYWARD_*` overrides from `env`, validates.
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
                text.parse::<toml::Table>().map_err(|e| ConfigError(format!("{}: {e}", path.display())))?
            }
            None => toml::Table::new(),
        };
        for key in TOP_LEVEL_KEYS {
            let var = format!("KEYWARD_{}", key.to_uppercase());
            if let Some(raw) = env(&var) {
                table.insert((*key).to_string(), env_value(&raw));
            }
        }
        let config: Config =
            toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| ConfigError(e.message().to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        keyward_domain::secret::validate_prefix(&self.key_prefix)
            .map_err(|e| ConfigError(format!("key_prefix: {e}")))?;
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError("tls_cert and tls_key must be set together".into()));
        }
        if self.default_lifetime_days == 0 {
            return Err(ConfigError("default_lifetime_days must be at least 1".into()));
        }
        if let Some(max) = self.max_lifetime_days {
            if max < self.default_lifetime_days {
                return Err(ConfigError("max_lifetime_days is below default_lifetime_days".into()));
            }
        }
        if self.max_networks > 1000 {
            return Err(ConfigError("max_networks must be at most 1000".into()));
        }
        if self.session_ttl_hours == 0 || self.login_max_failures == 0 {
            return Err(ConfigError("session_ttl_hours and login_max_failures must be at least 1".into()));
        }
        if !(1..=86_400).contains(&self.signature_max_skew_seconds) {
            return Err(ConfigError("signature_max_skew_seconds must be between 1 and 86400".into()));
        }
        if self.cache_capacity == 0 || self.usage_queue_capacity == 0 {
            return Err(ConfigError("cache_capacity and usage_queue_capacity must be at least 1".into()));
        }
        if self.list_walk_limit == 0 {
            return Err(ConfigError("list_walk_limit must be at least 1".into()));
        }
        self.catalog()?;
        Ok(())
    }

    /// The catalog this configuration describes: its scopes, or the example catalog.
    pub fn catalog(&self) -> Result<Catalog, ConfigError> {
        let (scopes, mut roles) = match &self.scopes {
            Some(scopes) => (scopes.clone(), Vec::new()),
            None => Catalog::example_scopes(),
        };
        roles.extend(self.roles.iter().cloned());
        Catalog::new(scopes, roles).map_err(ConfigError)
    }

    /// This node's name: `node_name`, else `<host name>-<process id>`.
    pub fn node(&self) -> String {
        self.node_name.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            let host = host.trim();
            format!("{}-{}", if host.is_empty() { "keyward" } else { host }, std::process::id())
        })
    }

    pub fn expiry_rules(&self) -> ExpiryRules {
        ExpiryRules {
            default_lifetime_days: self.default_lifetime_days,
            max_lifetime_days: self.max_lifetime_days,
            allow_never_expire: self.allow_never_expire,
        }
    }

    pub fn policy(&self) -> PolicySettings {
        PolicySettings { superadmin_can_issue_keys: self.superadmin_can_issue_keys }
    }

    /// The SQLite file the database URL names, if it names one.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let rest = self.database_url.strip_prefix("sqlite:")?;
        let rest = rest.trim_start_matches("//");
        let path = rest.split('?').next().unwrap_or(rest);
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }
}

/// An environment value as TOML when it parses as one (`10`, `true`, `["a"]`), else a string.
fn env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.toml");
        std::fs::write(&path, text).unwrap();
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::load(Some(&path), |k| env.get(k).cloned())
    }

    #[test]
    fn defaults_without_a_file() {
        let c = Config::load(None, |_| None).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://keyward.db");
        assert_eq!(c.sqlite_path(), Some(PathBuf::from("keyward.db")));
        assert!(c.catalog().unwrap().role("cloud_account_viewer").is_some());
    }

    #[test]
    fn the_documented_example_configuration_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/keyward.example.toml");
        let c = Config::load(Some(&path), |_| None).unwrap();
        let defaults = Config::default();
        assert_eq!((c.listen.as_str(), c.max_networks, c.session_ttl_hours), (defaults.listen.as_str(), 10, 12));
        assert!(c.catalog().unwrap().role("cloud_account_viewer").unwrap().requires_targets);
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = load("lisen = \"x\"", &[]).unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    #[test]
    fn env_overrides_the_file() {
        let c = load(
            "listen = \"127.0.0.1:1\"\nmax_networks = 3",
            &[
                ("KEYWARD_LISTEN", "127.0.0.1:2"),
                ("KEYWARD_ALLOW_NEVER_EXPIRE", "false"),
                ("KEYWARD_TRUSTED_PROXIES", "[\"10.0.0.0/8\"]"),
            ],
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:2");
        assert_eq!(c.max_networks, 3);
        assert!(!c.allow_never_expire);
        assert_eq!(c.trusted_proxies[0].to_string(), "10.0.0.0/8");
    }

    #[test]
    fn scopes_replace_the_example_catalog() {
        let c = load("[[scopes]]\nname = \"billing\"\nresources = [\"invoices\"]\n\n[[roles]]\nname = \"biller\"\npermissions = [\"billing.*:write\"]\n", &[]).unwrap();
        let catalog = c.catalog().unwrap();
        assert!(catalog.check_permission(&"billing.invoices:read".parse().unwrap()).is_ok());
        assert!(catalog.check_permission(&"events.alerts:read".parse().unwrap()).is_err());
        assert!(catalog.check_permission(&"keyward.keys:read".parse().unwrap()).is_ok());
        assert!(catalog.role("biller").is_some() && catalog.role("global_viewer").is_some());
        assert!(load("[[roles]]\nname = \"r\"\npermissions = [\"nope.x:read\"]\n", &[]).is_err());
        assert!(load("key_prefix = \"BAD\"", &[]).is_err());
        assert!(load("tls_cert = \"a.pem\"", &[]).is_err());
    }

    #[test]
    fn the_list_walk_limit_defaults_to_the_stores_and_is_at_least_one() {
        assert_eq!(Config::default().list_walk_limit, keyward_store::DEFAULT_LIST_WALK_LIMIT);
        assert_eq!(load("", &[("KEYWARD_LIST_WALK_LIMIT", "7")]).unwrap().list_walk_limit, 7);
        let err = load("list_walk_limit = 0", &[]).unwrap_err();
        assert!(err.to_string().contains("list_walk_limit"), "{err}");
    }
}
