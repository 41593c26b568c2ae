//! `freightdrop apikey ...`: the track & trace API users from the command line, on the same
//! database and secrets key as `serve`. A new secret is printed once, on `add`, and never again.

use clap::Subcommand;

use super::{time, Failure};
use crate::config::Config;
use crate::db::Db;
use crate::tracking::keys::{ApiKey, ApiKeyError, ApiKeys};
use crate::tracking::secrets::KeyFile;

/// The `apikey` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ApikeyCommand {
    /// Add an API user for a customer and print its new secret (shown only this once).
    Add {
        /// The API user's name (1-32 letters, digits, '.', '_', '-').
        name: String,
        /// The customer code whose shipments it may see.
        #[arg(long)]
        customer: String,
    },
    /// List the API users (never their secrets).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove an API user; its signatures stop working at once.
    Remove {
        /// The API user.
        name: String,
    },
    /// Stop accepting an API user's signatures (its secret is kept).
    Disable {
        /// The API user.
        name: String,
    },
    /// Accept a disabled API user's signatures again.
    Enable {
        /// The API user.
        name: String,
    },
}

pub(crate) async fn run(command: ApikeyCommand, config: &Config) -> Result<(), Failure> {
    let db = Db::connect(&config.database_url)
        .await
        .map_err(|e| Failure::failed(e.to_string()))?;
    let keys = ApiKeys::new(db.clone());
    let result = execute(command, config, &keys).await;
    db.close().await;
    result
}

async fn execute(command: ApikeyCommand, config: &Config, keys: &ApiKeys) -> Result<(), Failure> {
    match command {
        ApikeyCommand::Add { name, customer } => {
            // Check the call before touching the key file.
            crate::users::check_name(&name)
                .map_err(|_| failure(ApiKeyError::InvalidName(name.chars().take(40).collect())))?;
            crate::users::check_customer(&customer).map_err(|_| {
                failure(ApiKeyError::InvalidCustomer(
                    customer.chars().take(40).collect(),
                ))
            })?;
            let sealing = KeyFile::from_config(config)
                .load()
                .map_err(|e| Failure::failed(e.to_string()))?;
            let (user, secret) = keys
                .add(&sealing, &name, &customer)
                .await
                .map_err(failure)?;
            println!("API user {} added (customer {})", user.name, user.customer);
            println!("secret: {}", secret.expose());
            println!(
                "This secret is shown only once: give it to the partner now. If it is lost, \
                 remove the API user and add it again."
            );
            Ok(())
        }
        ApikeyCommand::List { json } => {
            let users = keys.list().await.map_err(failure)?;
            if json {
                let text = serde_json::to_string_pretty(&users)
                    .map_err(|e| Failure::failed(format!("cannot write JSON: {e}")))?;
                println!("{text}");
            } else {
                print_table(&users);
            }
            Ok(())
        }
        ApikeyCommand::Remove { name } => {
            keys.remove(&name).await.map_err(failure)?;
            println!("API user {name} removed");
            Ok(())
        }
        ApikeyCommand::Disable { name } => {
            keys.set_enabled(&name, false).await.map_err(failure)?;
            println!("API user {name} disabled");
            Ok(())
        }
        ApikeyCommand::Enable { name } => {
            keys.set_enabled(&name, true).await.map_err(failure)?;
            println!("API user {name} enabled");
            Ok(())
        }
    }
}

fn failure(e: ApiKeyError) -> Failure {
    match e {
        ApiKeyError::InvalidName(_) | ApiKeyError::InvalidCustomer(_) => {
            Failure::usage(e.to_string())
        }
        _ => Failure::failed(e.to_string()),
    }
}

fn print_table(users: &[ApiKey]) {
    println!(
        "{:<32} {:<20} {:<8} {:<20} LAST USED",
        "NAME", "CUSTOMER", "STATE", "CREATED"
    );
    for user in users {
        println!(
            "{:<32} {:<20} {:<8} {:<20} {}",
            user.name,
            user.customer,
            if user.enabled { "enabled" } else { "disabled" },
            time(Some(user.created_at)),
            time(user.last_used_at),
        );
    }
}
