//! The web console's files as HTTP answers: the shell at `/` and every asset carry the strict
//! CSP and the common security headers; the shell is never cached, assets revalidate with an
//! ETag; an unknown asset is a problem. Also the password change the console's account page
//! uses (`POST /v1/auth/password`).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

#[track_caller]
fn assert_security_headers(r: &Resp) {
    assert_eq!(r.header("content-security-policy"), Some(CSP));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
}

#[tokio::test]
async fn the_shell_and_assets_carry_the_csp_and_assets_revalidate_by_etag() {
    let app = start().await;

    let shell = call("GET", "/").send(&app).await;
    assert_eq!(shell.status, 200);
    assert_security_headers(&shell);
    assert_eq!(shell.header("cache-control"), Some("no-store"));
    assert!(shell.header("content-type").unwrap().starts_with("text/html"));
    let html = String::from_utf8_lossy(&shell.body);
    assert!(html.contains(r#"<script type="module" src="/console/app.js">"#), "{html}");
    assert!(!html.contains("<script>") && !html.contains("style="), "no inline script or style: {html}");

    for (path, content_type) in [
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/views/keys.js", "text/javascript; charset=utf-8"),
        ("/console/console.css", "text/css; charset=utf-8"),
        ("/console/favicon.svg", "image/svg+xml"),
    ] {
        let r = call("GET", path).send(&app).await;
        assert_eq!(r.status, 200, "{path}");
        assert_security_headers(&r);
        assert_eq!(r.header("content-type"), Some(content_type), "{path}");
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{path}");
        let etag = r.header("etag").unwrap().to_string();
        assert!(etag.starts_with('"') && etag.len() == 18, "{etag}");
        assert!(!r.body.is_empty());

        let again = call("GET", path).header("if-none-match", &etag).send(&app).await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), Some(etag.as_str()));
        let stale = call("GET", path).header("if-none-match", "\"0000000000000000\"").send(&app).await;
        assert_eq!(stale.status, 200, "{path}");
    }
    let css = call("GET", "/console/console.css").send(&app).await;
    let js = call("GET", "/console/app.js").send(&app).await;
    assert_ne!(css.header("etag"), js.header("etag"), "each file has its own validator");
}

#[tokio::test]
async fn an_unknown_asset_is_a_404_problem() {
    let app = start().await;
    for path in ["/console/nope.js", "/console/views/nope.js", "/console/index.html", "/console/views/app.js"] {
        let r = call("GET", path).send(&app).await;
        r.problem(404, "not_found");
        assert_eq!(r.header("content-security-policy"), Some(CSP), "{path}");
    }
    call("GET", "/console/").send(&app).await.problem(404, "not_found");
    call("POST", "/console/app.js").send(&app).await.problem(405, "method_not_allowed");
}

#[tokio::test]
async fn every_admin_changes_their_own_password_with_the_current_one() {
    let app = start().await;
    let bob = admin(&app, "bob@example.com", false, json!([])).await;
    let change = |current: &str, new: &str| {
        call("POST", "/v1/auth/password").json(json!({"current_password": current, "new_password": new}))
    };

    let d = change("wrong-password", "new-password-1").bearer(&bob.token).send(&app).await.problem(403, "forbidden");
    assert!(d.contains("current password"), "{d}");
    change(PASSWORD, "x").bearer(&bob.token).send(&app).await.problem(422, "validation_failed");
    // By cookie it is a write like any other: the CSRF token is needed.
    let cookie = format!("keyward_session={}", bob.token);
    change(PASSWORD, "new-password-1").header("cookie", &cookie).send(&app).await.problem(403, "forbidden");
    let r =
        change(PASSWORD, "new-password-1").header("cookie", &cookie).header("x-csrf-token", &bob.csrf).send(&app).await;
    assert_eq!(r.status, 204);

    // The session that changed it stays open; the old password no longer logs in; the new one does.
    call("GET", "/v1/auth/me").bearer(&bob.token).send(&app).await.ok(200);
    call("POST", "/v1/auth/login")
        .json(json!({"email": "bob@example.com", "password": PASSWORD}))
        .send(&app)
        .await
        .problem(401, "unauthorized");
    login(&app, "bob@example.com", "new-password-1").await;

    // Audited, without the password.
    let root = root(&app).await;
    let logs = call("GET", "/v1/logs?action=admin.updated").bearer(&root.token).send(&app).await.ok(200);
    let record = &logs["items"][0];
    assert_eq!(record["details"]["changed"], json!(["password"]), "{record}");
    assert!(!record.to_string().contains("new-password-1"));

    // A superadmin changes their own the same way; an API key cannot change its owner's.
    let alice = alice(&app).await;
    let r = change(ROOT_PASSWORD, "root-password-2").bearer(&root.token).send(&app).await;
    assert_eq!(r.status, 204);
    login(&app, ROOT_EMAIL, "root-password-2").await;
    let (_, secret) = create_key(&app, &alice, json!({"name": "automation", "grants": ["keyward.keys:write"]})).await;
    change(PASSWORD, "new-password-2").bearer(&secret).send(&app).await.problem(403, "forbidden");
    change(PASSWORD, "new-password-2").send(&app).await.problem(401, "unauthorized");
}
