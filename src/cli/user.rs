//! `freightdrop user ...`: partner accounts from the command line, on the same store as `serve`.
//! Changes go through the account service; the running servers read them from the database and
//! end the open sessions they make wrong within a few seconds.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Subcommand};
use serde::Serialize;

use super::password_input::{self, PasswordArgs, Source};
use super::time;
use super::Failure;
use crate::accounts::Accounts;
use crate::users::{
    InboxFtpPlain, NewUser, ProtocolSet, PublicKey, User, UserChanges, UserError, UserStore,
};

/// The `user` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Add a user and make its home (prompts for the password twice without a flag).
    Add(AddArgs),
    /// List the users.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one user.
    Show {
        /// The user.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set a new password.
    Passwd {
        /// The user.
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Stop a user from logging in (files and settings are kept).
    Disable {
        /// The user.
        name: String,
    },
    /// Let a disabled user log in again.
    Enable {
        /// The user.
        name: String,
    },
    /// Remove a user and, unless --keep-files, its home with every file in it.
    Remove {
        /// The user.
        name: String,
        /// Keep the home folder and its files on disk.
        #[arg(long)]
        keep_files: bool,
    },
    /// Change a user's settings.
    Set(SetArgs),
    /// Manage a user's SSH public keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage who may mail files to a user (an account with mail and no sender accepts no mail).
    #[command(subcommand)]
    MailSender(MailSenderCommand),
}

/// The `user mail-sender` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum MailSenderCommand {
    /// Accept mail from PATTERN: an address (orders@partner.example) or *@domain.
    Add {
        /// The user.
        name: String,
        /// An address or *@domain (case does not matter).
        pattern: String,
    },
    /// Stop accepting mail from PATTERN, as `user show` lists it.
    Remove {
        /// The user.
        name: String,
        /// The pattern.
        pattern: String,
    },
}

/// The `user key` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Add the public key in PUBKEY_FILE (an OpenSSH .pub file).
    Add {
        /// The user.
        name: String,
        /// The .pub file.
        pubkey_file: PathBuf,
    },
    /// Remove a key by its fingerprint (SHA256:..., as `user show` lists it).
    Remove {
        /// The user.
        name: String,
        /// The key's fingerprint.
        fingerprint: String,
    },
}

/// Arguments of `user add`.
#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// Login name (1-32 letters, digits, '.', '_', '-').
    name: String,
    /// Customer code the user's orders belong to.
    #[arg(long)]
    customer: String,
    #[command(flatten)]
    password: PasswordArgs,
    /// FTP logins must use TLS (explicit FTPS), for control and data.
    #[arg(long)]
    require_tls: bool,
    /// Allowed protocols, comma-separated.
    #[arg(long, default_value = "ftp,ftps,sftp")]
    protocols: String,
    /// Parse every file of this user as this format (csv, xml, xls, xlsx, ods, ttm).
    #[arg(long)]
    format: Option<String>,
    /// Largest upload in bytes.
    #[arg(long, value_name = "BYTES")]
    max_upload: Option<u64>,
    /// Plain-FTP inbox uploads: accept, require-rename or refuse [default: the server's
    /// --inbox-ftp-plain].
    #[arg(long, value_name = "POLICY")]
    inbox_ftp_plain: Option<String>,
}

/// Arguments of `user set`.
#[derive(Debug, Args)]
pub(crate) struct SetArgs {
    /// The user.
    name: String,
    /// Plain-FTP inbox uploads: accept, require-rename, refuse, or default (follow the
    /// server's --inbox-ftp-plain). Open plain-FTP sessions end, so the next login gets it.
    #[arg(long, value_name = "POLICY")]
    inbox_ftp_plain: Option<String>,
}

/// `user add/set --inbox-ftp-plain` shares its name with the server-wide key, so clap fills it
/// from `FREIGHTDROP_INBOX_FTP_PLAIN` too; only a value typed on this command line is the
/// account's own.
pub(crate) fn keep_own_values(command: &mut UserCommand, matches: &ArgMatches) {
    let typed = |name: &str| {
        matches
            .subcommand_matches(name)
            .is_some_and(|m| m.value_source("inbox_ftp_plain") == Some(ValueSource::CommandLine))
    };
    match command {
        UserCommand::Add(args) if !typed("add") => args.inbox_ftp_plain = None,
        UserCommand::Set(args) if !typed("set") => args.inbox_ftp_plain = None,
        _ => {}
    }
}

/// A policy given on the command line; `default` is none of the account's own.
fn inbox_ftp_plain(text: &str) -> Result<Option<InboxFtpPlain>, Failure> {
    if text.trim().eq_ignore_ascii_case("default") {
        return Ok(None);
    }
    text.parse().map(Some).map_err(failure)
}

pub(crate) async fn run(
    command: UserCommand,
    store: &UserStore,
    server_default: InboxFtpPlain,
) -> Result<(), Failure> {
    let accounts = Accounts::without_sessions(store.clone());
    match command {
        UserCommand::Add(args) => add(args, &accounts).await,
        UserCommand::List { json } => {
            let users = store.list().await.map_err(failure)?;
            if json {
                print_json(&users)
            } else {
                print_table(&users);
                Ok(())
            }
        }
        UserCommand::Show { name, json } => {
            let user = store.require(&name).await.map_err(failure)?;
            if json {
                print_json(&user)
            } else {
                print_user(store, &user, server_default);
                Ok(())
            }
        }
        UserCommand::Set(args) => {
            let changes = UserChanges {
                inbox_ftp_plain: args
                    .inbox_ftp_plain
                    .as_deref()
                    .map(inbox_ftp_plain)
                    .transpose()?,
                ..UserChanges::default()
            };
            let user = accounts
                .update(&args.name, changes)
                .await
                .map_err(failure)?;
            println!(
                "{} changed; plain-FTP inbox uploads: {}",
                user.name,
                shown_inbox_ftp_plain(&user, server_default)
            );
            Ok(())
        }
        UserCommand::Passwd { name, password } => {
            store.require(&name).await.map_err(failure)?;
            let source = password.source();
            let new = password_input::obtain(source)?;
            accounts
                .set_password(&name, new.clone())
                .await
                .map_err(failure)?;
            if matches!(source, Source::Generate) {
                println!("password for {name}: {}", new.expose());
            } else {
                println!("password of {name} changed");
            }
            Ok(())
        }
        UserCommand::Disable { name } => {
            accounts.set_enabled(&name, false).await.map_err(failure)?;
            println!("{name} disabled; its open sessions end within a few seconds");
            Ok(())
        }
        UserCommand::Enable { name } => {
            accounts.set_enabled(&name, true).await.map_err(failure)?;
            println!("{name} enabled");
            Ok(())
        }
        UserCommand::Remove { name, keep_files } => {
            accounts.remove(&name, keep_files).await.map_err(failure)?;
            if keep_files {
                println!(
                    "{name} removed; files kept in {}",
                    store.tree().path_of(&name).display()
                );
            } else {
                println!("{name} removed with its home");
            }
            Ok(())
        }
        UserCommand::Key(KeyCommand::Add { name, pubkey_file }) => {
            let text = std::fs::read_to_string(&pubkey_file).map_err(|e| {
                Failure::failed(format!("cannot read {}: {e}", pubkey_file.display()))
            })?;
            let key = PublicKey::parse(&text).map_err(|e| Failure::failed(e.to_string()))?;
            let fingerprint = accounts.add_key(&name, &key).await.map_err(failure)?;
            println!("key {fingerprint} added to {name}");
            Ok(())
        }
        UserCommand::MailSender(MailSenderCommand::Add { name, pattern }) => {
            let pattern = accounts
                .add_mail_sender(&name, &pattern)
                .await
                .map_err(failure)?;
            println!("{name} accepts mail from {pattern}");
            Ok(())
        }
        UserCommand::MailSender(MailSenderCommand::Remove { name, pattern }) => {
            accounts
                .remove_mail_sender(&name, &pattern)
                .await
                .map_err(failure)?;
            println!(
                "{name} no longer accepts mail from {}",
                pattern.trim().to_ascii_lowercase()
            );
            Ok(())
        }
        UserCommand::Key(KeyCommand::Remove { name, fingerprint }) => {
            accounts
                .remove_key(&name, &fingerprint)
                .await
                .map_err(failure)?;
            println!("key {} removed from {name}", fingerprint.trim());
            Ok(())
        }
    }
}

async fn add(args: AddArgs, accounts: &Accounts) -> Result<(), Failure> {
    let store = accounts.store();
    let protocols = ProtocolSet::parse(&args.protocols).map_err(failure)?;
    // Refuse a taken name before asking for a password.
    if store.get(&args.name).await.map_err(failure)?.is_some() {
        return Err(failure(UserError::Exists(args.name)));
    }
    let policy = args
        .inbox_ftp_plain
        .as_deref()
        .map(inbox_ftp_plain)
        .transpose()?
        .flatten();
    let source = args.password.source();
    let password = password_input::obtain(source)?;
    let user = accounts
        .add(NewUser {
            name: args.name,
            customer: args.customer,
            password: password.clone(),
            protocols,
            require_tls: args.require_tls,
            format: args.format,
            max_upload_bytes: args.max_upload,
            inbox_ftp_plain: policy,
        })
        .await
        .map_err(failure)?;
    println!(
        "user {} added (customer {}, protocols {}); home {}",
        user.name,
        user.customer,
        user.protocols,
        store.tree().path_of(&user.name).display()
    );
    if matches!(source, Source::Generate) {
        println!("password for {}: {}", user.name, password.expose());
    }
    Ok(())
}

fn failure(e: UserError) -> Failure {
    match e {
        UserError::InvalidName(_)
        | UserError::InvalidCustomer(_)
        | UserError::InvalidProtocol(_)
        | UserError::InvalidFormat(_)
        | UserError::InvalidLimit
        | UserError::InvalidInboxFtpPlain(_)
        | UserError::InvalidMailSender(_)
        | UserError::Password(_)
        | UserError::Key(_) => Failure::usage(e.to_string()),
        _ => Failure::failed(e.to_string()),
    }
}

fn print_json<T: Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::failed(format!("cannot write JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

fn print_table(users: &[User]) {
    println!(
        "{:<20} {:<12} {:<8} {:<15} {:<4} {:<6} LAST LOGIN",
        "NAME", "CUSTOMER", "STATE", "PROTOCOLS", "TLS", "FORMAT"
    );
    for user in users {
        println!(
            "{:<20} {:<12} {:<8} {:<15} {:<4} {:<6} {}",
            user.name,
            user.customer,
            if user.enabled { "enabled" } else { "disabled" },
            user.protocols.to_string(),
            if user.require_tls { "yes" } else { "no" },
            user.format.as_deref().unwrap_or("-"),
            time(user.last_login_at),
        );
    }
}

/// The account's plain-FTP policy as `user show` says it: its own, or the server's default.
fn shown_inbox_ftp_plain(user: &User, server_default: InboxFtpPlain) -> String {
    match user.inbox_ftp_plain {
        Some(policy) => policy.to_string(),
        None => format!("{server_default} (server default)"),
    }
}

fn print_user(store: &UserStore, user: &User, server_default: InboxFtpPlain) {
    println!("name:          {}", user.name);
    println!("customer:      {}", user.customer);
    println!(
        "state:         {}",
        if user.enabled { "enabled" } else { "disabled" }
    );
    println!("protocols:     {}", user.protocols);
    println!(
        "require TLS:   {}",
        if user.require_tls { "yes" } else { "no" }
    );
    println!(
        "format:        {}",
        user.format.as_deref().unwrap_or("(by extension)")
    );
    println!(
        "max upload:    {}",
        user.max_upload_bytes
            .map_or_else(|| "(no limit)".to_string(), |b| format!("{b} bytes"))
    );
    println!(
        "plain FTP:     {}",
        shown_inbox_ftp_plain(user, server_default)
    );
    println!(
        "home:          {}",
        store.tree().path_of(&user.name).display()
    );
    println!("created:       {}", time(Some(user.created_at)));
    println!("updated:       {}", time(Some(user.updated_at)));
    println!("last login:    {}", time(user.last_login_at));
    if user.keys.is_empty() {
        println!("ssh keys:      (none)");
    }
    for key in &user.keys {
        println!("ssh key:       {}", key.fingerprint);
    }
    if user.mail_senders.is_empty() {
        println!("mail senders:  (none: no mail is accepted)");
    }
    for pattern in &user.mail_senders {
        println!("mail sender:   {pattern}");
    }
}
