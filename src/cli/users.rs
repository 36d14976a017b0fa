//! `keepwarm users ...` and `keepwarm tokens ...`: the people who use the board and the API,
//! and their API tokens. Passwords come from a prompt (not echoed) or `--password-stdin`; they
//! are kept as argon2id hashes and never printed or logged.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context as _, Result, bail};
use clap::{Subcommand, ValueEnum};

use super::Format;
use super::table::when;
use crate::account::{self, Role};
use crate::config::Config;
use crate::store::{self, Db};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Rep,
    Manager,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Rep => Role::Rep,
            RoleArg::Manager => Role::Manager,
            RoleArg::Admin => Role::Admin,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    /// Add a user: a rep (linked to its [[reps]] id with --rep), a manager or an admin. The
    /// password is asked for (or read from stdin with --password-stdin); --no-password makes an
    /// account that only holds API tokens.
    Add {
        login: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The [[reps]] id of a rep.
        #[arg(long)]
        rep: Option<String>,
        #[arg(long)]
        password_stdin: bool,
        #[arg(long, conflicts_with = "password_stdin")]
        no_password: bool,
    },
    /// The users, their roles and whether they are enabled.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Disable a user: its sign-ins and tokens stop working (`--enable` undoes it).
    Disable {
        login: String,
        #[arg(long)]
        enable: bool,
    },
    /// Set a user's password (asked for, or from stdin with --password-stdin).
    Passwd {
        login: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// Create an API token for a user: it carries the user's role and scope. Printed once on
    /// stdout; only its hash is kept.
    Create {
        #[arg(long)]
        user: String,
        /// Only GET requests.
        #[arg(long)]
        read_only: bool,
    },
    /// The tokens (never their secrets).
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Revoke a token by its id (the part after `kw_`, before the next `_`).
    Revoke { id: String },
}

/// A login: 1 to 64 characters, letters, digits and `.-_@`.
fn check_login(login: &str) -> Result<()> {
    let ok = !login.is_empty()
        && login.chars().count() <= 64
        && login
            .chars()
            .all(|c| c.is_alphanumeric() || ".-_@".contains(c));
    if !ok {
        bail!("login {login:?}: 1 to 64 letters, digits or . - _ @");
    }
    Ok(())
}

/// The password: one line from stdin, or asked twice at the terminal.
fn read_password(from_stdin: bool) -> Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask the password at: use --password-stdin");
    }
    let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
    let again = rpassword::prompt_password("Again: ").context("cannot read the password")?;
    if first != again {
        bail!("the two passwords differ");
    }
    Ok(first)
}

pub async fn users(config: &Config, cmd: UsersCmd) -> Result<()> {
    let db = Db::open(&config.database).await?;
    let now = store::now_ms();
    match cmd {
        UsersCmd::Add {
            login,
            role,
            rep,
            password_stdin,
            no_password,
        } => {
            check_login(&login)?;
            let role = Role::from(role);
            match (role, &rep) {
                (Role::Rep, None) => bail!("a rep needs --rep (its [[reps]] id)"),
                (Role::Rep, Some(r)) => super::customers::check_rep(config, Some(r))?,
                (_, Some(_)) => bail!("--rep is for users with --role rep"),
                _ => {}
            }
            let hash = if no_password {
                None
            } else {
                Some(account::hash_password(&read_password(password_stdin)?)?)
            };
            if !store::users::add(
                &db,
                &login,
                role.as_str(),
                rep.as_deref(),
                hash.as_deref(),
                now,
            )
            .await?
            {
                bail!("user {login:?} exists already");
            }
            println!("user {login} added ({})", role.as_str());
        }
        UsersCmd::List { format } => {
            let users = store::users::list(&db).await?;
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                for u in &users {
                    println!(
                        "{:<24} {:<8} {:<16} {}{}",
                        u.login,
                        u.role,
                        u.rep.as_deref().unwrap_or("-"),
                        if u.disabled { "disabled" } else { "enabled" },
                        if u.has_password { "" } else { ", no password" }
                    );
                }
                println!("{} users", users.len());
            }
        }
        UsersCmd::Disable { login, enable } => {
            if !store::users::set_disabled(&db, &login, !enable, now).await? {
                bail!("no user {login:?}");
            }
            println!(
                "user {login} {}",
                if enable { "enabled" } else { "disabled" }
            );
        }
        UsersCmd::Passwd {
            login,
            password_stdin,
        } => {
            if store::users::get(&db, &login).await?.is_none() {
                bail!("no user {login:?}");
            }
            let hash = account::hash_password(&read_password(password_stdin)?)?;
            store::users::set_password(&db, &login, &hash, now, None).await?;
            println!("password of {login} set");
        }
    }
    db.close().await;
    Ok(())
}

pub async fn tokens(config: &Config, cmd: TokensCmd) -> Result<()> {
    let db = Db::open(&config.database).await?;
    let now = store::now_ms();
    match cmd {
        TokensCmd::Create { user, read_only } => {
            match store::users::get(&db, &user).await? {
                None => bail!("no user {user:?} (keepwarm users add)"),
                Some(u) if u.disabled => bail!("user {user:?} is disabled"),
                Some(_) => {}
            }
            let (id, hash, token) = account::new_token();
            store::users::add_token(&db, &id, &user, &hash, read_only, now).await?;
            eprintln!(
                "token {id} for {user}{}: shown once, keep it safe",
                if read_only { " (read-only)" } else { "" }
            );
            println!("{token}");
        }
        TokensCmd::List { format } => {
            let tokens = store::users::tokens(&db).await?;
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                for t in &tokens {
                    println!(
                        "{:<14} {:<24} {:<10} created {}, last used {}{}",
                        t.id,
                        t.login,
                        if t.read_only {
                            "read-only"
                        } else {
                            "read-write"
                        },
                        when(Some(t.created_at), now),
                        when(t.last_used_at, now),
                        if t.revoked_at.is_some() {
                            ", revoked"
                        } else {
                            ""
                        }
                    );
                }
            }
        }
        TokensCmd::Revoke { id } => {
            if !store::users::revoke_token(&db, &id, now).await? {
                bail!("no live token {id:?}");
            }
            println!("token {id} revoked");
        }
    }
    db.close().await;
    Ok(())
}
