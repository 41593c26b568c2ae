//! The core of the exchange: the parts every channel (FTP, SFTP, HTTP, and those to come) is
//! built on, made once per server by `serve` and handed to each channel, which reads the parts
//! it uses and can replace none. It knows no channel.

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::accounts::Accounts;
use crate::arrivals::{Arrival, Arrivals};
use crate::config::Config;
use crate::db::Db;
use crate::gate::Gate;
use crate::home::HomeTree;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::partner::Partners;
use crate::replies::Replies;
use crate::users::UserStore;

/// What every channel is built on: the configuration, the accounts, the login gate, the
/// partner-file sessions, the outbox and the shutdown signal. Its parts are read through
/// accessors and never replaced; the inbox's arrival channel is not among them: only the
/// partner-file session reports arrivals.
#[derive(Debug, Clone)]
pub struct Core {
    /// The validated configuration.
    config: Arc<Config>,
    /// The partner accounts and their homes.
    users: UserStore,
    /// Changes to partner accounts, ending the sessions they should on every node.
    accounts: Accounts,
    /// Logins, blocking and session limits, shared by every frontend.
    gate: Gate,
    /// Cancelled when the server stops accepting work.
    shutdown: CancellationToken,
    /// Every session task, so shutdown can wait for them.
    tasks: TaskTracker,
    /// Counters for `/metrics`.
    metrics: Metrics,
    /// Files published to partners' `out/` folders, and what became of them.
    outbox: Outbox,
    /// The partner-file sessions every channel works through.
    partners: Partners,
    /// Where mailed files came from, and the error replies to them.
    replies: Replies,
}

impl Core {
    /// The core over an open database, with the receiving end of the arrivals channel (for the
    /// inbox). Makes nothing on disk.
    pub fn new(config: Config, db: &Db) -> (Self, UnboundedReceiver<Arrival>) {
        let users = UserStore::new(db.clone(), HomeTree::new(config.homes_dir()));
        let config_homes = config.homes_dir();
        let metrics = Metrics::default();
        let gate = Gate::new(
            users.clone(),
            config.login_policy,
            config.max_sessions,
            config.max_sessions_per_user,
        )
        .with_metrics(metrics.clone())
        .with_admission(config.admission)
        .with_http_caps(config.http.into());
        let (arrivals, arrived) = Arrivals::channel();
        let outbox = Outbox::new(
            db.clone(),
            HomeTree::new(config_homes.clone()),
            metrics.clone(),
        );
        let partners = Partners::new(
            HomeTree::new(config_homes),
            arrivals,
            outbox.clone(),
            metrics.clone(),
        )
        .with_inbox_ftp_plain(config.inbox_ftp_plain)
        .with_file_formats(inbox_processor::Ledger::new(db.pool().clone()));
        let accounts = Accounts::new(users.clone(), gate.sessions().clone());
        let config = Arc::new(config);
        let replies = Replies::new(db, config.clone(), metrics.clone());
        let core = Core {
            config,
            replies,
            users,
            accounts,
            gate,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            outbox,
            partners,
            metrics,
        };
        (core, arrived)
    }

    /// The validated configuration.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The partner accounts, to read (changes go through [`Core::accounts`]).
    pub fn users(&self) -> &UserStore {
        &self.users
    }

    /// Changes to partner accounts, ending the sessions they should on every node.
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// Admission, logins, blocking and session limits, shared by every channel.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Cancelled when the server stops accepting work.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Every session task, so shutdown can wait for them.
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Counters for `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Files published to partners' `out/` folders, and what became of them.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The partner-file sessions every channel works through.
    pub fn partners(&self) -> &Partners {
        &self.partners
    }

    /// Where mailed files came from, and the error replies to them.
    pub fn replies(&self) -> &Replies {
        &self.replies
    }
}
