//! The handles one SFTP session has open: files being read, uploads being written, folder
//! listings being paged. Handle strings are never reused within a session, so a late request on
//! a closed handle can't reach a newer file.

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use russh_sftp::protocol::File as Entry;

use super::upload::Upload;
use crate::home::VirtualPath;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::users::Protocol;

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

/// A file being read (downloaded). When the handle goes (CLOSE, or the session ending without
/// one), the bytes sent are counted, and a read that covered the whole file from its start is
/// reported as a download.
#[derive(Debug)]
pub struct Reading {
    /// The open file.
    pub file: File,
    path: VirtualPath,
    size_at_open: u64,
    sent: AtomicU64,
    furthest: AtomicU64,
    from_start: AtomicBool,
    report: Option<ReadReport>,
}

/// Where a reading reports to.
#[derive(Debug)]
pub struct ReadReport {
    /// The user reading.
    pub user: String,
    /// The outgoing-files ledger.
    pub outbox: Outbox,
    /// The byte counters.
    pub metrics: Metrics,
}

impl Reading {
    /// A reading of `file` at `path`, `size` bytes long when opened.
    pub fn new(file: File, path: VirtualPath, size: u64) -> Self {
        Self {
            file,
            path,
            size_at_open: size,
            sent: AtomicU64::new(0),
            furthest: AtomicU64::new(0),
            from_start: AtomicBool::new(false),
            report: None,
        }
    }

    /// Reports to `report` when the handle goes.
    pub fn report_to(&mut self, report: ReadReport) {
        self.report = Some(report);
    }

    /// Notes a READ at `offset` that returned `len` bytes.
    pub fn read(&self, offset: u64, len: usize) {
        let len = len as u64;
        self.sent.fetch_add(len, Ordering::Relaxed);
        self.furthest
            .fetch_max(offset.saturating_add(len), Ordering::Relaxed);
        if offset == 0 && len > 0 {
            self.from_start.store(true, Ordering::Relaxed);
        }
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        let Some(report) = &self.report else {
            return;
        };
        report
            .metrics
            .bytes_out(Protocol::Sftp, self.sent.load(Ordering::Relaxed));
        let whole = self.furthest.load(Ordering::Relaxed) >= self.size_at_open
            && (self.from_start.load(Ordering::Relaxed) || self.size_at_open == 0);
        if whole {
            report
                .outbox
                .downloaded(&report.user, &self.path, Protocol::Sftp);
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
