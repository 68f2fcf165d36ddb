//! The administrators' web console (SPEC §4) as static files compiled into the binary.
//!
//! The console is plain HTML, one stylesheet and vanilla JavaScript ES modules: no npm, no
//! bundler, no build step, so `cargo build` alone produces it and nothing but the browser runs
//! it. This crate knows no HTTP: it only hands the server the files, their media types and a
//! content hash for `ETag`s; the server decides headers and routes.
//!
//! Architecture invariant: the console talks to Keyward only through the public HTTP API with a
//! cookie session (and `X-CSRF-Token` on writes), exactly like any other client; there is no
//! console-only endpoint and no back door.

/// The HTML shell every console page starts from, served at `/`.
pub const SHELL: &str = include_str!("../assets/index.html");

/// The Content-Security-Policy of the console's answers: only the console's own files, no inline
/// script or style, no framing, no forms or connections to other origins.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Where the assets are served: `/console/<name>`.
pub const ASSET_PREFIX: &str = "/console/";

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Its name below [`ASSET_PREFIX`], e.g. `views/keys.js`.
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// FNV-1a of the body, computed at compile time: a strong validator for `ETag`.
    pub hash: u64,
}

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

macro_rules! assets {
    ($(($name:literal, $type:expr)),* $(,)?) => {
        &[$(Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../assets/", $name)),
            hash: fnv1a(include_bytes!(concat!("../assets/", $name))),
        }),*]
    };
}

/// Every file of the console except the shell.
pub static ASSETS: &[Asset] = assets![
    ("console.css", CSS),
    ("favicon.svg", SVG),
    ("app.js", JS),
    ("api.js", JS),
    ("dom.js", JS),
    ("dialogs.js", JS),
    ("format.js", JS),
    ("signing.js", JS),
    ("views/login.js", JS),
    ("views/keys.js", JS),
    ("views/key_detail.js", JS),
    ("views/key_form.js", JS),
    ("views/logs.js", JS),
    ("views/admins.js", JS),
    ("views/account.js", JS),
    ("views/api_docs.js", JS),
];

/// The asset called `name`, if there is one.
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// 64-bit FNV-1a: tiny, `const`, and plenty to tell two versions of a file apart.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_shell_and_scripts_import_is_embedded() {
        // Each `from "./x.js"` / `from "../x.js"` in a script must name an embedded asset, and
        // the shell's stylesheet and entry script must exist: a missing file would only show in
        // the browser otherwise.
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(a.body).unwrap_or_default();
            let dir = a.name.rsplit_once('/').map_or("", |(d, _)| d);
            for spec in text.split("from \"").skip(1).filter_map(|s| s.split_once('"').map(|(p, _)| p)) {
                let resolved = match (spec.strip_prefix("../"), spec.strip_prefix("./")) {
                    (Some(up), _) => up.to_string(),
                    (_, Some(here)) if dir.is_empty() => here.to_string(),
                    (_, Some(here)) => format!("{dir}/{here}"),
                    _ => panic!("{}: import {spec:?} is not relative", a.name),
                };
                assert!(asset(&resolved).is_some(), "{} imports {spec:?}, which is not embedded", a.name);
            }
        }
        for href in ["/console/console.css", "/console/app.js", "/console/favicon.svg"] {
            assert!(SHELL.contains(href), "the shell does not reference {href}");
            assert!(asset(&href[ASSET_PREFIX.len()..]).is_some());
        }
    }

    #[test]
    fn no_inline_code_or_style_and_no_html_injection() {
        // The CSP forbids inline scripts, event-handler attributes and style attributes; server
        // data reaches the page only through `textContent`, never as HTML.
        for bad in ["<style", "style=", "onclick=", "onload=", "onsubmit="] {
            assert!(!SHELL.contains(bad), "the shell contains {bad:?}, which the CSP forbids");
        }
        assert!(!SHELL.contains("<script>"), "inline scripts break the CSP");
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(a.body).unwrap_or_default();
            for bad in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "localStorage",
                "sessionStorage",
            ] {
                assert!(!text.contains(bad), "{} uses {bad}", a.name);
            }
        }
    }

    #[test]
    fn every_file_in_assets_is_served() {
        // A file added to `assets/` but not to `ASSETS` would be missing from the binary.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let mut pending = vec![root.clone()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                let name = path.strip_prefix(&root).map(|p| p.to_string_lossy().replace('\\', "/")).unwrap_or_default();
                assert!(name == "index.html" || asset(&name).is_some(), "assets/{name} is not in ASSETS");
            }
        }
    }

    #[test]
    fn hashes_differ_between_files() {
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
        assert_eq!(asset("console.css").map(|a| a.hash), Some(fnv1a(include_bytes!("../assets/console.css"))));
    }
}
