//! freightdrop patch (see PATCHES.md): what a storage back-end's `put` may learn about the upload
//! it is serving, and a way for a back-end to give the client its own reply text.
//!
//! The storage trait (unftp-core) hands `put` a type-erased stream, so these facts travel in a
//! task-local value set around the call to `put` for `STOR` and `APPE`.
//!
//! Also the TLS configuration of data connections, and an observer of their handshakes (full or
//! resumed).

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::{HandshakeKind, ServerConfig};

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

/// The configuration for data connections derived from the control connection's: the same
/// certificate, session cache and ticket keys, so a data connection resumes the control
/// connection's TLS session, but no TLS 1.3 tickets of its own (a client closes an upload's data
/// connection with an unread ticket queued, and the kernel answers with a reset). Made once per
/// control configuration.
pub(crate) fn data_tls_config(control: &Arc<ServerConfig>) -> Arc<ServerConfig> {
    static DERIVED: Mutex<Option<(Arc<ServerConfig>, Arc<ServerConfig>)>> = Mutex::new(None);
    let mut derived = DERIVED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((from, data)) = derived.as_ref() {
        if Arc::ptr_eq(from, control) {
            return Arc::clone(data);
        }
    }
    let mut data = ServerConfig::clone(control);
    data.send_tls13_tickets = 0;
    let data = Arc::new(data);
    *derived = Some((Arc::clone(control), Arc::clone(&data)));
    data
}

/// Called with each data connection's TLS handshake: `true` when it resumed a session.
type HandshakeObserver = Box<dyn Fn(bool) + Send + Sync>;

static OBSERVER: OnceLock<HandshakeObserver> = OnceLock::new();

/// Sets the function told of each data connection's TLS handshake (`true`: it resumed an
/// earlier session, the control connection's or a data connection's before), once per process;
/// a second call is ignored.
pub fn observe_data_handshakes(observer: impl Fn(bool) + Send + Sync + 'static) {
    let _ = OBSERVER.set(Box::new(observer));
}

pub(crate) fn count_data_handshake(kind: Option<HandshakeKind>) {
    if let Some(observer) = OBSERVER.get() {
        observer(kind == Some(HandshakeKind::Resumed));
    }
}
