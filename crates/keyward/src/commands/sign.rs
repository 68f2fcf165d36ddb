//! `keyward sign`: RFC 9421 signatures for clients of keys with a verify key, so `curl` users
//! can sign (the headers are printed) and scripts can send signed requests (`--send`); and the
//! private key file `keys create --signing generate` writes.
//!
//! The signature is made by `keyward_domain::signature::sign_request`, the same rules the
//! server checks: `@method`, `@target-uri` and (with a body) `content-digest` covered, with
//! `created`, `keyid`, `alg` and a random `nonce`.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use keyward_domain::signature::{sign_request, HttpRequest};
use keyward_domain::signing_key::SigningKey;

use crate::cli::SignArgs;
use crate::output::out;

/// The headers to add, or the answer to the signed request.
pub async fn run(args: SignArgs) -> Result<()> {
    let pem = std::fs::read_to_string(&args.key_file)
        .with_context(|| format!("cannot read the key file {}", args.key_file.display()))?;
    let key = SigningKey::from_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {}", args.key_file.display(), e.message))?;
    let body = match args.data.as_deref() {
        Some(data) => Some(match data.strip_prefix('@') {
            Some(path) => std::fs::read(path).with_context(|| format!("cannot read the body file {path}"))?,
            None => data.as_bytes().to_vec(),
        }),
        None => None,
    };
    let method = args.method.clone().unwrap_or_else(|| if body.is_some() { "POST" } else { "GET" }.into());
    let url = reqwest::Url::parse(args.url.trim()).with_context(|| format!("{:?} is not an absolute URL", args.url))?;
    let mut headers = Vec::with_capacity(args.headers.len());
    for header in &args.headers {
        let Some((name, value)) = header.split_once(':') else {
            bail!("--header {header:?}: write it as 'Name: value'");
        };
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let signed = signed_headers(&key, &args.key_id, &method, url.as_str(), &headers, body.as_deref())?;
    if !args.send {
        for (name, value) in &signed {
            out!("{name}: {value}\n");
        }
        return Ok(());
    }
    send(&method, url, &headers, &signed, body).await
}

/// The headers that sign this request: `Signature-Input`, `Signature`, and `Content-Digest`
/// when there is a body.
pub fn signed_headers(
    key: &SigningKey,
    key_id: &str,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
) -> Result<Vec<(&'static str, String)>> {
    let mut request = HttpRequest::new(method, url).map_err(|e| anyhow::anyhow!("{e}"))?;
    for (name, value) in headers {
        request.add_header(name, value);
    }
    if let Some(body) = body {
        request.set_body(body.to_vec());
    }
    let nonce = keyward_domain::ids::random_base62(&mut rand::thread_rng(), 22);
    let created = chrono::Utc::now().timestamp();
    let signature = sign_request(&mut request, key, key_id, created, &nonce).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = Vec::with_capacity(3);
    if let Some(digest) = signature.content_digest {
        out.push(("Content-Digest", digest));
    }
    out.push(("Signature-Input", signature.signature_input));
    out.push(("Signature", signature.signature));
    Ok(out)
}

async fn send(
    method: &str,
    url: reqwest::Url,
    headers: &[(String, String)],
    signed: &[(&'static str, String)],
    body: Option<Vec<u8>>,
) -> Result<()> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).context("not an HTTP method")?;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let mut request = http.request(method, url);
    let has = |n: &str| headers.iter().any(|(name, _)| name.eq_ignore_ascii_case(n));
    if !has("authorization") {
        if let Ok(key) = std::env::var("KEYWARD_API_KEY") {
            request = request.bearer_auth(key.trim());
        }
    }
    if body.is_some() && !has("content-type") {
        request = request.header("Content-Type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    for (name, value) in signed {
        request = request.header(*name, value.as_str());
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.context("the request failed")?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    out!("{text}");
    if !text.ends_with('\n') && !text.is_empty() {
        out!("\n");
    }
    if !status.is_success() {
        bail!("the server answered {status}");
    }
    Ok(())
}

/// A file for a private key, claimed before the key is made: created new (never overwriting)
/// with mode 0600 on Unix.
#[derive(Debug)]
pub struct PrivateKeyFile {
    file: File,
    path: PathBuf,
}

impl PrivateKeyFile {
    pub fn create(path: &Path) -> Result<Self> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::anyhow!(
                    "{} already exists: choose another --private-key-out (it is never overwritten)",
                    path.display()
                )
            } else {
                anyhow::anyhow!("cannot create {}: {e}", path.display())
            }
        })?;
        Ok(PrivateKeyFile { file, path: path.to_owned() })
    }

    /// Writes the key; an empty key (the server sent none) is an error.
    pub fn write(mut self, pem: &str) -> Result<PathBuf> {
        if pem.is_empty() {
            self.abandon();
            bail!("the server returned no signing private key");
        }
        self.file.write_all(pem.as_bytes()).and_then(|()| self.file.sync_all())?;
        Ok(self.path)
    }

    /// Removes the still-empty file (the key was not created).
    pub fn abandon(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn private_key_files_are_new_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let file = PrivateKeyFile::create(&path).unwrap();
        assert!(PrivateKeyFile::create(&path).unwrap_err().to_string().contains("never overwritten"));
        file.write("-----BEGIN PRIVATE KEY-----\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(PrivateKeyFile::create(&path).is_err(), "an existing key is never overwritten");
    }

    #[test]
    fn signed_headers_verify_with_the_public_half() {
        use keyward_domain::signature::{verify_request, Window};
        let key = SigningKey::generate();
        let url = "https://api.example.com/v1/keys";
        let headers = signed_headers(&key, "k1", "POST", url, &[], Some(b"{}")).unwrap();
        let names: Vec<_> = headers.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["Content-Digest", "Signature-Input", "Signature"]);
        let mut request = HttpRequest::new("POST", url).unwrap();
        for (name, value) in &headers {
            request.add_header(name, value);
        }
        request.set_body(b"{}".to_vec());
        let window = Window { now: chrono::Utc::now().timestamp(), max_skew_seconds: 300 };
        assert!(verify_request(&request, "k1", &key.verify_key(), window).is_ok());
    }
}
