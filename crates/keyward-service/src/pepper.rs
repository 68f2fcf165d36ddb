//! Where the pepper comes from: `pepper_file`, `KEYWARD_PEPPER`, a file created beside the
//! SQLite database on first start, or (when there is no such file) the database itself, with a
//! warning, since then whoever steals the database also holds the pepper.

use crate::config::Config;
use crate::{ServiceError, ServiceResult};
use keyward_domain::secret::Pepper;
use keyward_store::Store;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub(crate) async fn load(
    config: &Config,
    store: &dyn Store,
    env: &crate::EnvLookup,
    warnings: &mut Vec<String>,
) -> ServiceResult<Pepper> {
    if let Some(value) = env("KEYWARD_PEPPER") {
        return decode(value.trim().as_bytes()).map_err(|e| ServiceError::Internal(format!("KEYWARD_PEPPER: {e}")));
    }
    let file = config.pepper_file.clone().or_else(|| config.sqlite_path().map(|db| beside(&db)));
    match file {
        Some(path) => load_or_create_file(&path),
        None => {
            warnings.push(
                "the pepper is kept in the database because neither pepper_file nor KEYWARD_PEPPER is set; \
                 set one of them so a stolen database alone cannot be attacked offline"
                    .into(),
            );
            let fresh = Pepper::generate(&mut rand::thread_rng());
            let bytes = store.setting_or_insert("pepper", fresh.as_bytes()).await?;
            Pepper::new(bytes).map_err(ServiceError::Internal)
        }
    }
}

/// `keyward.db` → `keyward.db.pepper`.
fn beside(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".pepper");
    PathBuf::from(name)
}

fn load_or_create_file(path: &Path) -> ServiceResult<Pepper> {
    match std::fs::read(path) {
        Ok(bytes) => decode(&bytes).map_err(|e| ServiceError::Internal(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let pepper = Pepper::generate(&mut rand::thread_rng());
            let hex: String = pepper.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
            let mut file =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
                    ServiceError::Internal(format!("cannot create pepper file {}: {e}", path.display()))
                })?;
            file.write_all(hex.as_bytes())
                .and_then(|_| file.sync_all())
                .map_err(|e| ServiceError::Internal(format!("cannot write pepper file {}: {e}", path.display())))?;
            Ok(pepper)
        }
        Err(e) => Err(ServiceError::Internal(format!("cannot read pepper file {}: {e}", path.display()))),
    }
}

/// Hex (as this module writes it) or any other string of at least 32 bytes.
fn decode(bytes: &[u8]) -> Result<Pepper, String> {
    let text = std::str::from_utf8(bytes).map(str::trim).unwrap_or("");
    let is_hex = text.len() >= 64 && text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex {
        let decoded = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| e.to_string()))
            .collect::<Result<Vec<u8>, String>>()?;
        return Pepper::new(decoded);
    }
    let raw = if text.is_empty() { bytes.to_vec() } else { text.as_bytes().to_vec() };
    Pepper::new(raw)
}
