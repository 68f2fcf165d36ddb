//! SPEC §2 "Signed requests" over real sockets, for interoperability: key pairs made with the
//! `openssl` command line, requests signed by an independent RFC 9421 implementation (the
//! `httpsig` crate, not Keyward's signer) and checked through `POST /v1/verify` and
//! forward-auth; and management writes of a key with a verify key, signed by `keyward sign`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use common::{Resp, Server, World, BIN};
use httpsig::prelude::message_component::{HttpMessageComponent, HttpMessageComponentId};
use httpsig::prelude::{AlgorithmName, HttpSignatureBase, HttpSignatureParams, SecretKey};
use serde_json::{json, Value};
use sha2::Digest as _;

const OPENSSL: &str = "/usr/bin/openssl";

/// A P-256 key pair made by `openssl`: the PKCS#8 private key file and the public PEM.
fn openssl_pair(dir: &Path, name: &str) -> (PathBuf, String) {
    let sec1 = dir.join(format!("{name}.ec.pem"));
    let pkcs8 = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    let run = |args: &[&str]| {
        let out = Command::new(OPENSSL).args(args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", sec1.to_str().unwrap()]);
    run(&["pkey", "-in", sec1.to_str().unwrap(), "-out", pkcs8.to_str().unwrap()]);
    run(&["pkey", "-in", sec1.to_str().unwrap(), "-pubout", "-out", public.to_str().unwrap()]);
    (pkcs8, std::fs::read_to_string(public).unwrap())
}

fn now() -> u64 {
    chrono::Utc::now().timestamp() as u64
}

fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body)))
}

/// What the independent signer covers, with their values.
struct ToSign<'a> {
    method: &'a str,
    target_uri: &'a str,
    headers: Vec<(&'a str, String)>,
}

/// Signs with `httpsig` (label `sig1`, alg ecdsa-p256-sha256): `Signature-Input` and `Signature`.
fn httpsig_sign(private_pem: &Path, key_id: &str, created: u64, nonce: &str, what: &ToSign) -> (String, String) {
    let key =
        SecretKey::from_pem(&AlgorithmName::EcdsaP256Sha256, &std::fs::read_to_string(private_pem).unwrap()).unwrap();
    let mut ids = vec!["\"@method\"".to_string(), "\"@target-uri\"".to_string()];
    let mut lines = vec![format!("\"@method\": {}", what.method), format!("\"@target-uri\": {}", what.target_uri)];
    for (name, value) in &what.headers {
        ids.push(format!("\"{name}\""));
        lines.push(format!("\"{name}\": {value}"));
    }
    let ids: Vec<HttpMessageComponentId> =
        ids.iter().map(|i| HttpMessageComponentId::try_from(i.as_str()).unwrap()).collect();
    let mut params = HttpSignatureParams::try_new(&ids).unwrap();
    params.set_created(created).set_keyid(key_id).set_nonce(nonce).set_alg(&AlgorithmName::EcdsaP256Sha256);
    let lines: Vec<HttpMessageComponent> =
        lines.iter().map(|l| HttpMessageComponent::try_from(l.as_str()).unwrap()).collect();
    let base = HttpSignatureBase::try_new(&lines, &params).unwrap();
    let headers = base.build_signature_headers(&key, Some("sig1")).unwrap();
    (headers.signature_input_header_value(), headers.signature_header_value())
}

/// A signed-write key of the World's admin, with `public` uploaded as its verify key.
fn key_with_verify_key(w: &World, public: &str) -> (String, String) {
    let (key, secret) = w.key("signed", json!({"grants": ["events.alerts:write"], "verify_key": public}));
    assert!(key["verify_key"].as_str().unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(key["require_signed_writes"], json!(true), "on by default with a verify key");
    (key["id"].as_str().unwrap().to_owned(), secret)
}

#[test]
fn openssl_keys_and_independent_signatures_verify_and_every_change_fails() {
    let w = World::new();
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = openssl_pair(dir.path(), "client");
    let (other_private, _) = openssl_pair(dir.path(), "other");
    let (id, secret) = key_with_verify_key(&w, &public);

    let uri = "https://api.example.com/v1/alerts?team=7";
    let body = br#"{"level":"high"}"#.to_vec();
    let digest = content_digest(&body);
    let what = ToSign {
        method: "POST",
        target_uri: uri,
        headers: vec![("content-type", "application/json".into()), ("content-digest", digest.clone())],
    };
    let verify = |signature: &(String, String), method: &str, target: &str, content_type: &str, body: &[u8]| {
        let request = json!({
            "method": method, "target_uri": target,
            "headers": {"Signature-Input": signature.0, "signature": signature.1,
                        "Content-Digest": digest, "CONTENT-TYPE": content_type},
            "body_base64": base64::engine::general_purpose::STANDARD.encode(body),
        });
        let body =
            json!({"key": secret, "permission": "events.alerts:write", "client_ip": "127.0.0.1", "request": request});
        let v = w.srv.verify(&w.verifier, &body);
        v["code"].as_str().unwrap().to_owned()
    };
    let fresh = |nonce: &str| httpsig_sign(&private, &id, now(), nonce, &what);

    assert_eq!(verify(&fresh("n1"), "POST", uri, "application/json", &body), "valid");
    // Each change fails: a covered header, the path, a body byte, the method.
    assert_eq!(verify(&fresh("n2"), "POST", uri, "text/plain", &body), "signature_invalid");
    let other_path = "https://api.example.com/v1/alertz?team=7";
    assert_eq!(verify(&fresh("n3"), "POST", other_path, "application/json", &body), "signature_invalid");
    let mut changed = body.clone();
    changed[3] ^= 1;
    assert_eq!(verify(&fresh("n4"), "POST", uri, "application/json", &changed), "signature_invalid");
    assert_eq!(verify(&fresh("n5"), "PUT", uri, "application/json", &body), "signature_invalid");
    // An expired `created`, a reused nonce, a signature by another key.
    let old = httpsig_sign(&private, &id, now() - 600, "n6", &what);
    assert_eq!(verify(&old, "POST", uri, "application/json", &body), "signature_invalid");
    let once = fresh("n7");
    assert_eq!(verify(&once, "POST", uri, "application/json", &body), "valid");
    assert_eq!(verify(&once, "POST", uri, "application/json", &body), "signature_invalid", "replayed");
    let foreign = httpsig_sign(&other_private, &id, now(), "n8", &what);
    assert_eq!(verify(&foreign, "POST", uri, "application/json", &body), "signature_invalid");
    // Unsigned: writes need a signature, reads do not.
    assert_eq!(w.code(&secret, Some("events.alerts:write")), "signature_required");
    assert_eq!(w.code(&secret, Some("events.alerts:read")), "valid");
    // A body whose digest is not covered.
    let uncovered = httpsig_sign(&private, &id, now(), "n9", &ToSign { headers: vec![], ..what });
    assert_eq!(verify(&uncovered, "POST", uri, "application/json", &body), "signature_invalid");
    // A malformed request object is a 422, not a verdict.
    let r = w.srv.post(
        "/v1/verify",
        &w.verifier,
        &json!({"key": secret, "request": {"method": "GET", "target_uri": "/relative"}}),
    );
    r.expect_problem(422, "validation_failed");
}

fn forward_auth(srv: &Server, headers: &[(&str, &str)]) -> Resp {
    srv.raw("GET", "/v1/forward-auth", headers, None)
}

#[test]
fn forward_auth_checks_signatures_from_forwarded_headers() {
    let w = World::new();
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = openssl_pair(dir.path(), "client");
    let (id, secret) = key_with_verify_key(&w, &public);
    let digest = content_digest(b"{}");
    let what = ToSign {
        method: "POST",
        target_uri: "https://api.example.com/alerts?x=1",
        headers: vec![("content-digest", digest.clone())],
    };
    let (input, signature) = httpsig_sign(&private, &id, now(), "fa1", &what);
    let bearer = format!("Bearer {secret}");
    let forwarded = [
        ("authorization", bearer.as_str()),
        ("x-keyward-permission", "events.alerts"),
        ("x-original-method", "POST"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "api.example.com"),
        ("x-original-uri", "/alerts?x=1"),
        ("content-digest", digest.as_str()),
        ("signature-input", input.as_str()),
        ("signature", signature.as_str()),
    ];
    let r = forward_auth(&w.srv, &forwarded);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-keyward-key-id").as_deref(), Some(id.as_str()));
    // Replayed, and a different forwarded path: 403 signature_invalid.
    let r = forward_auth(&w.srv, &forwarded);
    assert_eq!((r.status, r.header("x-keyward-code").as_deref()), (403, Some("signature_invalid")));
    let (input, signature) = httpsig_sign(&private, &id, now(), "fa2", &what);
    let mut moved = forwarded;
    moved[5] = ("x-original-uri", "/admin?x=1");
    moved[7] = ("signature-input", input.as_str());
    moved[8] = ("signature", signature.as_str());
    let r = forward_auth(&w.srv, &moved);
    assert_eq!((r.status, r.header("x-keyward-code").as_deref()), (403, Some("signature_invalid")));
    // Unsigned write: 403 signature_required; unsigned read passes.
    let unsigned = &forwarded[..5];
    let r = forward_auth(&w.srv, unsigned);
    assert_eq!((r.status, r.header("x-keyward-code").as_deref()), (403, Some("signature_required")));
    let read = [("authorization", bearer.as_str()), ("x-keyward-permission", "events.alerts:read")];
    assert_eq!(forward_auth(&w.srv, &read).status, 200);
    // A signed request without the forwarded URI cannot be checked: 400 naming what is missing.
    let no_uri: Vec<_> = forwarded.iter().filter(|(n, _)| *n != "x-original-uri").copied().collect();
    let r = forward_auth(&w.srv, &no_uri);
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("X-Original-URI"), "{}", r.text);
    // A key without a verify key ignores signatures (they may be for someone else).
    let (_, plain) = w.key("plain", json!({"grants": ["events.alerts:write"]}));
    let plain_bearer = format!("Bearer {plain}");
    let mut theirs = no_uri.clone();
    theirs[0] = ("authorization", plain_bearer.as_str());
    assert_eq!(forward_auth(&w.srv, &theirs).status, 200);
}

fn keyward(server: &str, api_key: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("KEYWARD_") {
            cmd.env_remove(k);
        }
    }
    let config = tempfile::tempdir().unwrap();
    cmd.env("KEYWARD_CONFIG_DIR", config.path()).env("KEYWARD_SERVER", server).env("KEYWARD_API_KEY", api_key);
    cmd.args(args).stdin(Stdio::null()).output().unwrap()
}

#[test]
fn management_keys_with_a_verify_key_must_sign_their_writes() {
    let w = World::new();
    let (_, tok) = w.srv.admin_session(&w.root, &["events.*:write", "keyward.keys:write"]);
    let created = w.srv.post(
        "/v1/keys",
        &tok,
        &json!({"name": "manager", "grants": ["keyward.keys:write"], "signing": "generate"}),
    );
    let body = created.expect(201).clone();
    let pem = body["signing_private_key_pem"].as_str().expect("the private key, once").to_owned();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let manager = body["secret"].as_str().unwrap().to_owned();
    let manager_id = body["key"]["id"].as_str().unwrap().to_owned();
    assert!(!body["key"]["verify_key"].as_str().unwrap().contains("PRIVATE"), "only the public half is kept");
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("manager.pem");
    std::fs::write(&key_file, &pem).unwrap();

    let (target, _) = w.srv.create_key(&tok, &json!({"name": "target"}));
    let target_path = format!("/v1/keys/{}", target["id"].as_str().unwrap());
    // Reads need no signature; an unsigned write is refused with a clear 403.
    w.srv.get(&target_path, &manager).expect(200);
    let r = w.srv.patch(&target_path, &manager, &json!({"name": "renamed"}));
    let problem = r.expect_problem(403, "forbidden");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("signature_required") && detail.contains("keyward sign"), "{detail}");

    // Signed by `keyward sign --send`: accepted.
    let url = w.srv.url(&target_path);
    let out = keyward(
        &w.srv.base,
        &manager,
        &[
            "sign",
            "--key-file",
            key_file.to_str().unwrap(),
            "--key-id",
            &manager_id,
            "-X",
            "PATCH",
            "--data",
            r#"{"name":"renamed"}"#,
            &url,
            "--send",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(w.srv.get(&target_path, &tok).expect(200)["name"], json!("renamed"));

    // The printed headers sign a request sent by anything else (here reqwest, as curl would).
    let data = r#"{"description":"signed"}"#;
    let out = keyward(
        &w.srv.base,
        &manager,
        &["sign", "--key-file", key_file.to_str().unwrap(), "--key-id", &manager_id, "-X", "PATCH", "-d", data, &url],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    let mut headers: Vec<(String, String)> =
        printed.lines().map(|l| l.split_once(": ").map(|(n, v)| (n.to_owned(), v.to_owned())).unwrap()).collect();
    assert_eq!(
        headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["Content-Digest", "Signature-Input", "Signature"]
    );
    headers.push(("authorization".into(), format!("Bearer {manager}")));
    headers.push(("content-type".into(), "application/json".into()));
    let refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    w.srv.raw("PATCH", &target_path, &refs, Some(data.as_bytes().to_vec())).expect(200);
    // The same headers over another body: the digest no longer matches.
    let r = w.srv.raw("PATCH", &target_path, &refs, Some(br#"{"description":"forged"}"#.to_vec()));
    let detail = r.expect_problem(403, "forbidden")["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("signature_invalid"), "{detail}");
    assert_eq!(w.srv.get(&target_path, &tok).expect(200)["description"], json!("signed"));

    // The CLI signs its own writes with KEYWARD_SIGNING_KEY_FILE; without it they are refused.
    let target_id = target["id"].as_str().unwrap();
    let update = ["keys", "update", target_id, "--description", "from the cli"];
    let out = keyward(&w.srv.base, &manager, &update);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("signature_required"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("KEYWARD_") {
            cmd.env_remove(k);
        }
    }
    let config = tempfile::tempdir().unwrap();
    let out = cmd
        .env("KEYWARD_CONFIG_DIR", config.path())
        .env("KEYWARD_SERVER", &w.srv.base)
        .env("KEYWARD_API_KEY", &manager)
        .env("KEYWARD_SIGNING_KEY_FILE", &key_file)
        .args(update)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(w.srv.get(&target_path, &tok).expect(200)["description"], json!("from the cli"));
}

#[test]
fn bad_verify_keys_are_422_and_change_nothing() {
    let w = World::new();
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = openssl_pair(dir.path(), "client");
    let (key, _) = w.key("plain", json!({}));
    let path = format!("/v1/keys/{}", key["id"].as_str().unwrap());
    // An RSA key, a P-384 key, a private key, garbage, a JWK of another curve.
    let rsa = Command::new(OPENSSL)
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"])
        .output()
        .unwrap();
    let rsa_public = Command::new(OPENSSL)
        .args(["pkey", "-pubout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().unwrap().write_all(&rsa.stdout)?;
            c.wait_with_output()
        })
        .unwrap();
    let p384 = Command::new(OPENSSL).args(["ecparam", "-name", "secp384r1", "-genkey", "-noout"]).output().unwrap();
    let private_text = std::fs::read_to_string(&private).unwrap();
    let inputs = [
        String::from_utf8(rsa_public.stdout).unwrap(),
        String::from_utf8(p384.stdout).unwrap(),
        private_text,
        "hello".to_owned(),
        r#"{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}"#.to_owned(),
    ];
    for input in &inputs {
        let r = w.srv.patch(&path, &w.tok, &json!({"verify_key": input}));
        let problem = r.expect_problem(422, "validation_failed");
        assert!(problem["detail"].as_str().unwrap().contains("verify_key"), "{}", problem["detail"]);
        let r = w.srv.post("/v1/keys", &w.tok, &json!({"name": "new", "verify_key": input}));
        r.expect_problem(422, "validation_failed");
    }
    let r = w.srv.post("/v1/keys", &w.tok, &json!({"name": "new", "verify_key": public, "signing": "generate"}));
    r.expect_problem(422, "validation_failed");
    let after = w.srv.get(&path, &w.tok).expect(200).clone();
    assert_eq!((after["verify_key"].clone(), after["updated_at"].clone()), (Value::Null, key["updated_at"].clone()));
    assert_eq!(w.srv.get("/v1/keys?q=new", &w.tok).items().len(), 0, "no key was created");
    // A good one, then removed again.
    let set = w.srv.patch(&path, &w.tok, &json!({"verify_key": public})).expect(200).clone();
    assert_eq!(set["require_signed_writes"], json!(true));
    let removed = w.srv.patch(&path, &w.tok, &json!({"verify_key": null})).expect(200).clone();
    assert_eq!((removed["verify_key"].clone(), removed["require_signed_writes"].clone()), (Value::Null, json!(false)));
}

#[test]
fn cli_writes_a_generated_private_key_to_a_private_file() {
    let w = World::new();
    let (_, tok) = w.srv.admin_session(&w.root, &["events.*:write", "keyward.keys:write"]);
    let (_, automation) = w.srv.create_key(&tok, &json!({"name": "automation", "grants": ["keyward.keys:write"]}));
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("signer.pem");
    let args = [
        "keys",
        "create",
        "--name",
        "signer",
        "--grant",
        "events.alerts:write",
        "--signing",
        "generate",
        "--private-key-out",
        out_file.to_str().unwrap(),
    ];
    let out = keyward(&w.srv.base, &automation, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("PRIVATE KEY"), "the private key never reaches the terminal: {stdout}");
    let pem = std::fs::read_to_string(&out_file).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&out_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // An existing file is never overwritten, and then no key is created.
    let again = [
        "keys",
        "create",
        "--name",
        "signer2",
        "--signing",
        "generate",
        "--private-key-out",
        out_file.to_str().unwrap(),
    ];
    let out = keyward(&w.srv.base, &automation, &again);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("never overwritten"));
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), pem);
    assert_eq!(w.srv.get("/v1/keys?q=signer2", &tok).items().len(), 0);
    // `--signing generate` without a file is refused before anything is sent.
    let out = keyward(&w.srv.base, &automation, &["keys", "create", "--name", "x", "--signing", "generate"]);
    assert!(!out.status.success());
}
