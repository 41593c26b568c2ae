//! Outgoing files: staff publish a file into a partner's `out/` folder (`publish.rs`: streamed
//! to a hidden temp name, recorded, then linked into place, so the partner never sees half a
//! file nor one the ledger doesn't know), and the ledger (`outbox_files`) follows it: each
//! download the frontends report, and when the partner moved it out of `out/`, into `done/` or
//! `error/` (a file moved to `error/` is something for staff to look at). Reports are written
//! in order by one background writer (`events.rs`), so a slow database never holds up a
//! transfer and a download is never recorded after the move that followed it.

mod events;
mod publish;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;
use tokio::sync::mpsc;

use crate::clock::now;
use crate::db::Db;
use crate::home::{HomeTree, VirtualPath};
use crate::metrics::Metrics;

pub use events::Event;
pub use publish::{Staged, StagedWriter};

/// The folder of outgoing files in every home.
pub const OUT: &str = "out";

/// Largest file staff can publish, in bytes.
pub const MAX_PUBLISH_BYTES: u64 = 512 * 1024 * 1024;

/// Why a file could not be published or listed.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The file name is not a plain file name.
    #[error("invalid file name {0:?}: use a plain name of at most 200 bytes, without '/', not starting with '.'")]
    InvalidName(String),
    /// A file of that name waits in `out/` already.
    #[error(
        "{0:?} is already in the user's out/ folder; publish under another name or replace it"
    )]
    Exists(String),
    /// The user's home is missing.
    #[error("the user's home folder is missing")]
    NoHome,
    /// The file is over the limit.
    #[error("the file is too big to publish (at most {MAX_PUBLISH_BYTES} bytes)")]
    TooBig,
    /// The upload of the file's content broke off.
    #[error("the file's content could not be read: {0}")]
    Incomplete(String),
    /// Writing the file failed.
    #[error("cannot write the file: {0}")]
    Io(#[from] std::io::Error),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// One published file and what happened to it.
#[derive(Debug, Clone, Serialize)]
pub struct OutgoingFile {
    /// Ledger id.
    pub id: i64,
    /// The partner.
    pub user: String,
    /// Its name in `out/`.
    pub name: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256, hex.
    pub sha256: String,
    /// Who published it (an admin, or `cli`).
    pub published_by: String,
    /// When, Unix seconds.
    pub published_at: i64,
    /// Completed downloads.
    pub downloads: i64,
    /// First download, Unix seconds.
    pub first_download_at: Option<i64>,
    /// Last download, Unix seconds.
    pub last_download_at: Option<i64>,
    /// Protocol of the last download.
    pub last_download_protocol: Option<String>,
    /// Where it went: `done` or `error` (moved there by the partner), `elsewhere`, `deleted`,
    /// or `replaced` (by a newer file of the same name).
    pub moved_to: Option<String>,
    /// The path it was moved to, in the partner's home.
    pub moved_name: Option<String>,
    /// When it left `out/`, Unix seconds.
    pub moved_at: Option<i64>,
    /// Whether staff should look at it: the partner moved it to `error/`.
    pub attention: bool,
}

/// The outgoing files of every partner.
#[derive(Debug, Clone)]
pub struct Outbox {
    db: Db,
    tree: HomeTree,
    events: mpsc::UnboundedSender<Event>,
    metrics: Metrics,
}

impl Outbox {
    /// The outbox over `db`, with homes under `tree`, counting into `metrics`. Its report writer
    /// runs on the current tokio runtime; without one (a plain command), reports are dropped.
    pub fn new(db: Db, tree: HomeTree, metrics: Metrics) -> Self {
        let (events, received) = mpsc::unbounded_channel();
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(events::write(db.clone(), metrics.clone(), received));
        }
        Self {
            db,
            tree,
            events,
            metrics,
        }
    }

    /// Published files, newest first, of one user or all.
    ///
    /// # Errors
    /// [`OutboxError::Db`].
    pub async fn list(
        &self,
        user: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OutgoingFile>, OutboxError> {
        let limit = limit.clamp(1, 1000);
        let rows = match user {
            Some(user) => {
                sqlx::query(&format!(
                    "SELECT * FROM outbox_files WHERE user_name = $1 ORDER BY id DESC LIMIT {limit}"
                ))
                .bind(user)
                .fetch_all(self.db.pool())
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT * FROM outbox_files ORDER BY id DESC LIMIT {limit}"
                ))
                .fetch_all(self.db.pool())
                .await?
            }
        };
        rows.iter().map(outgoing_of).collect()
    }

    /// One published file by its ledger id.
    ///
    /// # Errors
    /// [`OutboxError::Db`].
    pub async fn get(&self, id: i64) -> Result<Option<OutgoingFile>, OutboxError> {
        let row = sqlx::query("SELECT * FROM outbox_files WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(outgoing_of).transpose()
    }

    /// Reports a completed (whole) download of `path` by `user`; counted when it is in `out/`.
    pub fn downloaded(&self, user: &str, path: &VirtualPath, protocol: crate::users::Protocol) {
        if let Some(name) = out_file(path) {
            self.report(Event::Downloaded {
                user: user.to_owned(),
                name,
                protocol: protocol.as_str(),
                at: now(),
            });
        }
    }

    /// Reports that `user` renamed `from` to `to` (replacing whatever was at `to`).
    pub fn moved(&self, user: &str, from: &VirtualPath, to: &VirtualPath) {
        if out_file(from).is_some() || out_file(to).is_some() {
            self.report(Event::Moved {
                user: user.to_owned(),
                from: from.clone(),
                to: to.clone(),
                at: now(),
            });
        }
    }

    /// Reports that `user` deleted `path`; recorded when it is a file in `out/`.
    pub fn deleted(&self, user: &str, path: &VirtualPath) {
        if let Some(name) = out_file(path) {
            self.report(Event::Closed {
                user: user.to_owned(),
                name,
                how: "deleted",
                at: now(),
            });
        }
    }

    /// Reports that `user` wrote a new file at `path` (an upload over whatever was there).
    pub fn overwritten(&self, user: &str, path: &VirtualPath) {
        if let Some(name) = out_file(path) {
            self.report(Event::Closed {
                user: user.to_owned(),
                name,
                how: "replaced",
                at: now(),
            });
        }
    }

    fn report(&self, event: Event) {
        // The writer lives as long as the runtime; if it is gone the process is stopping.
        let _ = self.events.send(event);
    }

    /// Writes every report made so far and stops the report writer (at shutdown, after the
    /// sessions ended and before the database closes); later reports are not written.
    pub async fn close(&self) {
        let (done, written) = tokio::sync::oneshot::channel();
        if self.events.send(Event::Close(done)).is_ok() {
            let _ = written.await;
        }
    }

    fn tree(&self) -> &HomeTree {
        &self.tree
    }

    fn db(&self) -> &Db {
        &self.db
    }
}

/// The name of `path` when it is a file directly in `out/`.
fn out_file(path: &VirtualPath) -> Option<String> {
    match path.segments() {
        [folder, name] if folder == OUT => Some(name.clone()),
        _ => None,
    }
}

fn outgoing_of(row: &AnyRow) -> Result<OutgoingFile, OutboxError> {
    let moved_to: Option<String> = row.try_get("moved_to")?;
    Ok(OutgoingFile {
        id: row.try_get("id")?,
        user: row.try_get("user_name")?,
        name: row.try_get("file_name")?,
        size: row.try_get("size")?,
        sha256: row.try_get("sha256")?,
        published_by: row.try_get("published_by")?,
        published_at: row.try_get("published_at")?,
        downloads: row.try_get("downloads")?,
        first_download_at: row.try_get("first_download_at")?,
        last_download_at: row.try_get("last_download_at")?,
        last_download_protocol: row.try_get("last_download_protocol")?,
        attention: moved_to.as_deref() == Some("error"),
        moved_to,
        moved_name: row.try_get("moved_name")?,
        moved_at: row.try_get("moved_at")?,
    })
}
