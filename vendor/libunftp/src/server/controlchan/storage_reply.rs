//! The one reply for each storage error kind (freightdrop patch, see PATCHES.md): the control
//! loop, MLST and the checks before a transfer all answer a storage error with the same clean
//! text, never with the error's own layered description; a back-end that gives its own text
//! (`crate::transfer::ReplyText` as the error's source) gets that text with the kind's code.

use crate::server::controlchan::{Reply, ReplyCode};
use crate::storage::{Error, ErrorKind};

/// The reply to a storage back-end's error.
pub(crate) fn reply_for(err: &Error) -> Reply {
    let reply = kind_reply(err);
    let text = std::error::Error::source(err).and_then(|source| source.downcast_ref::<crate::transfer::ReplyText>());
    match (reply, text) {
        (Reply::CodeAndMsg { code, .. }, Some(text)) => Reply::new_with_string(code, text.0.clone()),
        (reply, _) => reply,
    }
}

fn kind_reply(err: &Error) -> Reply {
    match err.kind() {
        ErrorKind::ExceededStorageAllocationError => Reply::new(ReplyCode::ExceededStorageAllocation, "Exceeded storage allocation"),
        ErrorKind::FileNameNotAllowedError => Reply::new(ReplyCode::BadFileName, "File name not allowed"),
        ErrorKind::InsufficientStorageSpaceError => Reply::new(ReplyCode::OutOfSpace, "Insufficient storage space"),
        ErrorKind::LocalError => Reply::new(ReplyCode::LocalError, "Local error"),
        ErrorKind::PageTypeUnknown => Reply::new(ReplyCode::PageTypeUnknown, "Page type unknown"),
        ErrorKind::TransientFileNotAvailable => Reply::new(ReplyCode::TransientFileError, "File not found"),
        ErrorKind::PermanentFileNotAvailable => Reply::new(ReplyCode::FileError, "File not found"),
        ErrorKind::PermanentDirectoryNotAvailable => Reply::new(ReplyCode::FileError, "Directory not found"),
        ErrorKind::PermanentDirectoryNotEmpty => Reply::new(ReplyCode::FileError, "Directory not empty"),
        ErrorKind::PermissionDenied => Reply::new(ReplyCode::FileError, "Permission denied"),
        ErrorKind::CommandNotImplemented => Reply::new(ReplyCode::CommandNotImplemented, "Command not implemented"),
        ErrorKind::ConnectionClosed => Reply::new(ReplyCode::ConnectionClosed, "Connection closed"),
    }
}
