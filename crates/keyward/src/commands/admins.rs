//! `keyward admins …`: administrator management over `/v1/admins`
//! (superadmin), and `admins create` straight into the database when
//! `--config` or `--database-url` is given (no server needed, e.g. to
//! bootstrap or recover access).

use anyhow::{bail, Result};
use serde_json::{json, Map, Value};

use super::{new_password, Ctx};
use crate::cli::{AdminCreateArgs, AdminUpdateArgs, AdminsCommand};
use crate::grant::list_json;
use crate::local::LocalAdmin;
use crate::output::{items, next_cursor, out, outln, print_json, sanitize, text, Fields, Table};

pub async fn run(ctx: &Ctx, command: AdminsCommand) -> Result<()> {
    // Local creation needs no server and no credential.
    if let AdminsCommand::Create(args) = command {
        return create(ctx, args).await;
    }
    let client = ctx.client()?;
    match command {
        AdminsCommand::Create(_) => {}
        AdminsCommand::List => {
            let mut all = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let query: Vec<(&str, String)> = cursor.iter().map(|c| ("cursor", c.clone())).collect();
                let page = client.get(&["v1", "admins"], &query).await?;
                all.extend(items(&page).iter().cloned());
                let next = next_cursor(&page).map(str::to_owned);
                if next.is_none() || next == cursor {
                    break;
                }
                cursor = next;
            }
            if ctx.json {
                print_json(&json!({"items": all, "next_cursor": null}));
            } else if all.is_empty() {
                outln!("No administrators.");
            } else {
                out!("{}", admins_table(&all).render());
            }
        }
        AdminsCommand::Show { id } => {
            let admin = client.get(&["v1", "admins", &id], &[]).await?;
            print_admin(ctx, &admin);
        }
        AdminsCommand::Update(args) => {
            let body = update_body(&args)?;
            let admin = client.patch(&["v1", "admins", &args.id], &body).await?;
            print_admin(ctx, &admin);
        }
        AdminsCommand::Delete { id } => {
            let response = client.delete(&["v1", "admins", &id]).await?;
            if ctx.json {
                if !response.is_null() {
                    print_json(&response);
                }
            } else {
                outln!("Administrator {} is deleted and all their keys are revoked.", sanitize(&id));
            }
        }
    }
    Ok(())
}

async fn create(ctx: &Ctx, args: AdminCreateArgs) -> Result<()> {
    let password = new_password(args.password_stdin)?;
    let admin = if args.config.is_some() || args.database_url.is_some() {
        let input = LocalAdmin {
            email: args.email,
            name: args.name,
            role: args.role.as_str().to_owned(),
            can_manage_keys: args.can_manage_keys,
            permissions: args.permissions.iter().map(ToString::to_string).collect(),
            password,
        };
        crate::local::create_admin(args.config, args.database_url, input).await?
    } else {
        let body = create_body(&args, &password);
        ctx.client()?.post(&["v1", "admins"], &body).await?
    };
    print_admin(ctx, &admin);
    Ok(())
}

/// The body of `POST /v1/admins`.
pub fn create_body(args: &AdminCreateArgs, password: &str) -> Value {
    json!({
        "email": args.email,
        "name": args.name,
        "password": password,
        "role": args.role.as_str(),
        "can_manage_keys": args.can_manage_keys,
        "permissions": list_json(&args.permissions, "permission"),
    })
}

/// The body of `PATCH /v1/admins/{id}`: only what was given (the password is
/// read here, when a reset was asked for); an error when nothing was.
pub fn update_body(args: &AdminUpdateArgs) -> Result<Value> {
    let password =
        if args.password_stdin || args.reset_password { Some(new_password(args.password_stdin)?) } else { None };
    update_body_with(args, password)
}

fn update_body_with(args: &AdminUpdateArgs, password: Option<String>) -> Result<Value> {
    let mut body = Map::new();
    if let Some(name) = &args.name {
        body.insert("name".into(), name.as_str().into());
    }
    if let Some(role) = args.role {
        body.insert("role".into(), role.as_str().into());
    }
    if let Some(can) = args.can_manage_keys {
        body.insert("can_manage_keys".into(), can.into());
    }
    if !args.permissions.is_empty() || args.clear_permissions {
        body.insert("permissions".into(), list_json(&args.permissions, "permission"));
    }
    if args.disable || args.enable {
        body.insert("disabled".into(), args.disable.into());
    }
    if let Some(password) = password {
        body.insert("password".into(), password.into());
    }
    if body.is_empty() {
        bail!("nothing to update: give at least one option (see `keyward admins update --help`)");
    }
    Ok(Value::Object(body))
}

fn print_admin(ctx: &Ctx, admin: &Value) {
    if ctx.json {
        print_json(admin);
    } else {
        out!("{}", admin_fields(admin).render());
    }
}

const ADMIN_FIELDS: &[&str] =
    &["id", "email", "name", "role", "can_manage_keys", "permissions", "disabled", "created_at"];

/// Every field of an administrator, labelled.
pub fn admin_fields(admin: &Value) -> Fields {
    let permissions = admin
        .get("permissions")
        .and_then(Value::as_array)
        .map(|p| p.iter().map(|g| crate::grant::display_json(g, "permission")).collect())
        .unwrap_or_default();
    let mut f = Fields::new();
    f.add("ID", text(admin.get("id")))
        .add("Email", text(admin.get("email")))
        .add("Name", text(admin.get("name")))
        .add("Role", text(admin.get("role")))
        .add("Manages keys", text(admin.get("can_manage_keys")))
        .add_list("Permissions", permissions)
        .add("Disabled", text(admin.get("disabled")))
        .add("Created", text(admin.get("created_at")))
        .add_rest(admin, ADMIN_FIELDS);
    f
}

pub fn admins_table(admins: &[Value]) -> Table {
    let mut table = Table::new(&["ID", "EMAIL", "NAME", "ROLE", "MANAGES KEYS", "DISABLED", "CREATED"]);
    for admin in admins {
        table.push(vec![
            text(admin.get("id")),
            text(admin.get("email")),
            text(admin.get("name")),
            text(admin.get("role")),
            text(admin.get("can_manage_keys")),
            text(admin.get("disabled")),
            text(admin.get("created_at")),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser as _;

    fn admins_command(args: &[&str]) -> AdminsCommand {
        let cli = Cli::try_parse_from(["keyward", "admins"].into_iter().chain(args.iter().copied())).unwrap();
        match cli.command {
            Command::Admins(cmd) => cmd,
            other => panic!("not an admins command: {other:?}"),
        }
    }

    #[test]
    fn create_body_shape() {
        let AdminsCommand::Create(args) = admins_command(&[
            "create",
            "--email",
            "a@example.com",
            "--name",
            "A",
            "--role",
            "superadmin",
            "--permission",
            "accounts.*:read@1",
        ]) else {
            panic!()
        };
        assert_eq!(
            create_body(&args, "pw"),
            json!({
                "email": "a@example.com", "name": "A", "password": "pw",
                "role": "superadmin", "can_manage_keys": false,
                "permissions": [{"permission": "accounts.*:read", "targets": ["1"]}]
            })
        );
    }

    #[test]
    fn update_body_only_given_fields() {
        let AdminsCommand::Update(args) =
            admins_command(&["update", "a1", "--disable", "--can-manage-keys", "false", "--clear-permissions"])
        else {
            panic!()
        };
        assert_eq!(
            update_body_with(&args, None).unwrap(),
            json!({"disabled": true, "can_manage_keys": false, "permissions": []})
        );
        let AdminsCommand::Update(args) = admins_command(&["update", "a1", "--enable"]) else { panic!() };
        assert_eq!(update_body_with(&args, Some("pw".into())).unwrap(), json!({"disabled": false, "password": "pw"}));
        let AdminsCommand::Update(args) = admins_command(&["update", "a1"]) else { panic!() };
        assert!(update_body_with(&args, None).is_err());
    }

    #[test]
    fn admin_views() {
        let admin = json!({
            "id": "a1", "email": "root@localhost", "name": "Root", "role": "superadmin",
            "can_manage_keys": false, "permissions": [{"permission": "*:write"}],
            "disabled": false, "created_at": "2030-01-01T00:00:00Z"
        });
        assert_eq!(
            admins_table(std::slice::from_ref(&admin)).render(),
            "ID  EMAIL           NAME  ROLE        MANAGES KEYS  DISABLED  CREATED\n\
             a1  root@localhost  Root  superadmin  no            no        2030-01-01T00:00:00Z\n"
        );
        let out = admin_fields(&admin).render();
        assert!(out.contains("Permissions:   *:write"), "{out}");
    }
}
