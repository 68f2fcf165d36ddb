//! `keyward admins create --config FILE | --database-url URL`: creates an
//! administrator directly in the database, with no server running (for
//! bootstrapping and recovery).
//!
//! A placeholder so the command line compiles; the server author replaces
//! [`create_admin`] with the real implementation on the store.

use keyward_domain::catalog::GrantInput;
use keyward_service::admins::NewAdmin;
use keyward_service::{Config, Keyward, Options};
use std::fmt;
use std::path::PathBuf;

/// The administrator to create, as given on the command line.
pub struct LocalAdmin {
    pub email: String,
    pub name: String,
    /// `admin` or `superadmin`.
    pub role: String,
    pub can_manage_keys: bool,
    /// The admin's privileges, each in the CLI's `PERM` or `PERM@T1,T2` syntax;
    /// `crate::grant::GrantSpec::parse(p)?.to_json("permission")` gives the API's
    /// grant object.
    pub permissions: Vec<String>,
    /// The plain password, to be hashed before it is stored.
    pub password: String,
}

/// Never shows the password.
impl fmt::Debug for LocalAdmin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalAdmin")
            .field("email", &self.email)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("can_manage_keys", &self.can_manage_keys)
            .field("permissions", &self.permissions)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Starts a node on the database named by `database_url` or by the configuration file, without
/// creating a bootstrap admin.
async fn open_locally(config: Option<PathBuf>, database_url: Option<String>) -> anyhow::Result<Keyward> {
    let mut config = Config::load(config.as_deref(), |k| std::env::var(k).ok())?;
    if let Some(url) = database_url {
        config.database_url = url;
    }
    let mut options = Options::new(config);
    options.bootstrap = false;
    Ok(Keyward::start(options).await?.0)
}

/// `keyward audit verify`: walks the audit hash chain; fails when it is broken.
pub async fn verify_audit_chain(
    config: Option<PathBuf>,
    database_url: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let keyward = open_locally(config, database_url).await?;
    let report = keyward.verify_audit_chain().await?;
    if json {
        let first_break = report
            .first_break
            .as_ref()
            .map(|b| serde_json::json!({"position": b.position, "record_id": b.record_id, "reason": b.reason}));
        println!(
            "{}",
            serde_json::json!({"records": report.records, "intact": first_break.is_none(), "first_break": first_break})
        );
    }
    match report.first_break {
        None => {
            if !json {
                println!("audit chain intact: {} records checked", report.records);
            }
            Ok(())
        }
        Some(b) => anyhow::bail!(
            "audit chain broken at record {} of {} checked (id {}): {}",
            b.position,
            report.records,
            b.record_id,
            b.reason
        ),
    }
}

/// Creates the administrator in the database named by `database_url` or by the
/// configuration file, and returns it as the API's admin JSON.
pub async fn create_admin(
    config: Option<PathBuf>,
    database_url: Option<String>,
    input: LocalAdmin,
) -> anyhow::Result<serde_json::Value> {
    let keyward = open_locally(config, database_url).await?;
    let permissions = input
        .permissions
        .iter()
        .map(|p| {
            let spec = crate::grant::GrantSpec::parse(p).map_err(anyhow::Error::msg)?;
            Ok(serde_json::from_value(spec.to_json("permission"))?)
        })
        .collect::<anyhow::Result<Vec<GrantInput>>>()?;
    let admin = keyward
        .create_admin_locally(NewAdmin {
            email: input.email,
            name: input.name,
            password: input.password,
            role: input.role,
            can_manage_keys: input.can_manage_keys,
            permissions,
        })
        .await?;
    Ok(serde_json::to_value(keyward_server::dto::AdminDto::from(&admin))?)
}
