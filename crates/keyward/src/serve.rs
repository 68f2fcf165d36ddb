//! `keyward serve`: configuration, database, listener, background tasks and graceful
//! shutdown. The bootstrap password, when one is generated, is printed here once, straight to
//! the terminal, never through the log.

use anyhow::Context;
use keyward_service::{Config, Keyward, Options};
use std::path::PathBuf;

/// Runs the server with the given configuration file (or the defaults) until SIGINT/SIGTERM.
pub async fn run(config: Option<PathBuf>) -> anyhow::Result<()> {
    init_logging();
    let config = Config::load(config.as_deref(), |k| std::env::var(k).ok())?;
    let listen = config.listen.clone();
    let tls = config.tls_cert.clone().zip(config.tls_key.clone());
    let (keyward, report) = Keyward::start(Options::new(config)).await.context("cannot start")?;
    for warning in &report.warnings {
        tracing::warn!("{warning}");
    }
    if let (Some(email), Some(password)) = (&report.bootstrap_email, &report.bootstrap_password) {
        println!("Created the superadmin {email} with the password {password}");
        println!("This password is shown only once: log in and change it, or set KEYWARD_BOOTSTRAP_PASSWORD.");
    } else if let Some(email) = &report.bootstrap_email {
        println!("Created the superadmin {email} with the password from KEYWARD_BOOTSTRAP_PASSWORD");
    }
    let listener =
        tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    // Tests and scripts read this line to learn the port when `listen` ends in `:0`.
    println!("keyward listening on {scheme}://{addr}");
    // The default token issuer, when the configuration names none.
    keyward.set_base_url(format!("{scheme}://{addr}"));
    tracing::info!(%addr, backend = keyward.ready().await.unwrap_or("unreachable"), "keyward listening");
    let background = keyward.spawn_background();
    let result = match tls {
        Some((cert, key)) => keyward_server::serve_tls(keyward.clone(), listener, &cert, &key, shutdown_signal()).await,
        None => keyward_server::serve(keyward.clone(), listener, shutdown_signal()).await,
    };
    background.abort();
    keyward.flush_usage().await;
    tracing::info!("keyward stopped");
    result.context("server failed")
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `info`). Nothing logged carries a secret.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
