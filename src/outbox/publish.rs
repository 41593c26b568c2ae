//! Publishing a file into a partner's `out/`: the content is streamed to a hidden staged file
//! in `out/` ([`crate::staging`]; hashed and size-checked on the way, then synced), the ledger
//! row is written, the file is put in place (never replacing, unless asked), and only then is
//! the row committed. A partner never sees half a file, nor a file the ledger does not know; a waiting
//! file is never replaced unless asked.

use sha2::{Digest, Sha256};
use sqlx::Row;
use tokio::io::AsyncWriteExt as _;

use super::{now, Outbox, OutboxError, OutgoingFile, MAX_PUBLISH_BYTES, OUT};
use crate::home::VirtualPath;
use crate::metrics::OutboxEvent;
use crate::staging::{Placement, StagedFile};

/// A file being written under its temp name; the temp file is removed if it is dropped
/// unfinished.
#[derive(Debug)]
pub struct StagedWriter {
    file: tokio::fs::File,
    hasher: Sha256,
    size: u64,
    staged: Staged,
}

/// A complete file under its temp name in `out/`, ready to publish; removed if dropped.
#[derive(Debug)]
pub struct Staged {
    user: String,
    name: String,
    file: StagedFile,
    target: std::path::PathBuf,
    size: u64,
    sha256: String,
}

impl StagedWriter {
    /// Appends `chunk`.
    ///
    /// # Errors
    /// [`OutboxError::TooBig`] past the limit, [`OutboxError::Io`] when the disk fails.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), OutboxError> {
        self.size += chunk.len() as u64;
        if self.size > MAX_PUBLISH_BYTES {
            return Err(OutboxError::TooBig);
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).await?;
        Ok(())
    }

    /// Syncs the content to disk.
    ///
    /// # Errors
    /// [`OutboxError::Io`].
    pub async fn finish(mut self) -> Result<Staged, OutboxError> {
        self.file.flush().await?;
        self.file.sync_data().await?;
        let mut staged = self.staged;
        staged.size = self.size;
        staged.sha256 = hex::encode(self.hasher.finalize());
        Ok(staged)
    }
}

impl Outbox {
    /// Starts publishing `name` to `user`'s `out/`: a writer for the content.
    ///
    /// # Errors
    /// [`OutboxError::InvalidName`], [`OutboxError::NoHome`], or [`OutboxError::Io`].
    pub async fn stage(&self, user: &str, name: &str) -> Result<StagedWriter, OutboxError> {
        check_file_name(name)?;
        let home = self.tree().open(user).map_err(|_| OutboxError::NoHome)?;
        let out_dir = home.root().join(OUT);
        if !tokio::fs::metadata(&out_dir)
            .await
            .is_ok_and(|m| m.is_dir())
        {
            return Err(OutboxError::NoHome);
        }
        let target = out_dir.join(name);
        let place = target.clone();
        let staged = tokio::task::spawn_blocking(move || StagedFile::create(&place, 0o600))
            .await
            .map_err(|e| OutboxError::Io(std::io::Error::other(e)))??;
        let file = tokio::fs::File::from_std(staged.file().try_clone()?);
        Ok(StagedWriter {
            file,
            hasher: Sha256::new(),
            size: 0,
            staged: Staged {
                user: user.to_owned(),
                name: name.to_owned(),
                file: staged,
                target,
                size: 0,
                sha256: String::new(),
            },
        })
    }

    /// Publishes a staged file as `by`. With `replace`, a waiting file of that name is replaced
    /// (its record closed as `replaced`); without, that is an error.
    ///
    /// # Errors
    /// [`OutboxError::Exists`], or [`OutboxError::Io`] / [`OutboxError::Db`]; nothing new is
    /// left in `out/` then, except when the database fails at the very commit of a replacement
    /// (the new file stays, since the old one is gone; the error says so in the log).
    pub async fn publish(
        &self,
        staged: Staged,
        by: &str,
        replace: bool,
    ) -> Result<OutgoingFile, OutboxError> {
        let at = now();
        let mut tx = self.db().pool().begin().await?;
        if replace {
            sqlx::query(
                "UPDATE outbox_files SET moved_to = 'replaced', moved_at = $1, closed_at = $1 \
                 WHERE user_name = $2 AND file_name = $3 AND closed_at IS NULL",
            )
            .bind(at)
            .bind(&staged.user)
            .bind(&staged.name)
            .execute(&mut *tx)
            .await?;
        }
        let row = sqlx::query(
            "INSERT INTO outbox_files (user_name, file_name, size, sha256, published_by, \
             published_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&staged.user)
        .bind(&staged.name)
        .bind(i64::try_from(staged.size).unwrap_or(i64::MAX))
        .bind(&staged.sha256)
        .bind(by)
        .bind(at)
        .fetch_one(&mut *tx)
        .await;
        let id: i64 = match row {
            Ok(row) => row.try_get(0)?,
            // An open row for the name without a file in out/ (the partner moved it and the
            // report is still on its way): the link below decides.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() && !replace => {
                return Err(OutboxError::Exists(staged.name.clone()));
            }
            Err(e) => return Err(e.into()),
        };
        let placement = if replace {
            Placement::Replace
        } else {
            Placement::NoReplace
        };
        let Staged {
            user,
            name,
            file,
            target,
            ..
        } = staged;
        let placed = tokio::task::spawn_blocking(move || file.place_synced(placement))
            .await
            .map_err(|e| OutboxError::Io(std::io::Error::other(e)))?;
        if let Err(e) = placed {
            return Err(match e.kind() {
                std::io::ErrorKind::AlreadyExists => OutboxError::Exists(name),
                _ => OutboxError::Io(e),
            });
        }
        if let Err(e) = tx.commit().await {
            if replace {
                tracing::error!(user, file = name, error = %e,
                    "published file replaced the waiting one but its record failed");
            } else {
                let _ = std::fs::remove_file(&target);
            }
            return Err(e.into());
        }
        self.metrics.outbox(OutboxEvent::Published);
        self.get(id)
            .await?
            .ok_or(OutboxError::Db(sqlx::Error::RowNotFound))
    }
}

/// A publishable name: one plain path segment, not hidden, no control characters, short enough
/// that its temp name fits the file system's limit.
fn check_file_name(name: &str) -> Result<(), OutboxError> {
    let bad = name.is_empty()
        || name.len() > 200
        || name.starts_with('.')
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control)
        || VirtualPath::parse(name).map_or(true, |p| p.segments().len() != 1);
    if bad {
        return Err(OutboxError::InvalidName(name.chars().take(80).collect()));
    }
    Ok(())
}
