//! freightdrop patch (see PATCHES.md): what a storage back-end's `put` may learn about the upload
//! it is serving, and a way for a back-end to give the client its own reply text.
//!
//! The storage trait (unftp-core) hands `put` a type-erased stream, so these facts travel in a
//! task-local value set around the call to `put` for `STOR` and `APPE`.

use std::fmt;

/// Facts about one upload's data transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Upload {
    /// Whether the data connection is protected by TLS (`PROT P` on a TLS session).
    pub data_tls: bool,
    /// The size the client announced with `ALLO n` before this transfer, if it did.
    pub announced_size: Option<u64>,
}

tokio::task_local! {
    static UPLOAD: Upload;
}

/// The facts of the upload whose `put` is running on this task, if any.
pub fn current_upload() -> Option<Upload> {
    UPLOAD.try_with(|upload| *upload).ok()
}

pub(crate) async fn with_upload<F: std::future::Future>(upload: Upload, f: F) -> F::Output {
    UPLOAD.scope(upload, f).await
}

/// A storage error's source of this type replaces libunftp's fixed reply text for the error's
/// kind (the reply code stays the kind's). It must be safe to show a client.
#[derive(Debug, Clone)]
pub struct ReplyText(pub String);

impl fmt::Display for ReplyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReplyText {}
