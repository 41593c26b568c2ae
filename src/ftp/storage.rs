//! The FTP storage back-end: libunftp's file operations translated into calls on the session's
//! partner-file session ([`crate::partner`]), which owns every rule (jail, atomic uploads,
//! reserved folders, no replacing, arrivals, the outbox ledger). What is FTP's own stays here:
//! the pipelined data transfers with their inactivity timeout, and the mapping of core errors to
//! libunftp's error kinds (and so to FTP reply codes), and what an upload's data connection tells
//! of its end: whether it is plain (its close is the only end, so a cut looks finished) and the
//! size `ALLO` announced, which libunftp (patched) hands to `put`.

use std::fmt::Debug;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use tokio::io::AsyncRead;
use unftp_core::storage::{Error, ErrorKind, Fileinfo, Metadata, Permissions, StorageBackend};

use super::activity::Activity;
use super::auth::FtpUser;
use super::transfer;
use crate::partner::{
    AccountRules, Download, Ending, FileError, Follow, Partner, PartnerFiles, Partners, UploadMode,
};

/// Read buffer when libunftp asks for a plain reader (transfers themselves go through
/// `transfer`).
const BUFFER: usize = 256 * 1024;

/// What every session's back-end shares.
#[derive(Debug)]
pub struct Shared {
    /// The partner-file sessions.
    pub partners: Partners,
    /// How long an upload may stall before it is dropped.
    pub idle_timeout: Duration,
}

/// One control connection's view of storage; bound to a user's partner-file session by
/// `enter`.
#[derive(Debug)]
pub struct FtpStorage {
    shared: Arc<Shared>,
    peer: SocketAddr,
    files: Option<PartnerFiles>,
    activity: Activity,
}

impl FtpStorage {
    /// A back-end for the connection from `peer`, not yet bound to a user, counting its
    /// transfers in `activity`.
    pub fn new(shared: Arc<Shared>, peer: SocketAddr, activity: Activity) -> Self {
        Self {
            shared,
            peer,
            files: None,
            activity,
        }
    }

    /// Opens `path` for a download from `start_pos`: the core's download (which records itself
    /// when told every byte was delivered) and a file to stream it from.
    async fn download(
        &self,
        path: &str,
        start_pos: u64,
    ) -> Result<(Download, std::fs::File), Error> {
        let download = self
            .files()?
            .open_read(path, start_pos)
            .await
            .map_err(file_error)?;
        let file = download.reader().map_err(file_error)?;
        Ok((download, file))
    }

    fn files(&self) -> Result<&PartnerFiles, Error> {
        self.files
            .as_ref()
            .ok_or_else(|| Error::from(ErrorKind::PermissionDenied))
    }
}

/// The path libunftp hands over (absolute, joined with the cwd, not normalised; or, for STAT,
/// as the client typed it) as the text the partner-file session resolves. A name that was not
/// UTF-8 never gets here: our libunftp patch answers it with 553 first.
fn wire<P: AsRef<Path>>(path: &P) -> Result<&str, Error> {
    path.as_ref()
        .to_str()
        .ok_or_else(|| Error::from(ErrorKind::FileNameNotAllowedError))
}

/// A core refusal as libunftp's error kind, which decides the FTP reply code.
fn file_error(e: FileError) -> Error {
    let kind = match e {
        FileError::InvalidName => ErrorKind::FileNameNotAllowedError,
        FileError::Denied | FileError::Reserved | FileError::LinksRefused => {
            ErrorKind::PermissionDenied
        }
        FileError::InboxFile => ErrorKind::PermissionDenied,
        FileError::NotFound | FileError::Exists | FileError::IsFolder | FileError::NotALink => {
            ErrorKind::PermanentFileNotAvailable
        }
        FileError::NotAFolder => ErrorKind::PermanentDirectoryNotAvailable,
        FileError::NotEmpty => ErrorKind::PermanentDirectoryNotEmpty,
        FileError::TooLarge => ErrorKind::ExceededStorageAllocationError,
        FileError::NoSpace => ErrorKind::InsufficientStorageSpaceError,
        FileError::Incomplete => ErrorKind::LocalError,
        // The core's text says what to do instead, so it replaces libunftp's fixed one.
        FileError::TemporaryNameRequired => {
            return with_text(ErrorKind::FileNameNotAllowedError, &e)
        }
        FileError::PlainRefused => return with_text(ErrorKind::PermissionDenied, &e),
        FileError::SizeMismatch { .. } => return with_text(ErrorKind::LocalError, &e),
        FileError::Io(e) => return io_error(e),
    };
    Error::from(kind)
}

/// `kind`'s reply code with the core's text for `e` (safe to show a partner).
fn with_text(kind: ErrorKind, e: &FileError) -> Error {
    Error::new(kind, libunftp::transfer::ReplyText(e.to_string()))
}

fn io_error(e: io::Error) -> Error {
    let kind = match e.kind() {
        io::ErrorKind::TimedOut
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => ErrorKind::ConnectionClosed,
        _ => {
            tracing::warn!(error = %e, "FTP storage operation failed");
            ErrorKind::LocalError
        }
    };
    Error::from(kind)
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

#[async_trait]
impl StorageBackend<FtpUser> for FtpStorage {
    type Metadata = Meta;

    fn enter(&mut self, user: &FtpUser) -> io::Result<()> {
        let partner = Partner {
            user: user.name.clone(),
            protocol: user.protocol,
            peer: Some(self.peer),
        };
        let files = self
            .shared
            .partners
            .session(
                partner,
                AccountRules {
                    max_upload: user.max_upload_bytes,
                    inbox_ftp_plain: user.inbox_ftp_plain,
                },
            )
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.files = Some(files);
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
        let files = self.files()?;
        let meta = files
            .stat(wire(&path)?, Follow::Links)
            .await
            .map_err(file_error)?;
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
        let entries = self.files()?.list(wire(&path)?).await.map_err(file_error)?;
        Ok(entries
            .into_iter()
            .map(|entry| Fileinfo {
                path: PathBuf::from(entry.name),
                metadata: Meta(entry.meta),
            })
            .collect())
    }

    // libunftp's RETR goes through `get_into` (below), which reports downloads; this plain
    // reader is only for libunftp's other internal reads.
    async fn get<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &FtpUser,
        path: P,
        start_pos: u64,
    ) -> unftp_core::storage::Result<Box<dyn AsyncRead + Send + Sync + Unpin>> {
        let (_, file) = self.download(wire(&path)?, start_pos).await?;
        let file = tokio::fs::File::from_std(file);
        Ok(Box::new(tokio::io::BufReader::with_capacity(BUFFER, file)))
    }

    async fn get_into<'a, P, W: ?Sized>(
        &self,
        _user: &FtpUser,
        path: P,
        start_pos: u64,
        output: &'a mut W,
    ) -> unftp_core::storage::Result<u64>
    where
        W: tokio::io::AsyncWrite + Unpin + Sync + Send,
        P: AsRef<Path> + Send + Debug,
    {
        // Like the default, but pipelined, and a client that stops reading for the idle timeout
        // is cut off, so a dead peer can't hold its session and data connection forever. The
        // download records itself when every byte reached the client.
        let _transferring = self.activity.transfer();
        let (download, file) = self.download(wire(&path)?, start_pos).await?;
        let tally = |n| download.delivered(n);
        transfer::send(file, output, self.shared.idle_timeout, &tally)
            .await
            .map_err(io_error)
    }

    async fn put<P: AsRef<Path> + Send + Debug, R: AsyncRead + Send + Sync + Unpin + 'static>(
        &self,
        _user: &FtpUser,
        mut input: R,
        path: P,
        start_pos: u64,
    ) -> unftp_core::storage::Result<u64> {
        let _transferring = self.activity.transfer();
        // libunftp offers no REST (see `supported_features`), so a start position is APPE's:
        // the size of the file being appended to.
        let mode = if start_pos > 0 {
            UploadMode::Extend { append: true }
        } else {
            UploadMode::New
        };
        // Without libunftp's facts (never, for STOR and APPE), the data is taken as plain.
        let facts = libunftp::transfer::current_upload().unwrap_or_default();
        let ending = Ending {
            unverified: !facts.data_tls,
            announced: facts.announced_size,
        };
        let upload = self
            .files()?
            .begin_upload_ending(wire(&path)?, mode, ending)
            .await
            .map_err(file_error)?;
        let upload = Arc::new(upload);
        transfer::receive(&mut input, Arc::clone(&upload), self.shared.idle_timeout)
            .await
            .map_err(file_error)?;
        tokio::task::spawn_blocking(move || upload.commit())
            .await
            .map_err(|e| io_error(io::Error::other(e)))?
            .map_err(file_error)
    }

    async fn del<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &FtpUser,
        path: P,
    ) -> unftp_core::storage::Result<()> {
        let files = self.files()?;
        files.remove_file(wire(&path)?).await.map_err(file_error)
    }

    async fn mkd<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &FtpUser,
        path: P,
    ) -> unftp_core::storage::Result<()> {
        let files = self.files()?;
        files.make_dir(wire(&path)?, None).await.map_err(file_error)
    }

    async fn rename<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &FtpUser,
        from: P,
        to: P,
    ) -> unftp_core::storage::Result<()> {
        let files = self.files()?;
        files
            .rename(wire(&from)?, wire(&to)?)
            .await
            .map_err(file_error)
    }

    async fn rmd<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &FtpUser,
        path: P,
    ) -> unftp_core::storage::Result<()> {
        let files = self.files()?;
        files.remove_dir(wire(&path)?).await.map_err(file_error)
    }

    async fn cwd<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &FtpUser,
        path: P,
    ) -> unftp_core::storage::Result<()> {
        let files = self.files()?;
        files
            .change_dir(wire(&path)?)
            .await
            .map(|_| ())
            .map_err(file_error)
    }
}
