//! `keyward token` (an OAuth 2.0 access token for a key, by client credentials) and
//! `keyward signing-keys list|rotate` (superadmin).
//!
//! The client secret never comes from the command line (it would land in shell history and the
//! process list): it is read from `KEYWARD_CLIENT_SECRET`, `--secret-file` or standard input.

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};

use super::Ctx;
use crate::cli::{SigningKeysCommand, TokenArgs};
use crate::output::{items, out, outln, print_json, text, Table};

fn client_secret(args: &TokenArgs) -> Result<String> {
    let secret = if let Some(file) = &args.secret_file {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    } else if args.secret_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("cannot read the secret from standard input")?;
        line
    } else {
        std::env::var("KEYWARD_CLIENT_SECRET").unwrap_or_default()
    };
    let secret = secret.trim().to_owned();
    if secret.is_empty() {
        bail!("no client secret: set KEYWARD_CLIENT_SECRET, or pass --secret-file FILE or --secret-stdin");
    }
    Ok(secret)
}

pub async fn token(ctx: &Ctx, args: TokenArgs) -> Result<()> {
    let secret = client_secret(&args)?;
    let client = ctx.anonymous_client()?;
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = &args.scope {
        form.push(("scope", scope));
    }
    let (status, body) = client.post_form(&["oauth2", "token"], (&args.client_id, &secret), &form).await?;
    if status != 200 {
        let error = body["error"].as_str().unwrap_or("error");
        let description = body["error_description"].as_str().unwrap_or("");
        bail!("{description} ({error}, HTTP {status})");
    }
    if ctx.json {
        print_json(&body);
    } else {
        let Some(token) = body["access_token"].as_str() else {
            bail!("the server's answer has no access_token");
        };
        outln!("{token}");
    }
    Ok(())
}

pub async fn signing_keys(ctx: &Ctx, command: SigningKeysCommand) -> Result<()> {
    let client = ctx.client()?;
    match command {
        SigningKeysCommand::List => {
            let page = client.get(&["v1", "signing-keys"], &[]).await?;
            if ctx.json {
                print_json(&page);
            } else {
                out!("{}", table(items(&page)).render());
            }
        }
        SigningKeysCommand::Rotate => {
            let key = client.post(&["v1", "signing-keys", "rotate"], &json!({})).await?;
            if ctx.json {
                print_json(&key);
            } else {
                outln!("Key {} signs from now on; the previous key stays in the JWKS.", text(key.get("kid")));
            }
        }
    }
    Ok(())
}

fn table(keys: &[Value]) -> Table {
    let mut t = Table::new(&["KID", "ALGORITHM", "CREATED", "RETIRED", "CURRENT"]);
    for k in keys {
        let current = if k["current"].as_bool() == Some(true) { "yes" } else { "" };
        t.push(vec![
            text(k.get("kid")),
            text(k.get("algorithm")),
            text(k.get("created_at")),
            text(k.get("retired_at")),
            current.into(),
        ]);
    }
    t
}
