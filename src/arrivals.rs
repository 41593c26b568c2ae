//! Arrivals: how the frontends tell the inbox that a file is complete in a partner's inbox (an
//! upload closed, or a rename into the inbox). Only files directly in the home's top count, and
//! never temporary upload names; everything else is plain storage.

use tokio::sync::mpsc;

use crate::home::VirtualPath;
use crate::users::Protocol;

/// One complete file in a user's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The user whose inbox it is.
    pub user: String,
    /// The file's name in the inbox.
    pub name: String,
    /// How it came.
    pub protocol: Protocol,
}

/// The sending side, cloned into every frontend.
#[derive(Debug, Clone)]
pub struct Arrivals {
    tx: mpsc::UnboundedSender<Arrival>,
}

impl Arrivals {
    /// A new channel: the sender for frontends, the receiver for the inbox.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Arrival>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }

    /// Reports that `path` in `user`'s home is complete. Ignored unless it is a file directly in
    /// the inbox with a name the inbox would process.
    pub fn file_complete(&self, user: &str, path: &VirtualPath, protocol: Protocol) {
        if !path.is_in_inbox() {
            return;
        }
        let Some(name) = path.file_name() else {
            return;
        };
        if is_temporary_name(name) {
            return;
        }
        // The receiver lives as long as the server; if it is gone we are shutting down and the
        // start-up scan of the next run picks the file up.
        let _ = self.tx.send(Arrival {
            user: user.to_string(),
            name: name.to_string(),
            protocol,
        });
    }
}

/// Whether `name` is a temporary upload name that is never processed: hidden files and the
/// `.part`, `.filepart` and `.tmp` endings clients use while writing.
pub fn is_temporary_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.')
        || lower.ends_with(".part")
        || lower.ends_with(".filepart")
        || lower.ends_with(".tmp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_inbox_files_are_reported() {
        let (arrivals, mut rx) = Arrivals::channel();
        for path in [
            "/a.csv",
            "/out/b.csv",
            "/.hidden",
            "/c.csv.part",
            "/d.TMP",
            "/x/e.csv",
            "/",
        ] {
            arrivals.file_complete("alice", &VirtualPath::parse(path).unwrap(), Protocol::Ftp);
        }
        let first = rx.try_recv().unwrap();
        assert_eq!(first.name, "a.csv");
        assert!(rx.try_recv().is_err());
    }
}
