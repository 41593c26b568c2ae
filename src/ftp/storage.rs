//! The FTP storage back-end: every libunftp file operation, done inside the session user's home
//! through the jail. Uploads are written to a hidden partial beside the target and renamed onto
//! it only when the transfer completed; an upload that fails, stalls past the idle timeout, or is
//! dropped leaves nothing under the final name. The reserved folders can't be deleted, renamed or
//! replaced, and nothing is ever overwritten by a rename.

use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use std::io::{Read, Seek};

use tokio::io::AsyncRead;
use unftp_core::storage::{Error, ErrorKind, Fileinfo, Metadata, Permissions, StorageBackend};

use super::activity::Activity;
use super::auth::FtpUser;
use super::transfer::{self, ReceiveError};
use crate::arrivals::Arrivals;
use crate::home::{Home, HomeError, VirtualPath};
use crate::metrics::Metrics;
use crate::outbox::Outbox;

/// Read buffer when libunftp asks for a plain reader (transfers themselves go through
/// `transfer`).
const BUFFER: usize = 256 * 1024;

/// What every session's back-end shares.
#[derive(Debug)]
pub struct Shared {
    /// Where completed inbox files are reported.
    pub arrivals: Arrivals,
    /// How long an upload may stall before it is dropped.
    pub idle_timeout: Duration,
    /// Where downloads and moves of published files are reported.
    pub outbox: Outbox,
    /// Sessions and bytes, for `/metrics`.
    pub metrics: Metrics,
}

/// One control connection's view of storage; bound to a user and home by `enter`.
#[derive(Debug)]
pub struct FtpStorage {
    shared: Arc<Shared>,
    home: Option<Home>,
    activity: Activity,
}

impl FtpStorage {
    /// A back-end not yet bound to a user, counting its transfers in `activity`.
    pub fn new(shared: Arc<Shared>, activity: Activity) -> Self {
        Self {
            shared,
            home: None,
            activity,
        }
    }

    fn home(&self) -> Result<&Home, Error> {
        self.home
            .as_ref()
            .ok_or_else(|| Error::from(ErrorKind::PermissionDenied))
    }

    /// The virtual and real path of a path libunftp hands over (absolute, joined with the cwd,
    /// not normalised; or, for MLST and STAT, as the client typed it).
    fn locate<P: AsRef<Path>>(&self, path: P) -> Result<(VirtualPath, PathBuf), Error> {
        let home = self.home()?;
        let text = path
            .as_ref()
            .to_str()
            .ok_or_else(|| Error::from(ErrorKind::FileNameNotAllowedError))?;
        home.resolve(&VirtualPath::root(), text).map_err(jail_error)
    }

    /// As [`FtpStorage::locate`], for a path the partner changes: never the top of the home or
    /// one of the reserved folders.
    fn locate_changeable<P: AsRef<Path>>(&self, path: P) -> Result<(VirtualPath, PathBuf), Error> {
        let (vpath, real) = self.locate(path)?;
        if vpath.is_root() || vpath.is_reserved_folder() {
            return Err(denied());
        }
        Ok((vpath, real))
    }
}

fn jail_error(e: HomeError) -> Error {
    match e {
        HomeError::Path(_) => Error::from(ErrorKind::FileNameNotAllowedError),
        HomeError::OutsideHome => Error::from(ErrorKind::PermissionDenied),
        HomeError::Io(e) => io_error(e),
    }
}

fn io_error(e: io::Error) -> Error {
    let kind = match e.kind() {
        io::ErrorKind::NotFound => ErrorKind::PermanentFileNotAvailable,
        io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        io::ErrorKind::AlreadyExists => ErrorKind::PermanentFileNotAvailable,
        io::ErrorKind::DirectoryNotEmpty => ErrorKind::PermanentDirectoryNotEmpty,
        io::ErrorKind::StorageFull => ErrorKind::InsufficientStorageSpaceError,
        io::ErrorKind::FileTooLarge => ErrorKind::ExceededStorageAllocationError,
        io::ErrorKind::TimedOut
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => ErrorKind::ConnectionClosed,
        _ => ErrorKind::LocalError,
    };
    Error::new(kind, e)
}

fn denied() -> Error {
    Error::from(ErrorKind::PermissionDenied)
}

/// File facts as libunftp lists them.
#[derive(Debug)]
pub struct Meta(std::fs::Metadata);

impl Metadata for Meta {
    fn len(&self) -> u64 {
        self.0.len()
    }
    fn is_dir(&self) -> bool {
        self.0.is_dir()
    }
    fn is_file(&self) -> bool {
        self.0.is_file()
    }
    fn is_symlink(&self) -> bool {
        self.0.file_type().is_symlink()
    }
    fn modified(&self) -> unftp_core::storage::Result<SystemTime> {
        self.0.modified().map_err(io_error)
    }
    fn gid(&self) -> u32 {
        0
    }
    fn uid(&self) -> u32 {
        0
    }
    fn permissions(&self) -> Permissions {
        Permissions(if self.0.is_dir() { 0o755 } else { 0o644 })
    }
}

/// Opens a regular file for reading from `start_pos`, off the async threads.
async fn open_for_download(real: PathBuf, start_pos: u64) -> Result<std::fs::File, Error> {
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&real)?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        if start_pos > 0 {
            file.seek(io::SeekFrom::Start(start_pos))?;
        }
        Ok(file)
    })
    .await
    .map_err(|e| io_error(io::Error::other(e)))?
    .map_err(io_error)
}

/// Creates the hidden partial for an upload; for APPE (`start_pos` > 0) it starts with the
/// first `start_pos` bytes of the existing file, so the result appears whole or not at all.
async fn create_partial(
    partial: PathBuf,
    real: PathBuf,
    start_pos: u64,
) -> Result<std::fs::File, Error> {
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)?;
        if start_pos > 0 {
            let existing = std::fs::File::open(&real)?;
            std::io::copy(&mut existing.take(start_pos), &mut file)?;
        }
        Ok(file)
    })
    .await
    .map_err(|e| io_error(io::Error::other(e)))?
    .map_err(io_error)
}

/// Removes a partial upload unless it was published; runs on error and when the transfer's
/// future is dropped.
struct PartialGuard(Option<PathBuf>);

impl Drop for PartialGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[async_trait]
impl StorageBackend<FtpUser> for FtpStorage {
    type Metadata = Meta;

    fn enter(&mut self, user: &FtpUser) -> io::Result<()> {
        self.home = Some(Home::open(&user.home).map_err(|e| io::Error::other(e.to_string()))?);
        Ok(())
    }

    fn supported_features(&self) -> u32 {
        // No REST: libunftp keeps a REST offset after a failed transfer and applies it to the
        // next one, which could splice two uploads together. Partials are dropped instead.
        0
    }

    async fn metadata<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &FtpUser,
        path: P,
    ) -> unftp_core::storage::Result<Meta> {
        let (_, real) = self.locate(path)?;
        let meta = tokio::fs::symlink_metadata(&real).await.map_err(io_error)?;
        if meta.file_type().is_symlink() {
            // The jail checked the link stays inside; show what it points at.
            return tokio::fs::metadata(&real).await.map(Meta).map_err(io_error);
        }
        Ok(Meta(meta))
    }

    async fn list<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &FtpUser,
        path: P,
    ) -> unftp_core::storage::Result<Vec<Fileinfo<PathBuf, Meta>>>
    where
        Meta: Metadata,
    {
        let (_, real) = self.locate(path)?;
        let mut entries = tokio::fs::read_dir(&real).await.map_err(io_error)?;
        let mut list = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(io_error)? {
            let name = entry.file_name();
            if crate::home::is_partial_name(&name.to_string_lossy()) {
                continue;
            }
            let Ok(meta) = tokio::fs::metadata(entry.path()).await else {
                continue; // a dangling link: not something a partner can use
            };
            list.push(Fileinfo {
                path: PathBuf::from(name),
                metadata: Meta(meta),
            });
        }
        list.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(list)
    }

    // libunftp's RETR goes through `get_into` (below), which reports downloads; this plain
    // reader is only for libunftp's other internal reads.
    async fn get<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &FtpUser,
        path: P,
        start_pos: u64,
    ) -> unftp_core::storage::Result<Box<dyn AsyncRead + Send + Sync + Unpin>> {
        let (_, real) = self.locate(path)?;
        let file = tokio::fs::File::from_std(open_for_download(real, start_pos).await?);
        Ok(Box::new(tokio::io::BufReader::with_capacity(BUFFER, file)))
    }

    async fn get_into<'a, P, W: ?Sized>(
        &self,
        user: &FtpUser,
        path: P,
        start_pos: u64,
        output: &'a mut W,
    ) -> unftp_core::storage::Result<u64>
    where
        W: tokio::io::AsyncWrite + Unpin + Sync + Send,
        P: AsRef<Path> + Send + Debug,
    {
        // Like the default, but pipelined, and a client that stops reading for the idle timeout
        // is cut off, so a dead peer can't hold its session and data connection forever.
        let _transferring = self.activity.transfer();
        let (vpath, real) = self.locate(path)?;
        let file = open_for_download(real, start_pos).await?;
        let tally = |n| self.shared.metrics.bytes_out(user.protocol, n);
        let sent = transfer::send(file, output, self.shared.idle_timeout, &tally)
            .await
            .map_err(io_error)?;
        if start_pos == 0 {
            self.shared
                .outbox
                .downloaded(&user.name, &vpath, user.protocol);
        }
        Ok(sent)
    }

    async fn put<P: AsRef<Path> + Send + Debug, R: AsyncRead + Send + Sync + Unpin + 'static>(
        &self,
        user: &FtpUser,
        mut input: R,
        path: P,
        start_pos: u64,
    ) -> unftp_core::storage::Result<u64> {
        let _transferring = self.activity.transfer();
        let (vpath, real) = self.locate_changeable(path)?;
        if let Ok(meta) = tokio::fs::metadata(&real).await {
            if meta.is_dir() {
                return Err(denied());
            }
        }
        let partial = Home::partial_path(&real);
        let mut guard = PartialGuard(Some(partial.clone()));
        let file = create_partial(partial.clone(), real.clone(), start_pos).await?;
        let limit = user.max_upload_bytes.unwrap_or(u64::MAX);
        let tally = |n| self.shared.metrics.bytes_in(user.protocol, n);
        let received = transfer::receive(&mut input, file, limit.saturating_sub(start_pos), self.shared.idle_timeout, &tally)
            .await
            .map_err(|e| match e {
                ReceiveError::TooLarge => {
                    tracing::warn!(user = %user.name, path = %vpath, limit, "upload over the size limit refused");
                    Error::from(ErrorKind::ExceededStorageAllocationError)
                }
                ReceiveError::Io(e) => io_error(e),
            })?;
        let written = start_pos + received;
        tokio::fs::rename(&partial, &real).await.map_err(io_error)?;
        guard.0 = None;
        tracing::info!(user = %user.name, path = %vpath, bytes = written, "upload complete");
        self.shared.outbox.overwritten(&user.name, &vpath);
        self.shared
            .arrivals
            .file_complete(&user.name, &vpath, user.protocol);
        Ok(written)
    }

    async fn del<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &FtpUser,
        path: P,
    ) -> unftp_core::storage::Result<()> {
        let (vpath, real) = self.locate_changeable(path)?;
        tokio::fs::remove_file(&real).await.map_err(io_error)?;
        self.shared.outbox.deleted(&user.name, &vpath);
        Ok(())
    }

    async fn mkd<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &FtpUser,
        path: P,
    ) -> unftp_core::storage::Result<()> {
        let (_, real) = self.locate_changeable(path)?;
        tokio::fs::create_dir(&real).await.map_err(io_error)
    }

    async fn rename<P: AsRef<Path> + Send + Debug>(
        &self,
        user: &FtpUser,
        from: P,
        to: P,
    ) -> unftp_core::storage::Result<()> {
        let (from_v, from_real) = self.locate_changeable(from)?;
        let (to_v, to_real) = self.locate_changeable(to)?;
        tokio::fs::symlink_metadata(&from_real)
            .await
            .map_err(io_error)?;
        // Never replace a file: a partner moving a file into done/ must not lose one there.
        if tokio::fs::symlink_metadata(&to_real).await.is_ok() {
            return Err(Error::from(ErrorKind::PermanentFileNotAvailable));
        }
        tokio::fs::rename(&from_real, &to_real)
            .await
            .map_err(io_error)?;
        tracing::info!(user = %user.name, from = %from_v, to = %to_v, "renamed");
        self.shared.outbox.moved(&user.name, &from_v, &to_v);
        self.shared
            .arrivals
            .file_complete(&user.name, &to_v, user.protocol);
        Ok(())
    }

    async fn rmd<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &FtpUser,
        path: P,
    ) -> unftp_core::storage::Result<()> {
        let (_, real) = self.locate_changeable(path)?;
        tokio::fs::remove_dir(&real).await.map_err(io_error)
    }

    async fn cwd<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &FtpUser,
        path: P,
    ) -> unftp_core::storage::Result<()> {
        let (_, real) = self.locate(path)?;
        let meta = tokio::fs::metadata(&real).await.map_err(io_error)?;
        if meta.is_dir() {
            Ok(())
        } else {
            Err(Error::from(ErrorKind::PermanentDirectoryNotAvailable))
        }
    }
}
