//! The check before a transfer's preliminary reply (freightdrop patch, see PATCHES.md). RFC 959
//! allows only 226, 250, 425, 426 or 451 after a `150`, so `RETR`, `LIST`, `NLST` and `MLSD` of
//! a path that is missing, refused or of the wrong kind must answer their `550` before any
//! `150`, as vsftpd does; clients such as rclone recognise "not found" only then. The prepared
//! data connection is closed with the refusal, as after a transfer.

use super::{Reply, storage_reply};
use crate::auth::UserDetail;
use crate::server::Session;
use crate::storage::{Error, ErrorKind, Metadata, StorageBackend};
use std::path::{Path, PathBuf};

/// What the command reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// A file's content (`RETR`).
    File,
    /// A folder's entries (`LIST`, `NLST`, `MLSD`).
    Folder,
}

/// The folder a listing command names: the working folder when none (or `.`) is given, as the
/// data channel resolves it.
pub(crate) fn listed(cwd: &Path, path: Option<&str>) -> PathBuf {
    match path {
        Some(".") | None => cwd.to_path_buf(),
        Some(path) => cwd.join(path),
    }
}

/// `None` when `path` can be read as `source` and a data connection is prepared; else the reply
/// that refuses the command, after closing the prepared data connection. With no data
/// connection prepared the command's own 425 comes first, so nothing is checked.
pub(crate) async fn refusal<Storage, User>(session: &mut Session<Storage, User>, path: &Path, source: Source) -> Option<Reply>
where
    Storage: StorageBackend<User> + 'static,
    Storage::Metadata: Metadata,
    User: UserDetail + 'static,
{
    session.data_cmd_tx.as_ref()?;
    let user = Option::as_ref(&session.user)?;
    let err = match (session.storage.metadata(user, path).await, source) {
        (Ok(meta), Source::File) if meta.is_file() => return None,
        (Ok(meta), Source::Folder) if meta.is_dir() => return None,
        (Ok(_), Source::File) => Error::from(ErrorKind::PermanentFileNotAvailable),
        (Ok(_), Source::Folder) => Error::from(ErrorKind::PermanentDirectoryNotAvailable),
        (Err(err), _) => err,
    };
    close_prepared(session);
    Some(storage_reply::reply_for(&err))
}

/// Closes the data connection prepared for a command that is refused.
pub(crate) fn close_prepared<Storage, User>(session: &mut Session<Storage, User>)
where
    Storage: StorageBackend<User> + 'static,
    Storage::Metadata: Metadata,
    User: UserDetail + 'static,
{
    session.data_cmd_tx = None;
    if let Some(abort) = session.data_abort_tx.take() {
        // Capacity one and just made: a data connection not yet accepted finds it and closes.
        let _ = abort.try_send(());
    }
}
