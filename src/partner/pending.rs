//! The uploads in progress, by user and path, across every session and channel of the server.
//! A deletion of a name that is still being uploaded discards those uploads at once: their
//! staged files go, and a later close can't put them in place. That is what a client expects
//! that gives up an upload without closing its handle and deletes the name instead (rclone does,
//! often over another connection of its pool): on OpenSSH the deletion would unlink the file
//! being written, and nothing would be left of it either.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use crate::home::VirtualPath;
use crate::staging::StagedFile;

/// An upload's staged file: `Some` until committed, dropped or discarded. Shared between the
/// upload and the registry, which holds it weakly.
pub(super) type Slot = Arc<Mutex<Option<StagedFile>>>;

type Key = (String, VirtualPath);
type Uploads = HashMap<Key, Vec<Weak<Mutex<Option<StagedFile>>>>>;

/// The registry of uploads in progress, shared by every session of the server.
#[derive(Debug, Clone, Default)]
pub(super) struct Pending {
    uploads: Arc<Mutex<Uploads>>,
}

impl Pending {
    /// Records that `user` is uploading to `path` into `slot`.
    pub(super) fn register(&self, user: &str, path: &VirtualPath, slot: &Slot) {
        let mut uploads = self.lock();
        let slots = uploads.entry((user.to_owned(), path.clone())).or_default();
        slots.retain(|s| s.strong_count() > 0);
        slots.push(Arc::downgrade(slot));
    }

    /// Forgets `slot` (its upload was committed or dropped).
    pub(super) fn forget(&self, user: &str, path: &VirtualPath, slot: &Slot) {
        let mut uploads = self.lock();
        let key = (user.to_owned(), path.clone());
        if let Some(slots) = uploads.get_mut(&key) {
            slots.retain(|s| s.strong_count() > 0 && !std::ptr::eq(s.as_ptr(), Arc::as_ptr(slot)));
            if slots.is_empty() {
                uploads.remove(&key);
            }
        }
    }

    /// Discards every upload of `user` to `path` still in progress: each staged file is
    /// deleted now. Returns how many there were. Blocking (the deletions).
    pub(super) fn discard(&self, user: &str, path: &VirtualPath) -> usize {
        let slots = self
            .lock()
            .remove(&(user.to_owned(), path.clone()))
            .unwrap_or_default();
        slots
            .iter()
            .filter_map(Weak::upgrade)
            .filter_map(|slot| slot.lock().unwrap_or_else(|e| e.into_inner()).take())
            .map(drop)
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Uploads> {
        self.uploads.lock().unwrap_or_else(|e| e.into_inner())
    }
}
