//! The server's side of the inbox: the inbox-processor crate wired to this server's user store,
//! homes folder and arrival channel. The processor itself knows files and the database; this
//! module only tells it who the users are and where their homes lie.

use std::path::PathBuf;
use std::time::Duration;

use inbox_processor::{
    Accounts, Arrived, FileRow, FileState, Ledger, Pipeline, Processor, Settings, Uploader,
};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::arrivals::Arrival;
use crate::config::Config;
use crate::db::Db;
use crate::exchange::Core;
use crate::metrics::{FileResult, Metrics};
use crate::replies::Replies;
use crate::users::UserStore;

/// The user store as the inbox sees it (a user's customer and format override), the
/// metrics it reports finished files and its queue into, and the mail replies it tells of a
/// rejected file (which decide whether it came by mail and gets a reply).
#[derive(Debug, Clone)]
pub struct UserAccounts {
    users: UserStore,
    metrics: Metrics,
    replies: Replies,
}

impl Accounts for UserAccounts {
    async fn uploader(
        &self,
        user: &str,
    ) -> Result<Option<Uploader>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.users.get(user).await?.map(|u| Uploader {
            user: u.name,
            customer: u.customer,
            format: u.format,
        }))
    }

    fn finished(&self, row: &FileRow, elapsed: Duration) {
        let result = match row.state {
            FileState::Done => FileResult::Accepted,
            FileState::Error => {
                self.replies.nudge();
                FileResult::Rejected
            }
            FileState::Processing | FileState::Vanished => return,
        };
        self.metrics.file_processed(result, elapsed);
    }

    fn queue_depth(&self, depth: usize) {
        self.metrics.set_queue_depth(depth);
    }
}

/// The pipeline over `db` and the homes in `homes`, with `settings` (see [`settings`]).
pub fn pipeline(db: &Db, homes: impl Into<PathBuf>, settings: Settings) -> Pipeline {
    Pipeline::new(Ledger::new(db.pool().clone()), homes, settings)
}

/// The inbox settings of `config` (`--inbox-*`), over the defaults.
pub fn settings(config: &Config) -> Settings {
    let defaults = Settings::default();
    Settings {
        workers: usize::try_from(config.inbox.workers).unwrap_or(1),
        settle: config.inbox.settle,
        rescan: config.inbox.rescan,
        limits: inbox_processor::Limits {
            max_bytes: config.inbox.max_file_bytes,
            timeout: config.inbox.file_timeout,
        },
        max_memory: config.inbox.max_memory,
        ..defaults
    }
}

/// Starts the inbox processor and the forwarder of the frontends' arrivals to it, both on the
/// core's task tracker, until the core's shutdown token is cancelled.
pub fn start(core: &Core, db: &Db, mut arrived: UnboundedReceiver<Arrival>) -> JoinHandle<()> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    // The forwarder stops with the processor at shutdown; arrivals reported after that are
    // found by the next start's scan.
    let shutdown = core.shutdown().clone();
    core.tasks().spawn(async move {
        loop {
            let arrival = tokio::select! {
                arrival = arrived.recv() => arrival,
                () = shutdown.cancelled() => None,
            };
            let Some(arrival) = arrival else { break };
            tracing::info!(user = %arrival.user, file = %arrival.name, protocol = %arrival.protocol, "file arrived in inbox");
            let forwarded = Arrived {
                user: arrival.user,
                name: arrival.name,
            };
            if tx.send(forwarded).is_err() {
                break;
            }
        }
    });
    let processor = Processor::new(
        pipeline(db, core.config().homes_dir(), settings(core.config())),
        UserAccounts {
            users: core.users().clone(),
            metrics: core.metrics().clone(),
            replies: core.replies().clone(),
        },
    );
    core.tasks()
        .spawn(processor.run(rx, core.shutdown().clone(), core.tasks().clone()))
}
