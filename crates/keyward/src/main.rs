//! The `keyward` binary: the server (`keyward serve`) and the command-line
//! client of its HTTP API.
//!
//! This file only parses the command line, runs the command and turns an
//! error into one clear message on stderr and exit code 1.

mod cli;
mod client;
mod commands;
mod grant;
mod local;
mod output;
mod serve;
mod session_file;

use std::process::ExitCode;

use clap::Parser as _;

use crate::client::{ApiError, ClientError};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprint!("{}", error_report(&error));
            ExitCode::FAILURE
        }
    }
}

/// The server's error answer behind `error`, if there is one.
fn api_error(error: &anyhow::Error) -> Option<&ApiError> {
    error.chain().find_map(|cause| {
        cause.downcast_ref::<ClientError>().and_then(ClientError::api).or_else(|| cause.downcast_ref::<ApiError>())
    })
}

/// What is printed on stderr for `error`: `error: <detail> (<code>, HTTP <status>)`
/// for a server error, the whole cause chain otherwise, and a hint after a `401`.
fn error_report(error: &anyhow::Error) -> String {
    let mut report = format!("error: {}\n", output::sanitize(&format!("{error:#}")));
    if api_error(error).is_some_and(|e| e.status == 401) {
        report.push_str("hint: run `keyward login` to sign in (or check KEYWARD_API_KEY if you use an API key)\n");
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str, detail: &str) -> ApiError {
        ApiError { status, code: Some(code.into()), title: None, detail: Some(detail.into()) }
    }

    #[test]
    fn server_error_report() {
        let error = anyhow::Error::from(ClientError::from(api(409, "conflict", "name taken")));
        assert_eq!(error_report(&error), "error: name taken (conflict, HTTP 409)\n");
    }

    #[test]
    fn unauthorized_suggests_login() {
        let error = anyhow::Error::from(ClientError::from(api(401, "unauthorized", "session expired")));
        let report = error_report(&error);
        assert!(report.starts_with("error: session expired (unauthorized, HTTP 401)\n"));
        assert!(report.contains("keyward login"));
    }

    #[test]
    fn unreachable_report_names_server() {
        let error = anyhow::Error::from(ClientError::Unreachable {
            server: "http://127.0.0.1:9".into(),
            reason: "Connection refused (os error 111)".into(),
        });
        assert_eq!(
            error_report(&error),
            "error: could not reach the Keyward server at http://127.0.0.1:9: \
             Connection refused (os error 111)\n"
        );
    }
}
