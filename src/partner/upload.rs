//! Uploads. A file being uploaded is staged under a hidden name beside its target
//! ([`crate::staging`]), written through, and put in place by [`Upload::commit`] only when the
//! channel says the transfer completed: synced first, then renamed without replacing what is
//! there, unless the upload extends that very file (append, resume), which replaces it
//! atomically. An upload dropped without a commit (the connection broke, the client gave up,
//! the server is stopping) deletes its staged file; a server killed outright leaves only the
//! hidden name, which nothing processes and the start-up sweep removes. A deletion of the
//! name meanwhile discards the upload (`pending`): its staged file goes at once, later writes
//! and the commit fail. What the channel knows of the upload's end ([`Ending`]) is checked when
//! it starts and when it commits ([`super::ending`]).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use inbox_processor::ledger::Identity;

use super::ending::{check_announced, Ending};
use super::pending::Slot;
use super::{blocking, Attributes, FileError, PartnerFiles};
use crate::home::VirtualPath;
use crate::staging::{Placement, StagedFile};

/// How an upload treats a file already at its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMode {
    /// A new file: refused when the name is taken, when the upload starts and again when it is
    /// put in place.
    New,
    /// The existing file continued or changed (FTP `APPE`, an SFTP open of an existing file
    /// without truncation): its content is copied to the staged file first, so the file stays
    /// whole meanwhile, and the result replaces it. With `append`, every write goes to the end.
    Extend {
        /// Writes go to the end, whatever their offset.
        append: bool,
    },
}

/// One file being uploaded. Its writing methods are blocking and may be called from several
/// threads at once (SFTP writes at offsets).
#[derive(Debug)]
pub struct Upload {
    session: PartnerFiles,
    path: VirtualPath,
    mode: UploadMode,
    ending: Ending,
    /// The length of the file being extended, copied in before the upload's own bytes.
    start_len: u64,
    // Invariant: `Some` until the upload is committed, dropped or discarded (by a deletion of
    // its name, through the registry that holds it weakly); the staged file exists exactly
    // while this is `Some`.
    staged: Slot,
    // A second handle on the staged file, for reads and writes without taking the lock.
    file: File,
    limit: Option<u64>,
    /// The end of the sequential writes made through [`Upload::append`].
    end: AtomicU64,
    failed: AtomicBool,
    /// The file's own format, recorded at the commit ([`PartnerFiles::begin_upload_as`]).
    format: Option<String>,
}

impl PartnerFiles {
    /// Starts uploading to `wire`.
    ///
    /// # Errors
    /// [`FileError::Exists`] for a new file onto a taken name, [`FileError::NotFound`] to extend
    /// a file that isn't there or into a folder that isn't, [`FileError::IsFolder`],
    /// [`FileError::Reserved`] for the top or a reserved folder, [`FileError::TooLarge`] when the
    /// file to extend is already over the limit, or a jail refusal.
    pub async fn begin_upload(&self, wire: &str, mode: UploadMode) -> Result<Upload, FileError> {
        self.begin_upload_ending(wire, mode, Ending::verified())
            .await
    }

    /// As [`PartnerFiles::begin_upload`], for an upload that ends as `ending` says.
    ///
    /// # Errors
    /// As [`PartnerFiles::begin_upload`], and [`FileError::PlainRefused`] or
    /// [`FileError::TemporaryNameRequired`] when the account's policy refuses an upload whose
    /// end can't be verified.
    pub async fn begin_upload_ending(
        &self,
        wire: &str,
        mode: UploadMode,
        ending: Ending,
    ) -> Result<Upload, FileError> {
        let path = self.changeable(wire)?;
        self.admit_upload(&path, ending)?;
        let this = self.clone();
        blocking(move || Upload::start(this, path, mode, ending)).await
    }
}

impl PartnerFiles {
    /// As [`PartnerFiles::begin_upload`], for a file of the inbox that the inbox processor is to
    /// read as `format` (one of [`crate::users::FORMATS`]) whatever its extension: the commit
    /// records the format for the complete file (its name, inode, size and mtime, which the
    /// rename keeps) before the file takes its name, so it is there whenever the inbox sees it.
    ///
    /// # Errors
    /// As [`PartnerFiles::begin_upload`]; [`FileError::InvalidName`] for an unknown format or a
    /// file outside the inbox.
    pub async fn begin_upload_as(
        &self,
        wire: &str,
        mode: UploadMode,
        format: &str,
    ) -> Result<Upload, FileError> {
        let path = self.changeable(wire)?;
        if path.file_name().is_none() || !path.is_in_inbox() {
            return Err(FileError::InvalidName);
        }
        if !crate::users::FORMATS.contains(&format) {
            return Err(FileError::InvalidName);
        }
        let mut upload = self.begin_upload(wire, mode).await?;
        upload.format = Some(format.to_owned());
        Ok(upload)
    }
}

impl Upload {
    fn start(
        session: PartnerFiles,
        path: VirtualPath,
        mode: UploadMode,
        ending: Ending,
    ) -> Result<Self, FileError> {
        let limit = session.0.max_upload;
        let (folder, name) = session.0.home.parent(&path)?;
        let existing = match session.metadata(&path) {
            Ok(meta) => Some(meta),
            Err(FileError::NotFound) => None,
            Err(e) => return Err(e),
        };
        if existing.as_ref().is_some_and(std::fs::Metadata::is_dir) {
            return Err(FileError::IsFolder);
        }
        match (mode, &existing) {
            (UploadMode::New, Some(_)) => return Err(FileError::Exists),
            (UploadMode::Extend { .. }, None) => return Err(FileError::NotFound),
            (UploadMode::Extend { .. }, Some(meta)) if limit.is_some_and(|l| meta.len() > l) => {
                return Err(FileError::TooLarge)
            }
            _ => {}
        }
        let staged = StagedFile::create_in(folder, &name, 0o600)?;
        let file = staged.file().try_clone()?;
        let mut end = 0;
        if let UploadMode::Extend { .. } = mode {
            let source = session
                .0
                .home
                .open_path(&path, rustix::fs::OFlags::RDONLY)?;
            end = io::copy(&mut File::from(source), &mut &file)?;
        }
        let staged = Arc::new(Mutex::new(Some(staged)));
        session
            .0
            .pending
            .register(&session.partner().user, &path, &staged);
        Ok(Self {
            session,
            path,
            mode,
            ending,
            start_len: end,
            staged,
            file,
            limit,
            end: AtomicU64::new(end),
            failed: AtomicBool::new(false),
            format: None,
        })
    }

    /// The staged file, open for reading and writing (reads, stat and attributes on an upload
    /// handle).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Reads back up to `len` bytes at `offset` of what was written so far (empty at the end).
    /// Blocking.
    ///
    /// # Errors
    /// The disk's error.
    pub fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, FileError> {
        Ok(super::read_full_at(&self.file, offset, len)?)
    }

    /// Writes `data` at `offset` (at the end, in append mode). Blocking.
    ///
    /// # Errors
    /// [`FileError::TooLarge`] past the user's limit, or the disk's error; either marks the
    /// upload failed, so its commit discards it. [`FileError::Incomplete`] once the upload was
    /// discarded.
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), FileError> {
        if self.is_discarded() {
            return Err(FileError::Incomplete);
        }
        let offset = match self.mode {
            UploadMode::Extend { append: true } => self.file.metadata()?.len(),
            _ => offset,
        };
        self.failing(|| {
            let end = offset
                .checked_add(data.len() as u64)
                .ok_or(FileError::TooLarge)?;
            self.check_size(end)?;
            self.file.write_all_at(data, offset)?;
            self.counted(data.len());
            Ok(())
        })
    }

    /// Writes `data` after everything written so far (a stream: FTP). Blocking.
    ///
    /// # Errors
    /// As [`Upload::write_at`].
    pub fn append(&self, data: &[u8]) -> Result<(), FileError> {
        let offset = self.end.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.write_at(offset, data)
    }

    /// Sets the staged file's length (a partner's truncate on the open upload). Blocking.
    ///
    /// # Errors
    /// [`FileError::TooLarge`] past the limit, or the disk's error.
    pub fn set_len(&self, len: u64) -> Result<(), FileError> {
        self.failing(|| {
            self.check_size(len)?;
            Ok(self.file.set_len(len)?)
        })
    }

    /// Sets attributes on the staged file; they go with it into place. Blocking.
    ///
    /// # Errors
    /// The disk's error.
    pub fn set_attributes(&self, attributes: &Attributes) -> Result<(), FileError> {
        attributes.apply(&self.file)
    }

    /// Syncs what was written so far to disk (a client's explicit flush). Blocking.
    ///
    /// # Errors
    /// The disk's error.
    pub fn sync(&self) -> Result<(), FileError> {
        Ok(self.file.sync_data()?)
    }

    /// Marks the upload failed (the channel saw the transfer break), so a commit discards it.
    pub fn fail(&self) {
        self.failed.store(true, Ordering::Relaxed);
    }

    /// Completes the upload: syncs the content, puts it under its name (never replacing a file
    /// unless the upload extends it), syncs the folder, then reports it: to the inbox when it is
    /// an inbox file, to the outbox ledger when it replaced a file in `out/`. Returns the file's
    /// size. Blocking.
    ///
    /// # Errors
    /// [`FileError::Incomplete`] when a write failed before, [`FileError::SizeMismatch`] when
    /// the bytes received differ from the size the client announced, [`FileError::Exists`] when
    /// a new file's name was taken meanwhile, or the disk's error; the staged file is deleted in
    /// every case.
    pub fn commit(&self) -> Result<u64, FileError> {
        let Some(staged) = self.take_staged() else {
            return Err(FileError::Incomplete);
        };
        if self.failed.load(Ordering::Relaxed) {
            return Err(FileError::Incomplete);
        }
        let size = self.file.metadata()?.len();
        if let Err(e) = check_announced(self.ending, size.saturating_sub(self.start_len)) {
            tracing::warn!(partner = %self.session.partner(), file = %self.path, reason = %e, "upload discarded");
            return Err(e);
        }
        let placement = match self.mode {
            UploadMode::New => Placement::NoReplace,
            UploadMode::Extend { .. } => Placement::Replace,
        };
        if let Some(format) = &self.format {
            self.record_format(format)?;
        }
        staged.place(placement)?;
        let session = &self.session;
        tracing::info!(partner = %session.partner(), file = %self.path, bytes = size, "upload complete");
        if placement == Placement::Replace {
            session
                .0
                .outbox
                .overwritten(&session.partner().user, &self.path);
        }
        session.arrived(&self.path);
        Ok(size)
    }

    /// Records the upload's own format for the complete staged file, which keeps its identity
    /// when it takes its name. Blocking: waits for the database on the caller's thread.
    fn record_format(&self, format: &str) -> Result<(), FileError> {
        let session = &self.session;
        let (Some(ledger), Some(name)) = (&session.0.formats, self.path.file_name()) else {
            return Err(FileError::Io(io::Error::other(
                "per-file formats are not recorded by this server",
            )));
        };
        let identity = Identity::of(&self.file.metadata()?);
        let runtime = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
        runtime
            .block_on(ledger.set_file_format(&session.partner().user, name, identity, format))
            .map_err(|e| FileError::Io(io::Error::other(e)))
    }

    fn check_size(&self, size: u64) -> Result<(), FileError> {
        match self.limit {
            Some(limit) if size > limit => {
                tracing::warn!(partner = %self.session.partner(), file = %self.path, limit, "upload over the size limit refused");
                Err(FileError::TooLarge)
            }
            _ => Ok(()),
        }
    }

    fn counted(&self, bytes: usize) {
        let session = &self.session;
        session
            .0
            .metrics
            .bytes_in(session.partner().protocol, bytes as u64);
    }

    /// Runs `step`; a failure marks the upload failed.
    fn failing<T>(&self, step: impl FnOnce() -> Result<T, FileError>) -> Result<T, FileError> {
        let result = step();
        if result.is_err() {
            self.fail();
        }
        result
    }

    fn take_staged(&self) -> Option<StagedFile> {
        let staged = self.staged.lock().unwrap_or_else(|e| e.into_inner()).take();
        if staged.is_some() {
            let session = &self.session;
            session
                .0
                .pending
                .forget(&session.partner().user, &self.path, &self.staged);
        }
        staged
    }

    /// Whether a deletion of the name discarded this upload (or it is over).
    fn is_discarded(&self) -> bool {
        self.staged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // Logged before the staged file is dropped (which removes it), so
        // anyone who sees the file gone also finds the line in the log.
        if let Some(staged) = self.take_staged() {
            tracing::info!(partner = %self.session.partner(), file = %self.path, "upload not completed; partial file removed");
            drop(staged);
        }
    }
}
