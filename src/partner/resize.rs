//! Changing a file's length in place (SFTP's SETSTAT with a size: a truncate, or an extension
//! with zeros), as OpenSSH allows on one's own files. A file the inbox would process (in the
//! home's top, under a name that is not temporary) is never changed in place, so no half-changed
//! file can be processed: the partner uploads it anew instead, which is processed only once
//! complete. Everywhere else (`out/`, `done/`, `error/`, sub-folders, temporary names in the
//! top) it is an ordinary change, within the user's upload limit; a changed file in `out/` goes
//! to the outbox ledger as replaced.

use std::fs::File;

use super::{blocking, FileError, PartnerFiles};
use crate::arrivals::is_temporary_name;
use crate::home::VirtualPath;

/// Whether the file at `path` is one the inbox processes.
fn is_inbox_file(path: &VirtualPath) -> bool {
    path.is_in_inbox()
        && path
            .file_name()
            .is_some_and(|name| !is_temporary_name(name))
}

impl PartnerFiles {
    /// Sets the length of the file `wire` to `len` bytes, in place (following a link inside
    /// the home; the rules apply to the file it leads to).
    ///
    /// # Errors
    /// [`FileError::InboxFile`] for a file the inbox processes, [`FileError::TooLarge`] past the
    /// user's limit, [`FileError::IsFolder`], [`FileError::Reserved`], [`FileError::NotFound`],
    /// or a jail refusal.
    pub async fn set_len(&self, wire: &str, len: u64) -> Result<(), FileError> {
        let path = self.changeable(wire)?;
        if self.0.max_upload.is_some_and(|limit| len > limit) {
            return Err(FileError::TooLarge);
        }
        let this = self.clone();
        let asked = path.clone();
        let changed = blocking(move || {
            // Where the path leads (through a link inside the home): its rules are the ones that
            // count. Looked at without opening it for writing: closing a file opened so counts
            // to the inbox's watcher as a file finished, even if nothing was written.
            let found = this.0.home.open_path(&asked, rustix::fs::OFlags::PATH)?;
            let changed = VirtualPath::parse(&this.0.home.path_of(&found)?)
                .map_err(|_| FileError::InvalidName)?;
            if File::from(found).metadata()?.is_dir() {
                return Err(FileError::IsFolder);
            }
            if is_inbox_file(&changed) {
                return Err(FileError::InboxFile);
            }
            // Were the name moved meanwhile, what is cut is what the
            // partner put at that name, outside the inbox's top as checked.
            let file = this
                .0
                .home
                .open_path(&changed, rustix::fs::OFlags::WRONLY)?;
            File::from(file).set_len(len)?;
            Ok(changed)
        })
        .await?;
        tracing::info!(partner = %self.partner(), file = %changed, bytes = len, "length changed");
        self.0.outbox.overwritten(&self.partner().user, &changed);
        Ok(())
    }
}
