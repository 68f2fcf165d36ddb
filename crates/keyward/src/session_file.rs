//! The saved login (`session.json`), so that commands after `keyward login`
//! need no password.
//!
//! The file holds a bearer session token, so it is created with mode 0600 in a
//! 0700 directory, written to a fresh temporary file and renamed into place
//! (an existing file with looser permissions is replaced, never reused).
//! Functions take the directory as a parameter; only [`config_dir`] reads the
//! environment.

use std::fmt;
use std::fs;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

/// The file name inside the configuration directory.
pub const FILE_NAME: &str = "session.json";

/// What `keyward login` saves.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The server this session belongs to (base URL, no trailing slash).
    pub server: String,
    pub session_token: String,
    /// RFC 3339, as the server gave it.
    pub expires_at: String,
    pub email: String,
}

/// Never shows the token.
impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("server", &self.server)
            .field("session_token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("email", &self.email)
            .finish()
    }
}

impl Session {
    /// True when `expires_at` is a valid time in the past. An unreadable time
    /// is left for the server to judge.
    pub fn is_expired(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        chrono::DateTime::parse_from_rfc3339(&self.expires_at).is_ok_and(|t| t <= now)
    }
}

/// The directory of `session.json`: `$KEYWARD_CONFIG_DIR`, else
/// `<the platform's config dir>/keyward`.
pub fn config_dir() -> Result<PathBuf> {
    match std::env::var_os("KEYWARD_CONFIG_DIR") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => dirs::config_dir()
            .map(|d| d.join("keyward"))
            .context("cannot tell where to keep the login: set KEYWARD_CONFIG_DIR"),
    }
}

pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Writes the session to `dir/session.json` (mode 0600), creating `dir` (0700).
pub fn save(dir: &Path, session: &Session) -> Result<PathBuf> {
    create_private_dir(dir)?;
    let path = path_in(dir);
    let tmp = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
    // A stale temporary file from a crashed run would make create_new fail.
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot remove {}", tmp.display()))
        }
        _ => {}
    }
    let json = serde_json::to_vec_pretty(session).context("cannot encode the session")?;
    let written = (|| -> std::io::Result<()> {
        let mut file = private_options().open(&tmp)?;
        file.write_all(&json)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(path)
}

/// Reads `dir/session.json`; `None` when there is none.
pub fn load(dir: &Path) -> Result<Option<Session>> {
    let path = path_in(dir);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let session =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not a saved Keyward login", path.display()))?;
    Ok(Some(session))
}

/// Deletes `dir/session.json`; false when there was none.
pub fn remove(dir: &Path) -> Result<bool> {
    let path = path_in(dir);
    match fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

#[cfg(unix)]
fn private_options() -> fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true).mode(0o600);
    options
}

#[cfg(not(unix))]
fn private_options() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    options
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).with_context(|| format!("cannot create {}", dir.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> Session {
        Session {
            server: "http://127.0.0.1:8080".into(),
            session_token: "sess_secret".into(),
            expires_at: "2030-01-01T00:00:00Z".into(),
            email: "admin@localhost".into(),
        }
    }

    #[test]
    fn round_trip_and_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested").join("keyward");
        assert_eq!(load(&dir).unwrap(), None);
        let path = save(&dir, &sample()).unwrap();
        assert_eq!(path, dir.join("session.json"));
        assert_eq!(load(&dir).unwrap(), Some(sample()));
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        assert!(remove(&dir).unwrap());
        assert!(!remove(&dir).unwrap());
        assert_eq!(load(&dir).unwrap(), None);
    }

    #[cfg(unix)]
    #[test]
    fn file_is_private_even_over_a_loose_one() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("kw");
        save(&dir, &sample()).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join(FILE_NAME)), 0o600);
        assert_eq!(mode(&dir), 0o700);

        fs::set_permissions(dir.join(FILE_NAME), fs::Permissions::from_mode(0o644)).unwrap();
        save(&dir, &sample()).unwrap();
        assert_eq!(mode(&dir.join(FILE_NAME)), 0o600);
    }

    #[test]
    fn corrupt_file_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(FILE_NAME), "not json").unwrap();
        let err = load(tmp.path()).unwrap_err();
        assert!(format!("{err:#}").contains("session.json"));
    }

    #[test]
    fn debug_hides_token_and_expiry_is_checked() {
        let s = sample();
        assert!(!format!("{s:?}").contains("sess_secret"));
        let now = chrono::DateTime::parse_from_rfc3339("2029-12-31T00:00:00Z").unwrap().to_utc();
        assert!(!s.is_expired(now));
        assert!(s.is_expired(now + chrono::Duration::days(2)));
        let odd = Session { expires_at: "soon".into(), ..sample() };
        assert!(!odd.is_expired(now));
    }
}
