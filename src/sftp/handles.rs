//! The handles one SFTP session has open: files being read, uploads being written, folder
//! listings being paged. Handle strings are never reused within a session, so a late request on
//! a closed handle can't reach a newer file.

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use russh_sftp::protocol::File as Entry;

use super::upload::Upload;
use crate::home::VirtualPath;

/// The most handles one session may hold open at once.
pub const MAX_OPEN: usize = 256;
/// Entries returned by one READDIR.
const PAGE: usize = 128;

/// What a handle refers to.
#[derive(Debug)]
pub enum Open {
    /// A file opened for reading only.
    Read(Reading),
    /// A file being uploaded.
    Write(Upload),
    /// A folder listing, read once at OPENDIR and handed out in pages.
    Dir(Listing),
}

/// A file being read (downloaded), with what is needed to tell a complete download at CLOSE.
#[derive(Debug)]
pub struct Reading {
    /// The open file.
    pub file: File,
    /// Its path in the home.
    pub path: VirtualPath,
    /// Bytes handed out by READ.
    pub sent: AtomicU64,
    /// Whether a READ reached the end of the file.
    pub reached_end: std::sync::atomic::AtomicBool,
}

impl Reading {
    /// A reading of `file` at `path`.
    pub fn new(file: File, path: VirtualPath) -> Self {
        Self {
            file,
            path,
            sent: AtomicU64::new(0),
            reached_end: std::sync::atomic::AtomicBool::new(false),
        }
    }
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
