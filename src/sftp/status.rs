//! The SFTP frontend's edge for errors: every core or I/O error becomes an SFTP status code with
//! a short fixed text. No path, no OS message and no internal detail ever reaches the client; the
//! detail goes to the log.

use std::io;

use russh_sftp::protocol::{Status, StatusCode};
use russh_sftp::server::StatusReply;

use crate::partner::FileError;

/// A successful status reply to request `id`.
pub fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".to_string(),
        language_tag: "en".to_string(),
    }
}

/// The client may not do this.
pub fn denied(text: &str) -> StatusReply {
    StatusCode::PermissionDenied.with_message(text)
}

/// The request failed for a reason the client can act on.
pub fn failure(text: &str) -> StatusReply {
    StatusCode::Failure.with_message(text)
}

/// Nothing by that name.
pub fn no_such_file() -> StatusReply {
    StatusCode::NoSuchFile.with_message("no such file or folder")
}

/// The handle is not one this session opened (or it is already closed).
pub fn bad_handle() -> StatusReply {
    failure("invalid handle")
}

/// Maps a refusal of the partner-file session: its fixed text, never an OS message.
pub fn from_file(e: FileError) -> StatusReply {
    match e {
        FileError::NotFound => no_such_file(),
        FileError::Denied | FileError::Reserved | FileError::LinksRefused => denied(&e.to_string()),
        FileError::NoSpace => failure("no space left"),
        FileError::Io(e) => from_io(e),
        other => failure(&other.to_string()),
    }
}

/// Maps an I/O error by its kind only.
pub fn from_io(e: io::Error) -> StatusReply {
    use io::ErrorKind as K;
    match e.kind() {
        K::NotFound | K::NotADirectory => no_such_file(),
        K::PermissionDenied | K::ReadOnlyFilesystem => denied("permission denied"),
        K::AlreadyExists => failure("already exists"),
        K::DirectoryNotEmpty => failure("folder not empty"),
        K::IsADirectory => failure("is a folder"),
        K::StorageFull => failure("no space left"),
        K::InvalidInput => failure("invalid request"),
        _ => {
            tracing::warn!(error = %e, "SFTP request failed");
            failure("operation failed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_os_text_reaches_the_client() {
        let e = io::Error::other("/srv/secret/path: disk on fire");
        let reply = from_io(e);
        assert_eq!(reply.status_code, StatusCode::Failure);
        assert_eq!(reply.error_message.as_deref(), Some("operation failed"));
        let e = io::Error::new(io::ErrorKind::NotFound, "/srv/x");
        assert_eq!(from_io(e).status_code, StatusCode::NoSuchFile);
        assert_eq!(
            from_file(FileError::Denied).status_code,
            StatusCode::PermissionDenied
        );
        let reply = from_file(FileError::Io(io::Error::other("/srv/secret: boom")));
        assert_eq!(reply.error_message.as_deref(), Some("operation failed"));
    }
}
