//! The command-line grammar of `keyward` (clap derive).
//!
//! Kept apart from the commands so the grammar can be read (and tested with
//! `try_parse_from`) in one place. No secret is ever accepted as an argument:
//! passwords come from stdin, the environment or a prompt, so they never land
//! in shell history or in the process list.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::grant::GrantSpec;

/// Where the client connects when neither `--server`, `KEYWARD_SERVER` nor a
/// saved login names a server.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

#[derive(Debug, Parser)]
#[command(
    name = "keyward",
    version,
    about = "Keyward: self-hosted API key management (server and command-line client)",
    propagate_version = true
)]
pub struct Cli {
    /// Base URL of the Keyward server [default: the server saved at login, else http://127.0.0.1:8080]
    #[arg(long, global = true, env = "KEYWARD_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// Print the server's JSON response (pretty-printed) instead of a table
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Keyward server
    Serve {
        /// Configuration file (TOML)
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Log in as an administrator and save the session
    Login(LoginArgs),
    /// End the saved session and forget it
    Logout,
    /// Show the administrator you are acting as
    Whoami,
    /// Change your own password (the current one is required)
    Password(PasswordArgs),
    /// Manage API keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage administrators (superadmin)
    #[command(subcommand)]
    Admins(AdminsCommand),
    /// Check the audit log (works on the database directly; no server needed)
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Sign an HTTP request (RFC 9421, ecdsa-p256-sha256) for a key with a verify key: print
    /// the headers to add (e.g. `curl -H @headers.txt`), or send the request with --send
    Sign(SignArgs),
    /// Get an OAuth 2.0 access token for a key (client credentials)
    Token(TokenArgs),
    /// List or rotate the instance's token-signing keys (superadmin)
    #[command(subcommand)]
    SigningKeys(SigningKeysCommand),
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The key's P-256 private key (PEM: PKCS#8 or `EC PRIVATE KEY`)
    #[arg(long, value_name = "FILE")]
    pub key_file: PathBuf,
    /// The key id (the signature's `keyid`)
    #[arg(long, value_name = "ID")]
    pub key_id: String,
    /// The request method [default: GET, or POST with --data]
    #[arg(long, short = 'X', value_name = "M")]
    pub method: Option<String>,
    /// The request body: a string, or @FILE to read it from a file (covered by Content-Digest)
    #[arg(long, short = 'd', value_name = "@FILE|STRING")]
    pub data: Option<String>,
    /// A header to send (repeatable), e.g. 'Content-Type: application/json'
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Send the request and print the answer, instead of printing the headers. The
    /// credential is KEYWARD_API_KEY unless an Authorization header is given
    #[arg(long)]
    pub send: bool,
    /// The absolute URL of the request (what @target-uri covers)
    pub url: String,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The key id (OAuth client_id)
    #[arg(long, value_name = "KEY_ID")]
    pub client_id: String,
    /// Space-separated permissions the token is narrowed to [default: all of the key's]
    #[arg(long)]
    pub scope: Option<String>,
    /// Read the key's secret from this file [default: env KEYWARD_CLIENT_SECRET]
    #[arg(long, value_name = "FILE", conflicts_with = "secret_stdin")]
    pub secret_file: Option<PathBuf>,
    /// Read the key's secret from standard input
    #[arg(long)]
    pub secret_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum SigningKeysCommand {
    /// The current signing key and the retired ones (still published in the JWKS)
    List,
    /// Make a new key sign from now on; the old one stays published
    Rotate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Signing {
    /// The server makes a P-256 key pair and returns the private key once
    Generate,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the audit hash chain and report the first record that was altered, removed or
    /// inserted (exit code 1 when the chain is broken)
    Verify(DatabaseArgs),
}

/// Where a command that works without a server finds the database.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// Configuration file naming the database (TOML, as for `keyward serve`)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL (overrides the configuration; default: env KEYWARD_DATABASE_URL, else sqlite://keyward.db)
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Administrator email (prompted for when omitted)
    #[arg(long)]
    pub email: Option<String>,
    /// Read the password from standard input [default: env KEYWARD_PASSWORD, else a prompt]
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read two lines from standard input: the current password, then the new one [default:
    /// env KEYWARD_PASSWORD and KEYWARD_ADMIN_PASSWORD, else prompts]
    #[arg(long)]
    pub password_stdin: bool,
}

/// When a key expires. At most one of these may be given.
#[derive(Debug, Default, Args)]
#[group(multiple = false)]
pub struct ExpiryArgs {
    /// Lifetime in days from now
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub lifetime_days: Option<u32>,
    /// Expiry time (RFC 3339, e.g. 2030-01-31T00:00:00Z)
    #[arg(long, value_name = "RFC3339", value_parser = parse_rfc3339)]
    pub expires_at: Option<String>,
    /// The key never expires
    #[arg(long)]
    pub never_expires: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyFormat {
    Opaque,
    Jwt,
}

impl KeyFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opaque => "opaque",
            Self::Jwt => "jwt",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyStatus {
    All,
    Active,
    Expired,
    Revoked,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogKind {
    Audit,
    Usage,
}

impl LogKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audit => "audit",
            Self::Usage => "usage",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AdminRole {
    Admin,
    Superadmin,
}

impl AdminRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Superadmin => "superadmin",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; its secret is printed once
    Create(KeyCreateArgs),
    /// List the keys you may see
    List(KeyListArgs),
    /// Count keys by status
    Stats,
    /// Show one key
    Show { id: String },
    /// Change a key's settings (only the options given)
    Update(KeyUpdateArgs),
    /// Issue a new secret with the same settings and expiry
    Refresh {
        id: String,
        /// Keep the old secret working this many seconds (at most 7 days)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=604_800))]
        grace_period_seconds: Option<u64>,
    },
    /// New secret, new expiry and the privileges given at creation
    Regenerate { id: String },
    /// Make a key unusable at once (irreversible)
    Revoke { id: String },
    /// Revoke a key and remove it from listings
    Delete { id: String },
    /// Search the audit and usage logs of keys
    Logs(LogsArgs),
}

#[derive(Debug, Args)]
pub struct KeyCreateArgs {
    /// Key name (unique among your keys)
    #[arg(long)]
    pub name: String,
    /// Free-text description
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub expiry: ExpiryArgs,
    /// Permission grant, optionally limited to targets (repeatable)
    #[arg(long = "grant", value_name = "PERM[@T1,T2]", value_parser = GrantSpec::parse)]
    pub grants: Vec<GrantSpec>,
    /// Role, optionally limited to targets (repeatable)
    #[arg(long = "role", value_name = "ROLE[@T1,T2]", value_parser = GrantSpec::parse)]
    pub roles: Vec<GrantSpec>,
    /// Give the key exactly your own current permissions
    #[arg(long, conflicts_with_all = ["grants", "roles"])]
    pub inherit: bool,
    /// Allowed client address or CIDR (repeatable; none = any address)
    #[arg(long = "network", value_name = "CIDR")]
    pub networks: Vec<String>,
    /// Secret format
    #[arg(long, value_enum)]
    pub format: Option<KeyFormat>,
    /// Give the key a signing key pair made by the server (signed requests); the private key
    /// goes to --private-key-out, never to the terminal
    #[arg(long, value_enum, requires = "private_key_out", conflicts_with = "verify_key_file")]
    pub signing: Option<Signing>,
    /// Where to write the generated private key (created with mode 0600; never overwritten)
    #[arg(long, value_name = "FILE", requires = "signing")]
    pub private_key_out: Option<PathBuf>,
    /// Sign requests with your own key pair: its public half (PEM SPKI, or a JWK) from this file
    #[arg(long, value_name = "FILE")]
    pub verify_key_file: Option<PathBuf>,
    /// Whether write checks of the key need a signature [server default: true with a verify key]
    #[arg(long, value_name = "BOOL")]
    pub require_signed_writes: Option<bool>,
}

#[derive(Debug, Args)]
pub struct KeyListArgs {
    /// Only keys with this status
    #[arg(long, value_enum)]
    pub status: Option<KeyStatus>,
    /// Substring filter over id, name, description and owner email
    #[arg(long = "q", value_name = "TEXT")]
    pub q: Option<String>,
    /// Only keys of this owner (admin id or email)
    #[arg(long, value_name = "ID_OR_EMAIL")]
    pub owner: Option<String>,
    /// Only active keys expiring within N days
    #[arg(long, value_name = "N")]
    pub expiring_within_days: Option<u32>,
    /// Page size (server default 50, max 1000); a page may hold fewer keys, even none, and still
    /// have a next page (the server searches a bounded number of keys per request)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
    /// Continue from this cursor (from a previous page)
    #[arg(long, value_name = "C")]
    pub cursor: Option<String>,
    /// Follow the cursor and fetch every page
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct KeyUpdateArgs {
    pub id: String,
    /// New name
    #[arg(long)]
    pub name: Option<String>,
    /// New description
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub expiry: ExpiryArgs,
    /// Replace the key's grants with these (repeatable)
    #[arg(long = "grant", value_name = "PERM[@T1,T2]", value_parser = GrantSpec::parse)]
    pub grants: Vec<GrantSpec>,
    /// Remove every grant
    #[arg(long, conflicts_with = "grants")]
    pub clear_grants: bool,
    /// Replace the key's roles with these (repeatable)
    #[arg(long = "role", value_name = "ROLE[@T1,T2]", value_parser = GrantSpec::parse)]
    pub roles: Vec<GrantSpec>,
    /// Remove every role
    #[arg(long, conflicts_with = "roles")]
    pub clear_roles: bool,
    /// Whether the key has exactly your own current permissions
    #[arg(long, value_name = "BOOL")]
    pub inherit: Option<bool>,
    /// Replace the allowed networks with these (repeatable)
    #[arg(long = "network", value_name = "CIDR")]
    pub networks: Vec<String>,
    /// Allow any client address
    #[arg(long, conflicts_with = "networks")]
    pub clear_networks: bool,
    /// Set the key's verify key (signed requests) from this file: a PEM SPKI public key or a JWK
    #[arg(long, value_name = "FILE")]
    pub verify_key_file: Option<PathBuf>,
    /// Remove the key's verify key (and with it the need to sign writes)
    #[arg(long, conflicts_with = "verify_key_file")]
    pub remove_verify_key: bool,
    /// Whether write checks of the key need a signature
    #[arg(long, value_name = "BOOL")]
    pub require_signed_writes: Option<bool>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Key ids whose records to show (none: every record you may see)
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// Only audit or only usage records
    #[arg(long, value_enum)]
    pub kind: Option<LogKind>,
    /// Only this action (e.g. key.created, key.verified)
    #[arg(long, value_name = "A")]
    pub action: Option<String>,
    /// Records at or after this time (RFC 3339)
    #[arg(long, value_name = "T", value_parser = parse_rfc3339)]
    pub since: Option<String>,
    /// Records before this time (RFC 3339)
    #[arg(long, value_name = "T", value_parser = parse_rfc3339)]
    pub until: Option<String>,
    /// Page size (server default 50, max 1000)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
    /// Continue from this cursor (from a previous page)
    #[arg(long, value_name = "C", conflicts_with = "follow")]
    pub cursor: Option<String>,
    /// Keep printing new records as they arrive (polls every second; Ctrl-C stops). Starts
    /// with the newest --limit records (default 50); with --json, one record per line
    #[arg(long, short = 'f')]
    pub follow: bool,
}

#[derive(Debug, Subcommand)]
pub enum AdminsCommand {
    /// List administrators
    List,
    /// Show one administrator
    Show { id: String },
    /// Create an administrator (through the server, or directly in the database
    /// with --config / --database-url)
    Create(AdminCreateArgs),
    /// Change an administrator (only the options given)
    Update(AdminUpdateArgs),
    /// Delete an administrator and revoke all their keys
    Delete { id: String },
}

#[derive(Debug, Args)]
pub struct AdminCreateArgs {
    #[arg(long)]
    pub email: String,
    /// Display name
    #[arg(long)]
    pub name: String,
    #[arg(long, value_enum, default_value = "admin")]
    pub role: AdminRole,
    /// Allow this admin to create and manage API keys
    #[arg(long)]
    pub can_manage_keys: bool,
    /// The admin's own privilege (repeatable): the ceiling of their keys
    #[arg(long = "permission", value_name = "PERM[@T1,T2]", value_parser = GrantSpec::parse)]
    pub permissions: Vec<GrantSpec>,
    /// Read the new password from standard input
    /// [default: env KEYWARD_ADMIN_PASSWORD, else prompted twice]
    #[arg(long)]
    pub password_stdin: bool,
    /// Create directly in the database described by this configuration file (no server)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Create directly in this database (no server)
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct AdminUpdateArgs {
    pub id: String,
    /// New display name
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, value_enum)]
    pub role: Option<AdminRole>,
    /// Whether the admin may create and manage API keys
    #[arg(long, value_name = "BOOL")]
    pub can_manage_keys: Option<bool>,
    /// Replace the admin's privileges with these (repeatable)
    #[arg(long = "permission", value_name = "PERM[@T1,T2]", value_parser = GrantSpec::parse)]
    pub permissions: Vec<GrantSpec>,
    /// Remove every privilege
    #[arg(long, conflicts_with = "permissions")]
    pub clear_permissions: bool,
    /// Disable: ends their sessions and stops all their keys from verifying
    #[arg(long)]
    pub disable: bool,
    /// Enable again
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Reset the password, reading the new one from standard input
    #[arg(long)]
    pub password_stdin: bool,
    /// Reset the password (env KEYWARD_ADMIN_PASSWORD, else prompted twice)
    #[arg(long, conflicts_with = "password_stdin")]
    pub reset_password: bool,
}

/// Accepts an RFC 3339 time and keeps it as typed (the server parses it again).
fn parse_rfc3339(input: &str) -> Result<String, String> {
    chrono::DateTime::parse_from_rfc3339(input)
        .map(|_| input.to_owned())
        .map_err(|e| format!("{e} (expected RFC 3339, e.g. 2030-01-31T00:00:00Z)"))
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
