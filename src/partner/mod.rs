//! The partner-file session: every rule about what a logged-in partner may do with the files in
//! its home, written once for every channel (FTP, FTPS and SFTP today; mail and HTTP uploads
//! next). A channel translates its protocol's request into one call here and maps the
//! [`FileError`] back to its own reply codes; it never touches the disk, the inbox's arrival
//! channel or the outbox ledger itself.
//!
//! The rules, once:
//! - every path from the wire goes through the home jail ([`crate::home::Home`]), which resolves
//!   it in the kernel; what it names is then worked on through an open folder and a name, never
//!   a path string;
//! - uploads are staged under a hidden name, synced, and put in place only when complete, never
//!   replacing a file unless they extend that very file (append, resume) (`upload`); a
//!   deletion of a name still being uploaded discards those uploads, on every session of the
//!   user (`pending`);
//! - a file in the inbox is never changed in place, so half a file is never processed; a
//!   file elsewhere may be truncated or extended (`resize`);
//! - renames never replace; the top of the home and the reserved folders (`out/`, `done/`,
//!   `error/`) can't be removed, renamed or renamed onto (`changes`);
//! - listings hide staging names and never show what a link leading out of the home points at
//!   (`folders`);
//! - a file complete in the inbox (an upload put in place, a file renamed there) is reported to
//!   the inbox once; downloads, moves, deletions and replacements of files in `out/` are reported
//!   to the outbox ledger (`download`, `changes`, `upload`);
//! - an upload over a connection whose end can't be told from a cut (plain FTP) follows the
//!   account's `--inbox-ftp-plain` policy, and one whose client announced its size is discarded
//!   when the size differs (`ending`);
//! - bytes are counted as they move, and every change is logged once with user, protocol and
//!   peer.
//!
//! Everything that touches the disk runs off the async threads: the session's own methods do
//! that themselves; the [`Upload`] and [`Download`] objects' methods are blocking, for the
//! channel's transfer loop to run where it runs its I/O.

mod attributes;
mod changes;
mod download;
mod ending;
mod folders;
mod pending;
mod resize;
mod upload;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

pub use attributes::{bounded_mode, Attributes};
pub use download::Download;
pub use ending::Ending;
pub use folders::{Entry, Follow, Space};
pub use upload::{Upload, UploadMode};

use inbox_processor::Ledger;

use crate::arrivals::Arrivals;
use crate::home::{Home, HomeError, HomeTree, VirtualPath};
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::users::{InboxFtpPlain, Protocol, User};

/// Why a partner's file operation was refused or failed. Each channel maps these to its own
/// codes; the texts are safe to show a partner (no paths, no OS messages).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The path's text is refused (control characters, backslashes, ...).
    #[error("invalid file name")]
    InvalidName,
    /// The path leads out of the home, or the operation is not allowed there.
    #[error("permission denied")]
    Denied,
    /// The top of the home or a reserved folder (`out/`, `done/`, `error/`) can't be changed.
    #[error("this folder can't be removed, renamed or replaced")]
    Reserved,
    /// Nothing by that name.
    #[error("no such file or folder")]
    NotFound,
    /// The name is taken, and nothing a partner does replaces a file.
    #[error("a file or folder by that name already exists")]
    Exists,
    /// A folder where a file was meant.
    #[error("is a folder")]
    IsFolder,
    /// A file where a folder was meant.
    #[error("not a folder")]
    NotAFolder,
    /// A folder that still holds something.
    #[error("folder not empty")]
    NotEmpty,
    /// The upload would pass the user's size limit.
    #[error("file too large")]
    TooLarge,
    /// The disk is full.
    #[error("no space left on the server")]
    NoSpace,
    /// A write of this upload failed before, so it was discarded.
    #[error("upload incomplete; file discarded")]
    Incomplete,
    /// A file in the inbox can't be changed in place (a half-changed file could be processed).
    #[error("a file in the inbox can't be changed in place; upload it anew")]
    InboxFile,
    /// Not a symbolic link (a read of a link's target).
    #[error("not a symbolic link")]
    NotALink,
    /// Partners can't make symbolic links.
    #[error("symbolic links are not allowed")]
    LinksRefused,
    /// An upload over plain FTP into the inbox under its final name, for an account that
    /// requires a temporary name and a rename.
    #[error("over plain FTP, upload into the inbox under a temporary name (such as NAME.part) and rename it to its final name when the transfer is complete")]
    TemporaryNameRequired,
    /// Uploads over plain FTP are refused for this account.
    #[error("uploads over plain FTP are refused for this account; use FTPS (AUTH TLS and PROT P) or SFTP")]
    PlainRefused,
    /// The upload received another number of bytes than its client announced; it was discarded.
    #[error("upload incomplete: {received} bytes received, {announced} announced; file discarded")]
    SizeMismatch {
        /// The size the client announced.
        announced: u64,
        /// The bytes that came.
        received: u64,
    },
    /// Any other failure of the disk or the connection; the kind tells the channel what to say,
    /// the detail goes to the log only.
    #[error("operation failed")]
    Io(#[source] io::Error),
}

impl From<io::Error> for FileError {
    fn from(e: io::Error) -> Self {
        use io::ErrorKind as K;
        match e.kind() {
            K::NotFound => Self::NotFound,
            K::AlreadyExists => Self::Exists,
            K::IsADirectory => Self::IsFolder,
            // A path through a file, or through a loop of links, names nothing.
            K::NotADirectory => Self::NotFound,
            _ if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => Self::NotFound,
            K::DirectoryNotEmpty => Self::NotEmpty,
            K::StorageFull | K::QuotaExceeded => Self::NoSpace,
            K::FileTooLarge => Self::TooLarge,
            K::PermissionDenied | K::ReadOnlyFilesystem => Self::Denied,
            _ => Self::Io(e),
        }
    }
}

impl From<HomeError> for FileError {
    fn from(e: HomeError) -> Self {
        match e {
            HomeError::Path(_) => Self::InvalidName,
            HomeError::OutsideHome => Self::Denied,
            HomeError::Io(e) => e.into(),
        }
    }
}

/// Who a session is, for its log lines and reports; shown as `user=.. protocol=.. peer=..`.
#[derive(Debug, Clone)]
pub struct Partner {
    /// The account name.
    pub user: String,
    /// The channel it came in on.
    pub protocol: Protocol,
    /// Its address, when it has one.
    pub peer: Option<SocketAddr>,
}

impl fmt::Display for Partner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "user={} protocol={}", self.user, self.protocol)?;
        match self.peer {
            Some(peer) => write!(f, " peer={peer}"),
            None => Ok(()),
        }
    }
}

/// What every partner-file session is made from: one per server, cloned into the channels.
#[derive(Debug, Clone)]
pub struct Partners {
    tree: HomeTree,
    arrivals: Arrivals,
    outbox: Outbox,
    metrics: Metrics,
    pending: pending::Pending,
    inbox_ftp_plain: InboxFtpPlain,
    formats: Option<Ledger>,
}

/// What an account's file session needs to know of the account.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountRules {
    /// The largest upload allowed, in bytes.
    pub max_upload: Option<u64>,
    /// Uploads whose end can't be verified (plain FTP); `None` follows the server's default.
    pub inbox_ftp_plain: Option<InboxFtpPlain>,
}

impl AccountRules {
    /// The rules of the account `user`.
    pub fn of(user: &User) -> Self {
        Self {
            max_upload: user.max_upload_bytes,
            inbox_ftp_plain: user.inbox_ftp_plain,
        }
    }
}

impl Partners {
    /// The sessions' shared parts: the homes, the inbox's arrival channel, the outbox ledger
    /// and the byte counters.
    pub fn new(tree: HomeTree, arrivals: Arrivals, outbox: Outbox, metrics: Metrics) -> Self {
        Self {
            tree,
            arrivals,
            outbox,
            metrics,
            pending: pending::Pending::default(),
            inbox_ftp_plain: InboxFtpPlain::Accept,
            formats: None,
        }
    }

    /// The same, recording per-file formats ([`PartnerFiles::begin_upload_as`]) in `ledger`,
    /// where the inbox processor reads them.
    pub fn with_file_formats(self, ledger: Ledger) -> Self {
        Self {
            formats: Some(ledger),
            ..self
        }
    }

    /// The same, with `policy` for accounts without their own `--inbox-ftp-plain`.
    pub fn with_inbox_ftp_plain(self, policy: InboxFtpPlain) -> Self {
        Self {
            inbox_ftp_plain: policy,
            ..self
        }
    }

    /// Opens the file session of `partner`, under its account's `rules`.
    ///
    /// # Errors
    /// When the partner's home can't be opened.
    pub fn session(
        &self,
        partner: Partner,
        rules: AccountRules,
    ) -> Result<PartnerFiles, FileError> {
        let home = self.tree.open(&partner.user)?;
        Ok(PartnerFiles(Arc::new(Inner {
            partner,
            home,
            max_upload: rules.max_upload,
            inbox_ftp_plain: rules.inbox_ftp_plain.unwrap_or(self.inbox_ftp_plain),
            arrivals: self.arrivals.clone(),
            outbox: self.outbox.clone(),
            metrics: self.metrics.clone(),
            pending: self.pending.clone(),
            formats: self.formats.clone(),
        })))
    }
}

/// One logged-in partner's files: every operation a channel may ask for. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PartnerFiles(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    partner: Partner,
    home: Home,
    max_upload: Option<u64>,
    inbox_ftp_plain: InboxFtpPlain,
    arrivals: Arrivals,
    outbox: Outbox,
    metrics: Metrics,
    pending: pending::Pending,
    formats: Option<Ledger>,
}

impl PartnerFiles {
    /// Who this session is.
    pub fn partner(&self) -> &Partner {
        &self.0.partner
    }

    /// The path `wire` names (absolute, or relative to the top of the home).
    fn path(&self, wire: &str) -> Result<VirtualPath, FileError> {
        VirtualPath::resolve(&VirtualPath::root(), wire).map_err(|_| FileError::InvalidName)
    }

    /// As [`PartnerFiles::path`], for a path the partner changes: never the top of the home or
    /// a reserved folder.
    fn changeable(&self, wire: &str) -> Result<VirtualPath, FileError> {
        let path = self.path(wire)?;
        if path.is_root() || path.is_reserved_folder() {
            return Err(FileError::Reserved);
        }
        Ok(path)
    }

    /// What `path` is, following links inside the home.
    fn metadata(&self, path: &VirtualPath) -> Result<std::fs::Metadata, FileError> {
        let fd = self.0.home.open_path(path, rustix::fs::OFlags::PATH)?;
        Ok(std::fs::File::from(fd).metadata()?)
    }

    /// Reports `path` complete to the inbox (ignored unless it is an inbox file).
    fn arrived(&self, path: &VirtualPath) {
        let p = &self.0.partner;
        self.0.arrivals.file_complete(&p.user, path, p.protocol);
    }
}

/// Reads up to `len` bytes of `file` at `offset`: fewer only at the end of the file. Blocking.
fn read_full_at(file: &std::fs::File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt as _;
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        let at = offset.saturating_add(filled as u64);
        match file.read_at(&mut buf[filled..], at) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// Runs blocking disk work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, FileError> + Send + 'static,
) -> Result<T, FileError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| FileError::Io(io::Error::other(e)))?
}

#[cfg(test)]
pub(crate) mod tests;
