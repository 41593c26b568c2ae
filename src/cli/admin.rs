//! `freightdrop admin ...`: staff accounts of the backoffice: add one (password prompted, from
//! standard input, or generated), list, set a password, remove; issue, list and revoke bearer
//! tokens for scripts.

use clap::Subcommand;

use super::password_input::{self, PasswordArgs, Source};
use super::time;
use super::Failure;
use crate::staff::{Staff, StaffError};

/// The `admin` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Add a backoffice admin (prompts for the password twice without a flag).
    Add {
        /// Login name (1-32 letters, digits, '.', '_', '-').
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// List the admins.
    List,
    /// Set an admin's password (ends its browser sessions).
    Passwd {
        /// The admin.
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Remove an admin with its sessions and tokens.
    Remove {
        /// The admin.
        name: String,
    },
    /// Issue a bearer token for scripts acting as NAME; printed once.
    Token {
        /// The admin.
        name: String,
        /// A note on what the token is for.
        #[arg(long)]
        label: Option<String>,
        /// The token may only read /metrics (for a Prometheus server).
        #[arg(long)]
        metrics_only: bool,
    },
    /// List the bearer tokens (their ids, never the tokens).
    Tokens,
    /// Revoke a bearer token by the id `admin tokens` shows.
    Revoke {
        /// The token's id.
        id: String,
    },
}

fn failure(e: StaffError) -> Failure {
    match e {
        StaffError::InvalidName(_) | StaffError::Password(_) => Failure::usage(e.to_string()),
        StaffError::Exists(_) | StaffError::NotFound(_) | StaffError::Db(_) => {
            Failure::failed(e.to_string())
        }
    }
}

pub(crate) async fn run(command: AdminCommand, staff: &Staff) -> Result<(), Failure> {
    match command {
        AdminCommand::Add { name, password } => {
            let source = password.source();
            let secret = password_input::obtain(source)?;
            let shown = matches!(source, Source::Generate).then(|| secret.expose().to_owned());
            staff.add(&name, secret).await.map_err(failure)?;
            println!("admin {name} added");
            if let Some(shown) = shown {
                println!("password (shown only now): {shown}");
            }
            Ok(())
        }
        AdminCommand::List => {
            let admins = staff.list().await.map_err(failure)?;
            println!("{:<32} {:<20} LAST LOGIN", "NAME", "CREATED");
            for admin in admins {
                println!(
                    "{:<32} {:<20} {}",
                    admin.name,
                    time(Some(admin.created_at)),
                    time(admin.last_login_at)
                );
            }
            Ok(())
        }
        AdminCommand::Passwd { name, password } => {
            let source = password.source();
            let secret = password_input::obtain(source)?;
            let shown = matches!(source, Source::Generate).then(|| secret.expose().to_owned());
            staff.set_password(&name, secret).await.map_err(failure)?;
            println!("password of admin {name} changed");
            if let Some(shown) = shown {
                println!("password (shown only now): {shown}");
            }
            Ok(())
        }
        AdminCommand::Remove { name } => {
            staff.remove(&name).await.map_err(failure)?;
            println!("admin {name} removed");
            Ok(())
        }
        AdminCommand::Tokens => {
            let tokens = staff.tokens().await.map_err(failure)?;
            println!(
                "{:<12}  {:<20} {:<8} {:<20} {:<20} LABEL",
                "ID", "ADMIN", "SCOPE", "ISSUED", "LAST USED"
            );
            for t in tokens {
                println!(
                    "{:<12}  {:<20} {:<8} {:<20} {:<20} {}",
                    t.id,
                    t.admin,
                    t.scope,
                    time(Some(t.created_at)),
                    time(t.last_used_at),
                    t.label.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        AdminCommand::Revoke { id } => {
            staff.revoke_token(&id).await.map_err(failure)?;
            println!("token {id} revoked");
            Ok(())
        }
        AdminCommand::Token {
            name,
            label,
            metrics_only,
        } => {
            let token = staff
                .issue_token(&name, label.as_deref(), metrics_only)
                .await
                .map_err(failure)?;
            eprintln!("bearer token for {name}, shown only now (send it as 'Authorization: Bearer <token>'):");
            println!("{}", token.expose());
            Ok(())
        }
    }
}
