//! The SFTP frontend's edge for errors: every core or I/O error becomes an SFTP status code with
//! OpenSSH's text for that code ("No such file", "Permission denied", "Failure", ...), which
//! clients and scripts written against OpenSSH match on; where the partner can act on a reason
//! (a reserved folder, a full disk, a name taken), the reason follows after a colon. No path, no
//! OS message and no internal detail ever reaches the client; the detail goes to the log.

use std::io;

use russh_sftp::protocol::{Status, StatusCode};
use russh_sftp::server::StatusReply;

use crate::partner::FileError;

/// OpenSSH's text for `code` (`sftp-server.c`, `status_to_message`).
pub fn text_of(code: StatusCode) -> &'static str {
    match code {
        StatusCode::Ok => "Success",
        StatusCode::Eof => "End of file",
        StatusCode::NoSuchFile => "No such file",
        StatusCode::PermissionDenied => "Permission denied",
        StatusCode::Failure => "Failure",
        StatusCode::BadMessage => "Bad message",
        StatusCode::NoConnection => "No connection",
        StatusCode::ConnectionLost => "Connection lost",
        StatusCode::OpUnsupported => "Operation unsupported",
    }
}

/// A status reply of `code` with OpenSSH's text, followed by `reason` when there is one.
fn reply(code: StatusCode, reason: Option<&str>) -> StatusReply {
    match reason {
        Some(reason) => code.with_message(format!("{}: {reason}", text_of(code))),
        None => code.with_message(text_of(code)),
    }
}

/// A successful status reply to request `id`.
pub fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: text_of(StatusCode::Ok).to_string(),
        language_tag: "en".to_string(),
    }
}

/// The end of a file or of a folder listing.
pub fn eof() -> StatusReply {
    reply(StatusCode::Eof, None)
}

/// The client may not do this.
pub fn denied() -> StatusReply {
    reply(StatusCode::PermissionDenied, None)
}

/// The client may not do this, for a reason it can act on.
pub fn denied_because(reason: &str) -> StatusReply {
    reply(StatusCode::PermissionDenied, Some(reason))
}

/// The request failed, with nothing more the client could act on.
pub fn failure() -> StatusReply {
    reply(StatusCode::Failure, None)
}

/// The request failed for a reason the client can act on.
pub fn failure_because(reason: &str) -> StatusReply {
    reply(StatusCode::Failure, Some(reason))
}

/// Nothing by that name.
pub fn no_such_file() -> StatusReply {
    reply(StatusCode::NoSuchFile, None)
}

/// A request this server does not offer.
pub fn unsupported() -> StatusReply {
    reply(StatusCode::OpUnsupported, None)
}

/// A request that can't be read.
pub fn bad_message() -> StatusReply {
    reply(StatusCode::BadMessage, None)
}

/// The handle is not one this session opened (or it is already closed).
pub fn bad_handle() -> StatusReply {
    failure_because("invalid handle")
}

/// Maps a refusal of the partner-file session: its fixed text, never an OS message.
pub fn from_file(e: FileError) -> StatusReply {
    match e {
        FileError::NotFound => no_such_file(),
        FileError::Denied => denied(),
        FileError::Reserved | FileError::LinksRefused | FileError::InboxFile => {
            denied_because(&e.to_string())
        }
        FileError::NoSpace => failure_because("no space left"),
        FileError::Io(e) => from_io(e),
        other => failure_because(&other.to_string()),
    }
}

/// Maps an I/O error by its kind only.
pub fn from_io(e: io::Error) -> StatusReply {
    use io::ErrorKind as K;
    match e.kind() {
        K::NotFound | K::NotADirectory => no_such_file(),
        K::PermissionDenied | K::ReadOnlyFilesystem => denied(),
        K::AlreadyExists => failure_because("already exists"),
        K::DirectoryNotEmpty => failure_because("folder not empty"),
        K::IsADirectory => failure_because("is a folder"),
        K::StorageFull => failure_because("no space left"),
        K::InvalidInput => failure_because("invalid request"),
        _ => {
            tracing::warn!(error = %e, "SFTP request failed");
            failure()
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
        assert_eq!(reply.error_message.as_deref(), Some("Failure"));
        let e = io::Error::new(io::ErrorKind::NotFound, "/srv/x");
        assert_eq!(from_io(e).status_code, StatusCode::NoSuchFile);
        assert_eq!(
            from_file(FileError::Denied).status_code,
            StatusCode::PermissionDenied
        );
        let reply = from_file(FileError::Io(io::Error::other("/srv/secret: boom")));
        assert_eq!(reply.error_message.as_deref(), Some("Failure"));
    }

    #[test]
    fn the_texts_are_openssh_s_and_a_reason_follows_them() {
        assert_eq!(
            from_file(FileError::NotFound).error_message.as_deref(),
            Some("No such file")
        );
        assert_eq!(
            from_file(FileError::Denied).error_message.as_deref(),
            Some("Permission denied")
        );
        assert_eq!(
            from_file(FileError::Exists).error_message.as_deref(),
            Some("Failure: a file or folder by that name already exists")
        );
        assert_eq!(
            unsupported().error_message.as_deref(),
            Some("Operation unsupported")
        );
        assert_eq!(bad_message().error_message.as_deref(), Some("Bad message"));
        assert_eq!(eof().error_message.as_deref(), Some("End of file"));
        assert_eq!(ok(1).error_message, "Success");
    }
}
