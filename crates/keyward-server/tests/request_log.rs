//! The request log names the method, the route template, the status and the latency, and
//! nothing that could hold a secret: no header, body, query string or concrete path.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Captures this thread's log lines up to `level` while the guard lives.
    fn install(level: tracing::Level) -> (Capture, tracing::subscriber::DefaultGuard) {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(level)
            .finish();
        (capture, tracing::subscriber::set_default(subscriber))
    }
}

#[tokio::test]
async fn request_logs_hold_no_secrets() {
    let (capture, _guard) = Capture::install(tracing::Level::DEBUG);

    let app = start().await;
    let alice = alice(&app).await;
    let (key, secret) = create_key(&app, &alice, json!({"name": "logged"})).await;
    let id = key["id"].as_str().unwrap();
    call("GET", &format!("/v1/keys/{id}?cursor=hidden-query")).bearer(&alice.token).send(&app).await;
    call("GET", "/v1/forward-auth").bearer(&secret).send(&app).await;
    call("GET", "/no/such/route").send(&app).await;

    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains(r#"method=GET route="/v1/keys/{id}" status=200"#), "{log}");
    assert!(log.contains(r#"method=GET route="/v1/forward-auth" status=200"#), "{log}");
    assert!(log.contains(r#"method=GET route="<unmatched>" status=404"#), "{log}");
    for secret_like in [secret.as_str(), alice.token.as_str(), alice.csrf.as_str(), PASSWORD, "hidden-query", id] {
        assert!(!log.contains(secret_like), "{secret_like} leaked into the log:\n{log}");
    }
}

/// At `info` (the default) the data plane's request lines are left out (every check is in the
/// usage log); management requests are still there.
#[tokio::test]
async fn data_plane_request_lines_are_debug_only() {
    let (capture, _guard) = Capture::install(tracing::Level::INFO);

    let app = start().await;
    let alice = alice(&app).await;
    let (_, secret) = create_key(&app, &alice, json!({"name": "quiet"})).await;
    call("GET", "/v1/forward-auth").bearer(&secret).send(&app).await;
    call("GET", "/v1/keys").bearer(&alice.token).send(&app).await;

    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains(r#"method=GET route="/v1/keys" status=200"#), "{log}");
    assert!(!log.contains("/v1/forward-auth"), "{log}");
}
