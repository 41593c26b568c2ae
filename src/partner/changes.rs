//! Changes to what a home holds: renames and deletions, each on an open folder and a name. A
//! rename never replaces what is at its target (one `renameat2(RENAME_NOREPLACE)`, so two racing
//! moves can't both win), and the top
//! of the home and the reserved folders are never its source or target. A file renamed into the
//! inbox is an arrival; a move or deletion of a file in `out/` goes to the outbox ledger.

use super::{blocking, FileError, PartnerFiles};
use crate::folder::Kind;

impl PartnerFiles {
    /// Renames `from` to `to`, never replacing anything at `to`.
    ///
    /// # Errors
    /// [`FileError::Exists`] when `to` is taken, [`FileError::Reserved`], [`FileError::NotFound`],
    /// or a jail refusal.
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), FileError> {
        let from_path = self.changeable(from)?;
        let to_path = self.changeable(to)?;
        let this = self.clone();
        let (from_moved, to_moved) = (from_path.clone(), to_path.clone());
        let is_file = blocking(move || {
            let (from_folder, from_name) = this.0.home.parent(&from_moved)?;
            let (to_folder, to_name) = this.0.home.parent(&to_moved)?;
            let kind = from_folder.kind(&from_name)?;
            from_folder.rename_no_replace(&from_name, &to_folder, &to_name)?;
            Ok(kind == Kind::File)
        })
        .await?;
        tracing::info!(partner = %self.partner(), from = %from_path, to = %to_path, "renamed");
        self.0
            .outbox
            .moved(&self.partner().user, &from_path, &to_path);
        if is_file {
            self.arrived(&to_path);
        }
        Ok(())
    }

    /// Deletes the file `wire` (not a folder: see [`PartnerFiles::remove_dir`]). Uploads to
    /// that name still in progress, in any session of the user, are discarded first: their
    /// staged files go at once and they are never put in place.
    ///
    /// # Errors
    /// [`FileError::IsFolder`], [`FileError::Reserved`], [`FileError::NotFound`] (also when
    /// only uploads that never completed were there, now discarded), or a jail refusal.
    pub async fn remove_file(&self, wire: &str) -> Result<(), FileError> {
        let path = self.changeable(wire)?;
        let this = self.clone();
        let removed = path.clone();
        blocking(move || {
            let (folder, name) = this.0.home.parent(&removed)?;
            let discarded = this.0.pending.discard(&this.partner().user, &removed);
            if discarded > 0 {
                tracing::info!(partner = %this.partner(), file = %removed, uploads = discarded, "upload not completed; discarded by a deletion of its name");
            }
            if folder.kind(&name)? == Kind::Folder {
                return Err(FileError::IsFolder);
            }
            Ok(folder.remove_file(&name)?)
        })
        .await?;
        tracing::info!(partner = %self.partner(), file = %path, "removed");
        self.0.outbox.deleted(&self.partner().user, &path);
        Ok(())
    }

    /// A partner's request to make a symbolic link: always refused, so nothing a partner makes
    /// can lead a later path somewhere else.
    ///
    /// # Errors
    /// Always [`FileError::LinksRefused`].
    pub fn make_link(&self, _link: &str, _target: &str) -> Result<(), FileError> {
        Err(FileError::LinksRefused)
    }

    /// Where the link `wire` points, as a path inside the home.
    ///
    /// # Errors
    /// [`FileError::NotALink`], [`FileError::NotFound`] for a link that leads nowhere in the
    /// home, or a jail refusal.
    pub async fn read_link(&self, wire: &str) -> Result<String, FileError> {
        let path = self.path(wire)?;
        let this = self.clone();
        blocking(move || {
            if path.is_root() {
                return Err(FileError::NotALink);
            }
            let (folder, name) = this.0.home.parent(&path)?;
            if folder.kind(&name)? != Kind::Link {
                return Err(FileError::NotALink);
            }
            // Where the link leads, resolved in the home as every path is.
            let target = this.0.home.open_path(&path, rustix::fs::OFlags::PATH)?;
            Ok(this.0.home.path_of(&target)?)
        })
        .await
    }
}
