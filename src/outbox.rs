//! Outgoing files: staff publish a file into a partner's `out/` folder (temp name + rename, so
//! the partner never sees half a file), and the ledger (`outbox_files`) follows it: when it was
//! published, each download the frontends report, and when the partner moved it out of `out/`,
//! into `done/` or `error/` (a file moved to `error/` is something for staff to look at).
//!
//! The frontends report downloads and moves by virtual path; only files directly in `out/`
//! count. Reports are written in the background: a slow database never holds up a transfer.

use std::io::Write as _;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::Db;
use crate::home::{Home, HomeTree, VirtualPath};
use crate::users::Protocol;

/// The folder of outgoing files in every home.
pub const OUT: &str = "out";

/// Largest file staff can publish, in bytes.
pub const MAX_PUBLISH_BYTES: usize = 512 * 1024 * 1024;

/// Why a file could not be published or listed.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The file name is not a plain file name.
    #[error("invalid file name {0:?}: use a plain name without '/', not starting with '.'")]
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
    /// Where the partner moved it: `done`, `error`, `elsewhere`, `deleted` or `replaced`.
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
}

impl Outbox {
    /// The outbox over `db`, with homes under `tree`.
    pub fn new(db: Db, tree: HomeTree) -> Self {
        Self { db, tree }
    }

    /// Writes `content` as `out/<name>` in `user`'s home (temp name, fsync, rename) and records
    /// it. With `replace`, a waiting file of that name is replaced (its record is closed as
    /// `replaced`); without, it is an error.
    ///
    /// # Errors
    /// [`OutboxError`] for a bad name, an existing file, a missing home, a disk or database
    /// failure. On error nothing is left in `out/`.
    pub async fn publish(
        &self,
        user: &str,
        name: &str,
        content: Vec<u8>,
        by: &str,
        replace: bool,
    ) -> Result<OutgoingFile, OutboxError> {
        check_file_name(name)?;
        if content.len() > MAX_PUBLISH_BYTES {
            return Err(OutboxError::TooBig);
        }
        let home = self.tree.open(user).map_err(|_| OutboxError::NoHome)?;
        let out_dir = home.root().join(OUT);
        if !out_dir.is_dir() {
            return Err(OutboxError::NoHome);
        }
        let target = out_dir.join(name);
        let sha256 = hex::encode(Sha256::digest(&content));
        let size = i64::try_from(content.len()).unwrap_or(i64::MAX);
        let written = {
            let target = target.clone();
            tokio::task::spawn_blocking(move || write_atomically(&target, &content, replace))
                .await
                .map_err(|e| OutboxError::Io(std::io::Error::other(e)))?
        };
        written.map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => OutboxError::Exists(name.to_owned()),
            _ => OutboxError::Io(e),
        })?;
        let now = now();
        let recorded = async {
            let mut tx = self.db.pool().begin().await?;
            sqlx::query(
                "UPDATE outbox_files SET moved_to = 'replaced', moved_at = $1, closed_at = $1 \
                 WHERE user_name = $2 AND file_name = $3 AND closed_at IS NULL",
            )
            .bind(now)
            .bind(user)
            .bind(name)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO outbox_files (user_name, file_name, size, sha256, published_by, \
                 published_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(user)
            .bind(name)
            .bind(size)
            .bind(&sha256)
            .bind(by)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = recorded {
            // The record is what staff see; a file nobody knows was published is taken back.
            let _ = std::fs::remove_file(&target);
            return Err(e.into());
        }
        let files = self.list(Some(user), 1).await?;
        files
            .into_iter()
            .find(|f| f.name == name)
            .ok_or(OutboxError::Db(sqlx::Error::RowNotFound))
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
        Ok(rows.iter().map(outgoing_of).collect())
    }

    /// Reports a completed download of `path` by `user`; counted when it is a file in `out/`.
    pub fn downloaded(&self, user: &str, path: &VirtualPath, protocol: Protocol) {
        let Some(name) = out_file(path) else {
            return;
        };
        let db = self.db.clone();
        let user = user.to_owned();
        tokio::spawn(async move {
            let now = now();
            let done = sqlx::query(
                "UPDATE outbox_files SET downloads = downloads + 1, \
                 first_download_at = COALESCE(first_download_at, $1), last_download_at = $1, \
                 last_download_protocol = $2 \
                 WHERE user_name = $3 AND file_name = $4 AND closed_at IS NULL",
            )
            .bind(now)
            .bind(protocol.as_str())
            .bind(&user)
            .bind(&name)
            .execute(db.pool())
            .await;
            if let Err(e) = done {
                tracing::warn!(user, file = name, error = %e, "cannot record a download");
            }
        });
    }

    /// Reports that `user` renamed `from` to `to`; recorded when `from` is a file in `out/`.
    pub fn moved(&self, user: &str, from: &VirtualPath, to: &VirtualPath) {
        let Some(name) = out_file(from) else {
            return;
        };
        let place = match to.segments().first().map(String::as_str) {
            Some("done") if to.segments().len() > 1 => "done",
            Some("error") if to.segments().len() > 1 => "error",
            Some(OUT) if to.segments().len() == 2 => {
                // A rename inside out/: the record follows the new name.
                return self.renamed_in_out(user, name, to);
            }
            _ => "elsewhere",
        };
        self.close(user, name, place, Some(to.to_string()));
    }

    /// Reports that `user` deleted `path`; recorded when it is a file in `out/`.
    pub fn deleted(&self, user: &str, path: &VirtualPath) {
        if let Some(name) = out_file(path) {
            self.close(user, name, "deleted", None);
        }
    }

    fn renamed_in_out(&self, user: &str, name: String, to: &VirtualPath) {
        let Some(new_name) = to.file_name().map(str::to_owned) else {
            return;
        };
        let db = self.db.clone();
        let user = user.to_owned();
        tokio::spawn(async move {
            let done = sqlx::query(
                "UPDATE outbox_files SET file_name = $1 \
                 WHERE user_name = $2 AND file_name = $3 AND closed_at IS NULL",
            )
            .bind(&new_name)
            .bind(&user)
            .bind(&name)
            .execute(db.pool())
            .await;
            if let Err(e) = done {
                tracing::warn!(user, file = name, error = %e, "cannot record a rename in out/");
            }
        });
    }

    fn close(&self, user: &str, name: String, place: &'static str, to: Option<String>) {
        let db = self.db.clone();
        let user = user.to_owned();
        tokio::spawn(async move {
            let now = now();
            let done = sqlx::query(
                "UPDATE outbox_files SET moved_to = $1, moved_name = $2, moved_at = $3, \
                 closed_at = $3 WHERE user_name = $4 AND file_name = $5 AND closed_at IS NULL",
            )
            .bind(place)
            .bind(to)
            .bind(now)
            .bind(&user)
            .bind(&name)
            .execute(db.pool())
            .await;
            match done {
                Ok(r) if r.rows_affected() > 0 && place == "error" => {
                    tracing::warn!(
                        user,
                        file = name,
                        "partner moved a published file to error/"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(user, file = name, error = %e, "cannot record a move"),
            }
        });
    }
}

/// The name of `path` when it is a file directly in `out/`.
fn out_file(path: &VirtualPath) -> Option<String> {
    match path.segments() {
        [folder, name] if folder == OUT => Some(name.clone()),
        _ => None,
    }
}

/// A publishable name: one plain path segment, not hidden, no control characters.
fn check_file_name(name: &str) -> Result<(), OutboxError> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.starts_with('.')
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control)
        || VirtualPath::parse(name).map_or(true, |p| p.segments().len() != 1);
    if bad {
        return Err(OutboxError::InvalidName(name.chars().take(80).collect()));
    }
    Ok(())
}

/// Writes `content` to a hidden temp name beside `target`, syncs it, then moves it into place:
/// with `replace` by rename (readers of the old file keep it), without by hard link, which fails
/// if the name is taken.
fn write_atomically(target: &Path, content: &[u8], replace: bool) -> std::io::Result<()> {
    let temp = Home::partial_path(target);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(content)?;
        file.sync_all()?;
        if replace {
            std::fs::rename(&temp, target)
        } else {
            std::fs::hard_link(&temp, target)
        }
    })();
    if !replace || result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    if result.is_ok() {
        if let Some(dir) = target.parent() {
            if let Ok(dir) = std::fs::File::open(dir) {
                let _ = dir.sync_all();
            }
        }
    }
    result
}

fn outgoing_of(row: &AnyRow) -> OutgoingFile {
    let moved_to: Option<String> = row.try_get("moved_to").ok().flatten();
    OutgoingFile {
        id: row.try_get("id").unwrap_or(0),
        user: row.try_get("user_name").unwrap_or_default(),
        name: row.try_get("file_name").unwrap_or_default(),
        size: row.try_get("size").unwrap_or(0),
        sha256: row.try_get("sha256").unwrap_or_default(),
        published_by: row.try_get("published_by").unwrap_or_default(),
        published_at: row.try_get("published_at").unwrap_or(0),
        downloads: row.try_get("downloads").unwrap_or(0),
        first_download_at: row.try_get("first_download_at").ok().flatten(),
        last_download_at: row.try_get("last_download_at").ok().flatten(),
        last_download_protocol: row.try_get("last_download_protocol").ok().flatten(),
        attention: moved_to.as_deref() == Some("error"),
        moved_to,
        moved_name: row.try_get("moved_name").ok().flatten(),
        moved_at: row.try_get("moved_at").ok().flatten(),
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
