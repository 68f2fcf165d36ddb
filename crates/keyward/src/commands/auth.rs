//! `keyward login`, `logout` and `whoami`: the administrator's session.
//!
//! Login exchanges email and password for a session token and saves it (see
//! `session_file`); the token and the CSRF token are never printed, not even
//! with `--json`.

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};

use super::{config_dir, env_secret, new_password, prompt_line, prompt_secret, read_stdin_secret, Ctx};
use crate::cli::{LoginArgs, PasswordArgs};
use crate::client::Client;
use crate::commands::admins::admin_fields;
use crate::output::{out, outln, print_json, text, Fields};
use crate::session_file::{self, Session};

/// Fields of the login answer that are credentials, removed before printing.
const SECRET_FIELDS: [&str; 2] = ["session_token", "csrf_token"];

pub async fn login(ctx: &Ctx, args: LoginArgs) -> Result<()> {
    let email = match args.email {
        Some(email) => email,
        None if args.password_stdin => bail!("--email is required with --password-stdin"),
        None => prompt_line("Email: ")?,
    };
    let password = if args.password_stdin {
        read_stdin_secret()?
    } else if let Some(password) = env_secret("KEYWARD_PASSWORD") {
        password
    } else {
        prompt_secret("Password: ")?
    };
    // Fail before sending the password if the login could not be saved.
    let dir = config_dir()?;

    let client = ctx.anonymous_client()?;
    let body = json!({"email": email, "password": password});
    let response = match client.post(&["v1", "auth", "login"], &body).await {
        Ok(response) => response,
        // Same message, but without the "run `keyward login`" hint meant for other commands.
        Err(e) if e.api().is_some_and(|a| a.status == 401) => bail!("{e}"),
        Err(e) => return Err(e.into()),
    };

    let token = response
        .get("session_token")
        .and_then(Value::as_str)
        .context("the server's login answer has no session_token")?;
    let admin = response.get("admin").cloned().unwrap_or(Value::Null);
    let session = Session {
        server: client.server().to_owned(),
        session_token: token.to_owned(),
        expires_at: response.get("expires_at").and_then(Value::as_str).unwrap_or_default().to_owned(),
        email: admin.get("email").and_then(Value::as_str).unwrap_or(&email).to_owned(),
    };
    session_file::save(&dir, &session)?;

    if ctx.json {
        print_json(&without_secrets(response));
    } else {
        outln!(
            "Logged in to {} as {} ({}). The session expires at {}.",
            session.server,
            crate::output::sanitize(&session.email),
            text(admin.get("role")),
            crate::output::sanitize(&session.expires_at),
        );
    }
    Ok(())
}

/// The login answer without its credentials.
fn without_secrets(mut response: Value) -> Value {
    if let Value::Object(map) = &mut response {
        for field in SECRET_FIELDS {
            map.remove(field);
        }
    }
    response
}

pub async fn logout(ctx: &Ctx) -> Result<()> {
    let dir = config_dir()?;
    let Some(session) = session_file::load(&dir)? else {
        eprintln!("Not logged in.");
        return Ok(());
    };
    let client = Client::new(&session.server, Some(session.session_token.clone()))?;
    let result = client.post(&["v1", "auth", "logout"], &json!({})).await;
    session_file::remove(&dir)?;
    match result {
        Ok(response) => {
            if ctx.json {
                if !response.is_null() {
                    print_json(&response);
                }
            } else {
                outln!("Logged out of {}.", session.server);
            }
            Ok(())
        }
        // The session had already ended (expired, or the admin was disabled).
        Err(e) if e.api().is_some_and(|a| a.status == 401) => {
            if !ctx.json {
                outln!("Logged out (the session had already ended).");
            }
            Ok(())
        }
        Err(e) => Err(e).context(format!(
            "the saved login was removed, but the server did not end the session \
             (it stays valid until {})",
            session.expires_at
        )),
    }
}

/// `keyward password`: the logged-in administrator changes their own password
/// (`POST /v1/auth/password`, which checks the current one). The session stays valid.
pub async fn change_password(ctx: &Ctx, args: PasswordArgs) -> Result<()> {
    let (current, new) = if args.password_stdin {
        let mut input = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)
            .context("cannot read the passwords from standard input")?;
        let mut lines = input.lines();
        match (lines.next().filter(|l| !l.is_empty()), lines.next().filter(|l| !l.is_empty())) {
            (Some(current), Some(new)) => (current.to_owned(), new.to_owned()),
            _ => bail!("--password-stdin needs two lines: the current password, then the new one"),
        }
    } else {
        let current = match env_secret("KEYWARD_PASSWORD") {
            Some(password) => password,
            None => prompt_secret("Current password: ")?,
        };
        (current, new_password(false)?)
    };
    let body = json!({"current_password": current, "new_password": new});
    ctx.client()?.post(&["v1", "auth", "password"], &body).await?;
    if !ctx.json {
        outln!("Password changed.");
    }
    Ok(())
}

pub async fn whoami(ctx: &Ctx) -> Result<()> {
    let admin = ctx.client()?.get(&["v1", "auth", "me"], &[]).await?;
    if ctx.json {
        print_json(&admin);
        return Ok(());
    }
    let mut fields = Fields::new();
    fields
        .add("Server", ctx.server.as_str())
        .add("Credential", if ctx.uses_api_key() { "API key (KEYWARD_API_KEY)" } else { "saved login" });
    out!("{}{}", fields.render(), admin_fields(&admin).render());
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn login_json_never_shows_tokens() {
        let response = json!({
            "session_token": "s3cret", "csrf_token": "c5rf",
            "expires_at": "2030-01-01T00:00:00Z", "admin": {"email": "a@b"}
        });
        let shown = crate::output::json_string(&without_secrets(response));
        assert!(!shown.contains("s3cret"));
        assert!(!shown.contains("c5rf"));
        assert!(shown.contains("a@b"));
    }
}
