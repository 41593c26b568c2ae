//! Error replies to mailed files (issue 13 items 6 and 7): where each file that came by mail
//! came from, and the reply mailed back when the inbox rejects it.
//!
//! - At delivery, before the 250, the mail channel calls [`Replies::record`]: one `mail_files`
//!   row per attachment (sender, Message-ID, subject, References, and whether RFC 3834 forbids an
//!   automatic reply, [`rfc3834`]), beside the inbox ledger and tied to the file's ledger row by
//!   user, name, inode and size.
//! - The inbox knows nothing of mail. Each node's worker ([`worker`]) looks, when the inbox
//!   reports a rejected file ([`Replies::nudge`]) and every two seconds, for mailed files whose
//!   ledger row is closed; it ties each to its row once, in the transaction that queues its
//!   reply ([`queue`]), so a crash anywhere leaves the reply either queued or still to be
//!   queued, and never queued twice. Accepted files get no reply (a per-account confirmation is
//!   not built yet).
//! - A reply is the whole message ([`message`]), stored in `mail_replies` and sent by a worker
//!   through `--smtp-relay` with `lettre`, from the null sender, with retries and exponential
//!   backoff (attempts, next try, last error, sent time in the row). Rows are claimed with a
//!   lease, so several nodes on PostgreSQL never send one reply at the same time. Without a
//!   relay, replies are queued and not sent.
//!
//! It knows the ledger's table and the homes' `error/` folders, not SMTP sessions.

pub mod message;
pub mod queue;
pub mod rfc3834;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::config::Config;
use crate::db::Db;
use crate::metrics::Metrics;

pub use worker::start;

/// Where a mailed message came from and what it says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The envelope sender (MAIL FROM), empty for the null sender.
    pub sender: String,
    /// The Message-ID, without angle brackets.
    pub message_id: Option<String>,
    /// The Subject.
    pub subject: Option<String>,
    /// The References' message IDs, without angle brackets.
    pub references: Vec<String>,
    /// The `Auto-Submitted` header's value.
    pub auto_submitted: Option<String>,
    /// The `Precedence` header's value.
    pub precedence: Option<String>,
    /// Whether the message has a `List-*` header.
    pub list_header: bool,
}

impl Origin {
    /// Why this message gets no automatic reply (RFC 3834), if so.
    pub fn no_reply(&self) -> Option<&'static str> {
        rfc3834::no_reply(&rfc3834::Facts {
            sender: &self.sender,
            auto_submitted: self.auto_submitted.as_deref(),
            precedence: self.precedence.as_deref(),
            list_header: self.list_header,
        })
    }
}

/// One file a message put into an inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailedFile {
    /// Its name in the inbox.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its inode (kept by the moves to `done/` and `error/`).
    pub inode: u64,
}

/// Why a mailed file's origin could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// The error replies of one server: cheap to clone.
#[derive(Debug, Clone)]
pub struct Replies {
    db: Db,
    config: Arc<Config>,
    homes: PathBuf,
    metrics: Metrics,
    wake: Arc<Notify>,
}

impl Replies {
    /// The replies over `db`, with the settings of `config` (`[mail]`).
    pub fn new(db: &Db, config: Arc<Config>, metrics: Metrics) -> Self {
        Self {
            db: db.clone(),
            homes: config.homes_dir(),
            config,
            metrics,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Records where `files`, just put into `user`'s inbox by one message, came from. Durable
    /// when it returns: call it before the message's 250.
    ///
    /// # Errors
    /// [`ReplyError`] when the database fails (answer 451: the sender tries again).
    pub async fn record(
        &self,
        user: &str,
        origin: &Origin,
        files: &[MailedFile],
    ) -> Result<(), ReplyError> {
        queue::record(self.db.pool(), user, origin, files).await?;
        self.nudge();
        Ok(())
    }

    /// Where inbox ledger row `inbox_file_id` came from by mail, with its error replies; `None`
    /// for a file that did not come by mail (or is not finished yet).
    ///
    /// # Errors
    /// [`ReplyError`] when the database fails.
    pub async fn for_file(
        &self,
        inbox_file_id: i64,
    ) -> Result<Option<(queue::MailOrigin, Vec<queue::ReplyRow>)>, ReplyError> {
        Ok(queue::for_file(self.db.pool(), inbox_file_id).await?)
    }

    /// Tells this node's worker that a file may have been rejected (it looks at once).
    pub fn nudge(&self) {
        self.wake.notify_one();
    }
}
