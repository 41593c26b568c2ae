//! `freightdrop publish USER FILE [--name NAME] [--replace]`: puts a file into a partner's
//! `out/` folder the same way the backoffice does (temp name + rename, recorded in the outbox
//! ledger), for scripts on the server.

use std::path::PathBuf;

use clap::Args;

use super::Failure;
use crate::home::HomeTree;
use crate::outbox::{Outbox, OutboxError};
use crate::users::UserStore;

/// Arguments of `publish`.
#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// The partner user.
    user: String,
    /// The file to publish.
    file: PathBuf,
    /// The name in out/ [default: the file's own name].
    #[arg(long)]
    name: Option<String>,
    /// Replace a file of that name still waiting in out/.
    #[arg(long)]
    replace: bool,
}

pub(crate) async fn run(
    args: PublishArgs,
    store: &UserStore,
    homes: HomeTree,
) -> Result<(), Failure> {
    store
        .require(&args.user)
        .await
        .map_err(|e| Failure::usage(e.to_string()))?;
    let name = match args.name {
        Some(name) => name,
        None => args
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Failure::usage(format!("{} has no file name", args.file.display())))?,
    };
    let content = std::fs::read(&args.file)
        .map_err(|e| Failure::failed(format!("cannot read {}: {e}", args.file.display())))?;
    let outbox = Outbox::new(store.db().clone(), homes);
    let file = outbox
        .publish(&args.user, &name, content, "cli", args.replace)
        .await
        .map_err(|e| match e {
            OutboxError::InvalidName(_) | OutboxError::Exists(_) | OutboxError::TooBig => {
                Failure::usage(e.to_string())
            }
            _ => Failure::failed(e.to_string()),
        })?;
    println!(
        "published {} to {}/out/ ({} bytes, sha256 {})",
        file.name, file.user, file.size, file.sha256
    );
    Ok(())
}
