//! Downloads. A file opened for reading counts the bytes that reach the partner as they go, and
//! when it is let go (the transfer ended, the handle closed, the session dropped) it tells the
//! outbox ledger that a file in `out/` was downloaded, if and only if every byte of it, from the
//! first, reached the partner.

use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::{blocking, FileError, PartnerFiles};
use crate::home::VirtualPath;

/// One file being read by a partner. Its methods are blocking.
#[derive(Debug)]
pub struct Download {
    session: PartnerFiles,
    path: VirtualPath,
    file: File,
    size_at_open: u64,
    /// Where the next sequential delivery starts ([`Download::delivered`]).
    cursor: AtomicU64,
    furthest: AtomicU64,
    from_start: AtomicBool,
}

impl PartnerFiles {
    /// Opens the regular file `wire` for reading, positioned at `offset`.
    ///
    /// # Errors
    /// [`FileError::NotFound`], [`FileError::IsFolder`], or a jail refusal.
    pub async fn open_read(&self, wire: &str, offset: u64) -> Result<Download, FileError> {
        let path = self.path(wire)?;
        let session = self.clone();
        blocking(move || {
            let fd = session.0.home.open_path(
                &path,
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NOCTTY,
            )?;
            let file = File::from(fd);
            let meta = file.metadata()?;
            if meta.is_dir() {
                return Err(FileError::IsFolder);
            }
            if !meta.is_file() {
                return Err(FileError::NotFound);
            }
            Ok(Download {
                session,
                path,
                file,
                size_at_open: meta.len(),
                cursor: AtomicU64::new(offset),
                furthest: AtomicU64::new(0),
                from_start: AtomicBool::new(false),
            })
        })
        .await
    }
}

impl Download {
    /// The open file (for stat and attributes on a read handle).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Reads up to `len` bytes at `offset` for the partner, and counts them as delivered (the
    /// channel sends them as the answer). Empty at the end of the file.
    ///
    /// # Errors
    /// The disk's error.
    pub fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, FileError> {
        let buf = super::read_full_at(&self.file, offset, len)?;
        self.note(offset, buf.len() as u64);
        Ok(buf)
    }

    /// A second handle on the file, for a channel that streams it sequentially from the open
    /// offset and tells [`Download::delivered`] what reached the partner.
    ///
    /// # Errors
    /// The disk's error.
    pub fn reader(&self) -> Result<File, FileError> {
        let mut file = self.file.try_clone()?;
        std::io::Seek::seek(
            &mut file,
            std::io::SeekFrom::Start(self.cursor.load(Ordering::Relaxed)),
        )?;
        Ok(file)
    }

    /// Notes that the next `len` bytes of a sequential stream reached the partner.
    pub fn delivered(&self, len: u64) {
        let offset = self.cursor.fetch_add(len, Ordering::Relaxed);
        self.note(offset, len);
    }

    fn note(&self, offset: u64, len: u64) {
        if len == 0 {
            return;
        }
        let session = &self.session;
        session.0.metrics.bytes_out(session.partner().protocol, len);
        self.furthest
            .fetch_max(offset.saturating_add(len), Ordering::Relaxed);
        if offset == 0 {
            self.from_start.store(true, Ordering::Relaxed);
        }
    }

    /// Whether every byte, from the first, reached the partner.
    pub(super) fn whole(&self) -> bool {
        self.furthest.load(Ordering::Relaxed) >= self.size_at_open
            && (self.from_start.load(Ordering::Relaxed) || self.size_at_open == 0)
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        if self.whole() {
            let p = self.session.partner();
            self.session
                .0
                .outbox
                .downloaded(&p.user, &self.path, p.protocol);
        }
    }
}
