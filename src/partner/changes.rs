//! Changes to what a home holds: renames and deletions. A rename never replaces what is at its
//! target (one `renameat2(RENAME_NOREPLACE)`, so two racing moves can't both win), and the top
//! of the home and the reserved folders are never its source or target. A file renamed into the
//! inbox is an arrival; a move or deletion of a file in `out/` goes to the outbox ledger.

use super::{blocking, FileError, PartnerFiles};

impl PartnerFiles {
    /// Renames `from` to `to`, never replacing anything at `to`.
    ///
    /// # Errors
    /// [`FileError::Exists`] when `to` is taken, [`FileError::Reserved`], [`FileError::NotFound`],
    /// or a jail refusal.
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), FileError> {
        let (from_path, from_real) = self.locate_changeable(from)?;
        let (to_path, to_real) = self.locate_changeable(to)?;
        let is_file = blocking(move || {
            let meta = std::fs::symlink_metadata(&from_real)?;
            crate::staging::rename_no_replace(&from_real, &to_real)?;
            Ok(meta.is_file())
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

    /// Deletes the file `wire` (not a folder: see [`PartnerFiles::remove_dir`]).
    ///
    /// # Errors
    /// [`FileError::IsFolder`], [`FileError::Reserved`], [`FileError::NotFound`], or a jail
    /// refusal.
    pub async fn remove_file(&self, wire: &str) -> Result<(), FileError> {
        let (path, real) = self.locate_changeable(wire)?;
        blocking(move || {
            if std::fs::symlink_metadata(&real)?.is_dir() {
                return Err(FileError::IsFolder);
            }
            Ok(std::fs::remove_file(&real)?)
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
    /// [`FileError::NotALink`], [`FileError::Denied`] for a target outside the home, or a jail
    /// refusal.
    pub async fn read_link(&self, wire: &str) -> Result<String, FileError> {
        // The jail has already refused a link that leads out of the home.
        let (_, real) = self.locate(wire)?;
        let root = self.0.home.root().to_path_buf();
        blocking(move || {
            if !std::fs::symlink_metadata(&real)?.file_type().is_symlink() {
                return Err(FileError::NotALink);
            }
            let target = real.canonicalize()?;
            let inside = target.strip_prefix(&root).map_err(|_| FileError::Denied)?;
            Ok(format!("/{}", inside.to_string_lossy()))
        })
        .await
    }
}
