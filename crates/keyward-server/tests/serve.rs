//! `serve` over a real socket: the TCP peer reaches the handlers (network restrictions see it),
//! and shutdown is graceful. `serve_tls` fails cleanly on unreadable certificate files.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn serve_passes_the_peer_address_and_shuts_down() {
    let app = start().await;
    let alice = alice(&app).await;
    let (_, local) =
        create_key(&app, &alice, json!({"name": "local", "inherit": true, "networks": ["127.0.0.1"]})).await;
    let (_, remote) =
        create_key(&app, &alice, json!({"name": "remote", "inherit": true, "networks": ["192.0.2.0/24"]})).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(keyward_server::serve(app.keyward.clone(), listener, async {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{addr}{path}");
    let health = client.get(url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let fa = |key: String| client.get(url("/v1/forward-auth")).bearer_auth(key).send();
    assert_eq!(fa(local).await.unwrap().status(), 200);
    assert_eq!(fa(remote).await.unwrap().status(), 403);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn serve_tls_reports_missing_certificates_as_errors() {
    let app = start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let missing = std::path::Path::new("/nonexistent/keyward-cert.pem");
    let result = keyward_server::serve_tls(app.keyward.clone(), listener, missing, missing, async {}).await;
    assert!(result.is_err());
}
