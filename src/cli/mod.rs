//! The command line: `serve`, `user ...`, `admin ...`, `publish`, `import`, `files` and
//! `check-config`, every command on the same
//! configuration and store as the server. Exit codes: 0 done, 1 the command failed, 2 a wrong
//! call or a bad configuration value.

mod admin;
mod apikey;
mod files;
mod import;
mod password_input;
mod publish;
mod serve;
mod user;

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

use crate::config::{Config, ConfigArgs};
use crate::db::Db;
use crate::home::HomeTree;
use crate::users::UserStore;

/// The command line of `freightdrop`.
#[derive(Debug, Parser)]
#[command(
    name = "freightdrop",
    version,
    about = "File-exchange server (FTP, FTPS, SFTP) for transport partners"
)]
pub struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: every frontend, until SIGINT or SIGTERM.
    Serve,
    /// Manage partner accounts.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Check the configuration and print the effective settings.
    CheckConfig,
    /// Run the inbox pipeline on one file, as an upload of a user, and print what it did.
    Import(import::ImportArgs),
    /// List the inbox ledger: files received, what they became and where they are.
    Files(files::FilesArgs),
    /// Manage backoffice admins and their API tokens.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Publish a file into a partner's out/ folder.
    Publish(publish::PublishArgs),
    /// Manage the track & trace API users and their secrets.
    #[command(subcommand)]
    Apikey(apikey::ApikeyCommand),
}

/// A failed command: the message for standard error and the exit code.
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// A command that could not do its work (exit 1).
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }

    /// A wrong call or configuration (exit 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::failed(format!("{e:#}"))
    }
}

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let (Command::User(command), Some(("user", user_matches))) =
        (&mut cli.command, matches.subcommand())
    {
        user::keep_own_values(command, user_matches);
    }
    let config = match Config::load(&cli.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("freightdrop: {e}");
            return ExitCode::from(2);
        }
    };
    crate::logging::init(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("freightdrop: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(run(cli.command, config));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("freightdrop: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

async fn run(command: Command, config: Config) -> Result<(), Failure> {
    match command {
        Command::Serve => serve::run(config).await,
        Command::User(command) => {
            let store = open_store(&config).await?;
            let result = user::run(command, &store, config.inbox_ftp_plain).await;
            store.db().close().await;
            result
        }
        Command::Import(args) => {
            let store = open_store(&config).await?;
            let result = import::run(args, &store, crate::inbox::settings(&config)).await;
            store.db().close().await;
            result
        }
        Command::Files(args) => {
            let store = open_store(&config).await?;
            let result = files::run(args, &store).await;
            store.db().close().await;
            result
        }
        Command::Admin(command) => {
            let store = open_store(&config).await?;
            let staff = crate::staff::Staff::new(store.db().clone());
            let result = admin::run(command, &staff).await;
            store.db().close().await;
            result
        }
        Command::Publish(args) => {
            let store = open_store(&config).await?;
            let result = publish::run(args, &store, HomeTree::new(config.homes_dir())).await;
            store.db().close().await;
            result
        }
        Command::Apikey(command) => apikey::run(command, &config).await,
        Command::CheckConfig => {
            println!("{config}");
            let tls = crate::tls::check(&config.tls).map_err(|e| Failure::failed(e.to_string()))?;
            println!("# configuration is valid; FTPS certificate: {tls}");
            Ok(())
        }
    }
}

/// A time for people: `2025-06-02 14:20:00Z`, or `never`.
pub(crate) fn time(seconds: Option<i64>) -> String {
    seconds
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || "never".to_string(),
            |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        )
}

/// Opens the database and the homes named by the configuration.
pub(crate) async fn open_store(config: &Config) -> Result<UserStore, Failure> {
    let db = Db::connect(&config.database_url)
        .await
        .map_err(|e| Failure::failed(e.to_string()))?;
    Ok(UserStore::new(db, HomeTree::new(config.homes_dir())))
}
