//! `freightdrop publish USER FILE [--name NAME] [--replace]`: puts a file into a partner's
//! `out/` folder the same way the backoffice does (temp name + rename, recorded in the outbox
//! ledger), for scripts on the server.

use std::path::PathBuf;

use clap::Args;
use tokio::io::AsyncReadExt as _;

use super::Failure;
use crate::home::HomeTree;
use crate::metrics::Metrics;
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
    let unreadable =
        |e: std::io::Error| Failure::failed(format!("cannot read {}: {e}", args.file.display()));
    let mut source = tokio::fs::File::open(&args.file)
        .await
        .map_err(unreadable)?;
    // This command's counters go nowhere: /metrics shows the running server's.
    let outbox = Outbox::new(store.db().clone(), homes, Metrics::default());
    let refused = |e: OutboxError| match e {
        OutboxError::InvalidName(_) | OutboxError::Exists(_) | OutboxError::TooBig => {
            Failure::usage(e.to_string())
        }
        _ => Failure::failed(e.to_string()),
    };
    let mut writer = outbox.stage(&args.user, &name).await.map_err(refused)?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = source.read(&mut buffer).await.map_err(unreadable)?;
        if read == 0 {
            break;
        }
        writer.write(&buffer[..read]).await.map_err(refused)?;
    }
    let staged = writer.finish().await.map_err(refused)?;
    let file = outbox
        .publish(staged, "cli", args.replace)
        .await
        .map_err(refused)?;
    println!(
        "published {} to {}/out/ ({} bytes, sha256 {})",
        file.name, file.user, file.size, file.sha256
    );
    Ok(())
}
