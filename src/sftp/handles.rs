//! The handles one SFTP session has open: files being read, uploads being written, folder
//! listings being paged. Handle strings are never reused within a session, so a late request on
//! a closed handle can't reach a newer file.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use russh_sftp::protocol::File as Entry;

use crate::partner::{Download, Upload};

/// The most handles one session may hold open at once.
pub const MAX_OPEN: usize = 256;
/// Entries returned by one READDIR.
const PAGE: usize = 128;

/// What a handle refers to.
#[derive(Debug)]
pub enum Open {
    /// A file opened for reading only; it records itself as downloaded when the handle goes,
    /// if every byte was read.
    Read(Download),
    /// A file being uploaded; put in place by CLOSE, discarded if the handle goes without one.
    Write(Upload),
    /// A folder listing, read once at OPENDIR and handed out in pages.
    Dir(Listing),
}

/// A folder's entries, paged out by READDIR.
#[derive(Debug)]
pub struct Listing {
    entries: Mutex<std::vec::IntoIter<Entry>>,
}

impl Listing {
    /// A listing of `entries`.
    pub fn new(entries: Vec<Entry>) -> Self {
        Self {
            entries: Mutex::new(entries.into_iter()),
        }
    }

    /// The next page, empty at the end.
    pub fn next_page(&self) -> Vec<Entry> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.by_ref().take(PAGE).collect()
    }
}

/// The session's open handles.
#[derive(Debug, Default)]
pub struct Handles {
    next: AtomicU64,
    open: Mutex<HashMap<String, Arc<Open>>>,
}

impl Handles {
    /// Registers `open` under a new handle string; `None` when too many are open.
    pub fn insert(&self, open: Open) -> Option<String> {
        let mut map = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_OPEN {
            return None;
        }
        let handle = format!("{:x}", self.next.fetch_add(1, Ordering::Relaxed));
        map.insert(handle.clone(), Arc::new(open));
        Some(handle)
    }

    /// The open thing behind `handle`.
    pub fn get(&self, handle: &str) -> Option<Arc<Open>> {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(handle)
            .cloned()
    }

    /// Forgets `handle` and returns what it held.
    pub fn remove(&self, handle: &str) -> Option<Arc<Open>> {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(handle)
    }
}
