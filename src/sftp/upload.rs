//! Atomic uploads. A file opened for writing is written to a hidden partial name beside its
//! target (`Home::partial_path`) and renamed onto the target only by a successful CLOSE, so the
//! inbox never sees half a file. An upload dropped without that close (the connection broke, the
//! client gave up, the server is shutting down) deletes its partial. A server killed outright
//! leaves only the hidden `.…part`, which the inbox never processes.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::home::{Home, VirtualPath};

/// Why an upload step failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The write would make the file larger than the user may upload.
    #[error("file too large")]
    TooLarge,
    /// An earlier write failed, so the file is incomplete and was discarded.
    #[error("upload incomplete; file discarded")]
    Incomplete,
    /// The disk refused.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// How an upload starts.
#[derive(Debug, Clone, Copy)]
pub struct StartMode {
    /// Keep the target's current content (an open without TRUNCATE of an existing file: resume,
    /// append, patch). It is copied to the partial first, so the target stays whole meanwhile.
    pub keep_content: bool,
    /// Every write goes to the end of the file, whatever its offset.
    pub append: bool,
}

/// One file being uploaded.
#[derive(Debug)]
pub struct Upload {
    file: File,
    // Invariant: `Some` until the upload is committed or discarded; the partial file exists
    // exactly while this is `Some`.
    partial: Mutex<Option<PathBuf>>,
    target: PathBuf,
    path: VirtualPath,
    append: bool,
    limit: Option<u64>,
    failed: AtomicBool,
}

impl Upload {
    /// Starts uploading to `target` (the real path of `path`), at most `limit` bytes. Blocking.
    ///
    /// # Errors
    /// When the partial can't be made or the current content can't be copied.
    pub fn start(
        target: PathBuf,
        path: VirtualPath,
        mode: StartMode,
        limit: Option<u64>,
    ) -> Result<Self, UploadError> {
        let partial = Home::partial_path(&target);
        if mode.keep_content {
            if let Some(limit) = limit {
                if std::fs::metadata(&target)?.len() > limit {
                    return Err(UploadError::TooLarge);
                }
            }
            if let Err(e) = std::fs::copy(&target, &partial) {
                let _ = std::fs::remove_file(&partial);
                return Err(e.into());
            }
        }
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create(!mode.keep_content)
            .create_new(!mode.keep_content)
            .mode(0o644)
            .open(&partial);
        let file = match opened {
            Ok(file) => file,
            Err(e) => {
                if mode.keep_content {
                    let _ = std::fs::remove_file(&partial);
                }
                return Err(e.into());
            }
        };
        Ok(Self {
            file,
            partial: Mutex::new(Some(partial)),
            target,
            path,
            append: mode.append,
            limit,
            failed: AtomicBool::new(false),
        })
    }

    /// The file as the client named it.
    pub fn path(&self) -> &VirtualPath {
        &self.path
    }

    /// The partial file, open for reading and writing (for reads, stat and attributes on an
    /// upload handle).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Writes `data` at `offset` (or at the end, in append mode). Blocking.
    ///
    /// # Errors
    /// [`UploadError::TooLarge`] past the user's limit, [`UploadError::Io`]; either marks the
    /// upload incomplete, so its close discards it.
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), UploadError> {
        let result = self.write_inner(offset, data);
        if result.is_err() {
            self.failed.store(true, Ordering::Relaxed);
        }
        result
    }

    fn write_inner(&self, offset: u64, data: &[u8]) -> Result<(), UploadError> {
        let offset = if self.append {
            self.file.metadata()?.len()
        } else {
            offset
        };
        let len = u64::try_from(data.len()).map_err(|_| UploadError::TooLarge)?;
        let end = offset.checked_add(len).ok_or(UploadError::TooLarge)?;
        self.check_size(end)?;
        self.file.write_all_at(data, offset)?;
        Ok(())
    }

    /// Sets the length of the partial (a client's truncate on the open handle). Blocking.
    ///
    /// # Errors
    /// [`UploadError::TooLarge`] past the limit, [`UploadError::Io`].
    pub fn set_len(&self, len: u64) -> Result<(), UploadError> {
        self.check_size(len)?;
        self.file.set_len(len)?;
        Ok(())
    }

    fn check_size(&self, size: u64) -> Result<(), UploadError> {
        match self.limit {
            Some(limit) if size > limit => Err(UploadError::TooLarge),
            _ => Ok(()),
        }
    }

    /// Completes the upload: renames the partial onto the target. Blocking.
    ///
    /// # Errors
    /// [`UploadError::Incomplete`] when a write failed before (the partial is deleted), or the
    /// rename's [`UploadError::Io`] (likewise).
    pub fn commit(&self) -> Result<(), UploadError> {
        let Some(partial) = self.take_partial() else {
            return Err(UploadError::Incomplete);
        };
        if self.failed.load(Ordering::Relaxed) {
            remove_quietly(&partial);
            return Err(UploadError::Incomplete);
        }
        if let Err(e) = std::fs::rename(&partial, &self.target) {
            remove_quietly(&partial);
            return Err(e.into());
        }
        Ok(())
    }

    fn take_partial(&self) -> Option<PathBuf> {
        self.partial
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(partial) = self.take_partial() {
            tracing::info!(file = %self.path, "upload not completed; partial file removed");
            remove_quietly(&partial);
        }
    }
}

fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(error = %e, "cannot remove a partial upload");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    const FRESH: StartMode = StartMode {
        keep_content: false,
        append: false,
    };

    #[test]
    fn nothing_is_visible_before_commit_and_a_drop_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.csv");
        let path = VirtualPath::parse("/a.csv").unwrap();
        let upload = Upload::start(target.clone(), path.clone(), FRESH, None).unwrap();
        upload.write(0, b"hello").unwrap();
        assert!(!target.exists());
        let all = names(dir.path());
        assert_eq!(all.len(), 1);
        assert!(all[0].starts_with(".a.csv.") && all[0].ends_with(".part"));
        drop(upload);
        assert!(names(dir.path()).is_empty());

        let upload = Upload::start(target.clone(), path, FRESH, None).unwrap();
        upload.write(0, b"hello").unwrap();
        upload.commit().unwrap();
        drop(upload);
        assert_eq!(names(dir.path()), ["a.csv"]);
        assert_eq!(std::fs::read(&target).unwrap(), b"hello");
    }

    #[test]
    fn resume_keeps_the_old_content_until_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.csv");
        std::fs::write(&target, b"12345").unwrap();
        let mode = StartMode {
            keep_content: true,
            append: true,
        };
        let upload = Upload::start(
            target.clone(),
            VirtualPath::parse("/a.csv").unwrap(),
            mode,
            None,
        )
        .unwrap();
        upload.write(0, b"678").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"12345");
        upload.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"12345678");
    }

    #[test]
    fn the_limit_fails_the_write_and_the_close() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.csv");
        let upload = Upload::start(
            target.clone(),
            VirtualPath::parse("/a.csv").unwrap(),
            FRESH,
            Some(4),
        )
        .unwrap();
        upload.write(0, b"1234").unwrap();
        assert!(matches!(upload.write(4, b"5"), Err(UploadError::TooLarge)));
        assert!(matches!(upload.commit(), Err(UploadError::Incomplete)));
        assert!(names(dir.path()).is_empty());
    }
}
