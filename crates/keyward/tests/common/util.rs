//! Small pure helpers of the integration tests: secret parts and checksums, polling, times.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use serde_json::Value;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 6-character base62 CRC32 check of `body` (as in SPEC §1 "Secret formats").
pub fn checksum(body: &str) -> String {
    let mut n = u64::from(crc32fast::hash(body.as_bytes()));
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).unwrap()
}

/// `(prefix, id, random part)` of an opaque secret `<prefix>_<id>_<random><check>`.
pub fn split_secret(secret: &str) -> (String, String, String) {
    let mut parts = secret.splitn(3, '_');
    let prefix = parts.next().unwrap().to_owned();
    let id = parts.next().unwrap().to_owned();
    let tail = parts.next().unwrap();
    let random = tail[..tail.len() - 6].to_owned();
    (prefix, id, random)
}

/// An opaque secret with a valid checksum built from parts.
pub fn forge_secret(prefix: &str, id: &str, random: &str) -> String {
    let body = format!("{prefix}_{id}_{random}");
    let check = checksum(&body);
    body + &check
}

/// Polls `f` every 100 ms until it returns `Some`, for at most `timeout`.
pub fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Now + `secs` seconds as RFC 3339 UTC.
pub fn rfc3339_in(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn parse_time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}"))).unwrap().to_utc()
}
