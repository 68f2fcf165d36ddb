//! Dispatch of client commands, and what they share: which server to talk to,
//! which credential to send, and how secrets are read from the user.
//!
//! Credentials: `KEYWARD_API_KEY` when set (for automation), else the token
//! saved by `keyward login`, and only for the server it was issued by, so a
//! `--server` pointing elsewhere never receives it.

pub mod admins;
pub mod auth;
pub mod keys;
pub mod sign;
pub mod tokens;

use std::io::{BufRead as _, Read as _, Write as _};
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};

use crate::cli::{Cli, Command, DEFAULT_SERVER};
use crate::client::Client;
use crate::session_file::{self, Session};

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let Cli { server, json, command } = cli;
    // Built only for client commands: `serve` reads no saved login.
    let ctx = move || Ctx::from_env(server, json);
    match command {
        Command::Serve { config } => crate::serve::run(config).await,
        Command::Login(args) => auth::login(&ctx(), args).await,
        Command::Logout => auth::logout(&ctx()).await,
        Command::Whoami => auth::whoami(&ctx()).await,
        Command::Password(args) => auth::change_password(&ctx(), args).await,
        Command::Keys(cmd) => keys::run(&ctx(), cmd).await,
        Command::Admins(cmd) => admins::run(&ctx(), cmd).await,
        Command::Sign(args) => sign::run(args).await,
        Command::Token(args) => tokens::token(&ctx(), args).await,
        Command::SigningKeys(cmd) => tokens::signing_keys(&ctx(), cmd).await,
        Command::Audit(crate::cli::AuditCommand::Verify(db)) => {
            crate::local::verify_audit_chain(db.config, db.database_url, json).await
        }
    }
}

/// What every client command needs to know about its environment.
pub struct Ctx {
    /// The server's base URL, without a trailing slash.
    pub server: String,
    /// `--json`: print the server's JSON instead of tables.
    pub json: bool,
    /// The saved login, if any.
    pub session: Option<Session>,
    /// `KEYWARD_API_KEY`, if set.
    api_key: Option<String>,
}

/// Never shows the API key or the session token.
impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("server", &self.server)
            .field("json", &self.json)
            .field("session", &self.session)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Ctx {
    /// Reads the saved login and `KEYWARD_API_KEY`, and settles the server URL.
    pub fn from_env(server_flag: Option<String>, json: bool) -> Self {
        let session = session_file::config_dir().ok().and_then(|dir| match session_file::load(&dir) {
            Ok(session) => session,
            Err(e) => {
                eprintln!("warning: ignoring the saved login: {e:#}");
                None
            }
        });
        let server = resolve_server(server_flag.as_deref(), session.as_ref());
        let api_key = std::env::var("KEYWARD_API_KEY").ok().filter(|k| !k.trim().is_empty());
        Self { server, json, session, api_key }
    }

    /// A client carrying this context's credential; with `KEYWARD_API_KEY` and
    /// `KEYWARD_SIGNING_KEY_FILE` it signs its writes (RFC 9421) with that private key.
    pub fn client(&self) -> Result<Client> {
        let token =
            select_credential(self.api_key.as_deref(), self.session.as_ref(), &self.server, chrono::Utc::now())?;
        let client = Client::new(&self.server, Some(token.to_owned()))?;
        let key_file = std::env::var_os("KEYWARD_SIGNING_KEY_FILE").filter(|f| !f.is_empty());
        match (&self.api_key, key_file) {
            (Some(api_key), Some(file)) => {
                let path = PathBuf::from(file);
                let pem = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read KEYWARD_SIGNING_KEY_FILE {}", path.display()))?;
                let key = keyward_domain::signing_key::SigningKey::from_pem(&pem)
                    .map_err(|e| anyhow::anyhow!("KEYWARD_SIGNING_KEY_FILE {}: {}", path.display(), e.message))?;
                let key_id = keyward_domain::secret::parse_presented(api_key)
                    .map_err(|_| anyhow::anyhow!("KEYWARD_API_KEY is not a Keyward API key"))?
                    .key_id
                    .to_owned();
                Ok(client.with_signer(key, key_id))
            }
            (None, Some(_)) => bail!("KEYWARD_SIGNING_KEY_FILE signs requests of KEYWARD_API_KEY, which is not set"),
            _ => Ok(client),
        }
    }

    /// A client without credential (for logging in).
    pub fn anonymous_client(&self) -> Result<Client> {
        Ok(Client::new(&self.server, None)?)
    }

    /// Whether requests authenticate with `KEYWARD_API_KEY`.
    pub fn uses_api_key(&self) -> bool {
        self.api_key.is_some()
    }
}

/// `--server`/`KEYWARD_SERVER`, else the saved login's server, else the default.
pub fn resolve_server(flag: Option<&str>, session: Option<&Session>) -> String {
    flag.map(str::trim)
        .filter(|s| !s.is_empty())
        .or(session.map(|s| s.server.as_str()))
        .unwrap_or(DEFAULT_SERVER)
        .trim_end_matches('/')
        .to_owned()
}

/// Picks the bearer credential: the API key, else a saved session that belongs
/// to `server` and has not expired.
pub fn select_credential<'a>(
    api_key: Option<&'a str>,
    session: Option<&'a Session>,
    server: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<&'a str> {
    if let Some(key) = api_key {
        return Ok(key);
    }
    let Some(session) = session else {
        bail!("not logged in: run `keyward login` (or set KEYWARD_API_KEY)");
    };
    if !same_server(&session.server, server) {
        bail!(
            "the saved login is for {}, not {server}: run `keyward login --server {server}` \
             (or set KEYWARD_API_KEY)",
            session.server
        );
    }
    if session.is_expired(now) {
        bail!("the saved login expired at {}: run `keyward login`", session.expires_at);
    }
    Ok(&session.session_token)
}

/// Compares base URLs as URLs (`http://H:80/` is `http://h`), else as text.
fn same_server(a: &str, b: &str) -> bool {
    let normalize = |s: &str| {
        reqwest::Url::parse(s.trim()).map_or_else(|_| s.trim().to_ascii_lowercase(), |u| u.as_str().to_owned())
    };
    normalize(a).trim_end_matches('/') == normalize(b).trim_end_matches('/')
}

/// Reads a secret from standard input: everything up to the end, less the
/// trailing line ending.
pub fn read_stdin_secret() -> Result<String> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("cannot read the password from standard input")?;
    secret_from_input(&input)
}

/// `input` less its trailing `\n`/`\r\n`; an empty result is an error.
pub fn secret_from_input(input: &str) -> Result<String> {
    let secret = input.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        bail!("the password is empty");
    }
    Ok(secret.to_owned())
}

/// A non-empty environment variable.
pub fn env_secret(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Prompts on the terminal without echo.
pub fn prompt_secret(prompt: &str) -> Result<String> {
    let secret = rpassword::prompt_password(prompt)
        .context("cannot prompt for a password (is there a terminal?); use --password-stdin instead")?;
    if secret.is_empty() {
        bail!("the password is empty");
    }
    Ok(secret)
}

/// A new password: from stdin, else `KEYWARD_ADMIN_PASSWORD`, else prompted twice.
pub fn new_password(from_stdin: bool) -> Result<String> {
    if from_stdin {
        return read_stdin_secret();
    }
    if let Some(password) = env_secret("KEYWARD_ADMIN_PASSWORD") {
        return Ok(password);
    }
    let first = prompt_secret("New password: ")?;
    let second = prompt_secret("Repeat the password: ")?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(first)
}

/// Prompts on stderr and reads one line of standard input.
pub fn prompt_line(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read standard input")?;
    let line = line.trim();
    if line.is_empty() {
        bail!("no answer given");
    }
    Ok(line.to_owned())
}

/// Where the login is saved, for commands that must write or remove it.
pub fn config_dir() -> Result<PathBuf> {
    session_file::config_dir()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn session(server: &str, expires_at: &str) -> Session {
        Session {
            server: server.into(),
            session_token: "sess".into(),
            expires_at: expires_at.into(),
            email: "a@b".into(),
        }
    }

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z").unwrap().to_utc()
    }

    #[test]
    fn server_precedence() {
        let s = session("https://saved.example", "2031-01-01T00:00:00Z");
        assert_eq!(resolve_server(Some("http://flag/"), Some(&s)), "http://flag");
        assert_eq!(resolve_server(None, Some(&s)), "https://saved.example");
        assert_eq!(resolve_server(Some(" "), None), DEFAULT_SERVER);
        assert_eq!(resolve_server(None, None), DEFAULT_SERVER);
    }

    #[test]
    fn api_key_wins_over_session() {
        let s = session("http://h", "2031-01-01T00:00:00Z");
        assert_eq!(select_credential(Some("kw_key"), Some(&s), "http://h", now()).unwrap(), "kw_key");
        assert_eq!(select_credential(None, Some(&s), "http://h/", now()).unwrap(), "sess");
        assert_eq!(select_credential(None, Some(&s), "HTTP://H:80", now()).unwrap(), "sess");
    }

    #[test]
    fn session_is_not_sent_elsewhere_or_when_expired() {
        let s = session("http://h", "2031-01-01T00:00:00Z");
        let err = select_credential(None, Some(&s), "http://other", now()).unwrap_err();
        assert!(err.to_string().contains("keyward login --server http://other"));
        let old = session("http://h", "2029-01-01T00:00:00Z");
        let err = select_credential(None, Some(&old), "http://h", now()).unwrap_err();
        assert!(err.to_string().contains("expired"));
        let err = select_credential(None, None, "http://h", now()).unwrap_err();
        assert!(err.to_string().contains("keyward login"));
    }

    #[test]
    fn stdin_secret_loses_only_the_line_ending() {
        assert_eq!(secret_from_input("pw \r\n").unwrap(), "pw ");
        assert_eq!(secret_from_input("a\nb\n").unwrap(), "a\nb");
        assert!(secret_from_input("\n").is_err());
    }
}
