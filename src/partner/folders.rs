//! Looking around a home: what a path is (`stat`), what a folder holds (`list`), and folders
//! made and removed. A listing never shows a staging name, and a link shows what it points at
//! only while that stays inside the home; a link leading out, or nowhere, is left out.

use std::fs::Metadata;
use std::os::unix::fs::DirBuilderExt as _;

use super::{blocking, FileError, PartnerFiles};
use crate::home::VirtualPath;

/// One entry of a folder listing.
#[derive(Debug)]
pub struct Entry {
    /// The name in the folder.
    pub name: String,
    /// What it is; for a link inside the home, what it points at.
    pub meta: Metadata,
}

/// Whether [`PartnerFiles::stat`] follows a final symbolic link (inside the home only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Describe what the link points at (`stat`).
    Links,
    /// Describe the link itself (`lstat`).
    NoLinks,
}

impl PartnerFiles {
    /// What `wire` is.
    ///
    /// # Errors
    /// [`FileError::NotFound`], or a jail refusal.
    pub async fn stat(&self, wire: &str, follow: Follow) -> Result<Metadata, FileError> {
        let (_, real) = self.locate(wire)?;
        blocking(move || {
            let meta = std::fs::symlink_metadata(&real)?;
            if follow == Follow::Links && meta.file_type().is_symlink() {
                // The jail has checked that the link stays inside.
                return Ok(std::fs::metadata(&real)?);
            }
            Ok(meta)
        })
        .await
    }

    /// Checks that `wire` is a folder the partner may enter; returns its normalised path.
    ///
    /// # Errors
    /// [`FileError::NotAFolder`], [`FileError::NotFound`], or a jail refusal.
    pub async fn change_dir(&self, wire: &str) -> Result<VirtualPath, FileError> {
        let (path, real) = self.locate(wire)?;
        blocking(move || {
            if std::fs::metadata(&real)?.is_dir() {
                Ok(path)
            } else {
                Err(FileError::NotAFolder)
            }
        })
        .await
    }

    /// The entries of folder `wire`, sorted by name, without staging names.
    ///
    /// # Errors
    /// [`FileError::NotAFolder`], [`FileError::NotFound`], or a jail refusal.
    pub async fn list(&self, wire: &str) -> Result<Vec<Entry>, FileError> {
        let (folder, real) = self.locate(wire)?;
        let this = self.clone();
        blocking(move || {
            if !std::fs::metadata(&real)?.is_dir() {
                return Err(FileError::NotAFolder);
            }
            let mut entries = Vec::new();
            for entry in std::fs::read_dir(&real)? {
                let Ok(entry) = entry else { continue };
                let name = entry.file_name().to_string_lossy().into_owned();
                if crate::staging::is_staging_name(&name) {
                    continue;
                }
                let Ok(meta) = entry.metadata() else { continue };
                let meta = if meta.file_type().is_symlink() {
                    match this.link_target_meta(&folder, &name) {
                        Some(meta) => meta,
                        None => continue,
                    }
                } else {
                    meta
                };
                entries.push(Entry { name, meta });
            }
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(entries)
        })
        .await
    }

    /// What the link `name` in `folder` points at, if that is inside the home.
    fn link_target_meta(&self, folder: &VirtualPath, name: &str) -> Option<Metadata> {
        let path = VirtualPath::resolve(folder, name).ok()?;
        let real = self.0.home.real_path(&path).ok()?;
        std::fs::metadata(real).ok()
    }

    /// Makes folder `wire`, with permission bits `mode` (bounded, see
    /// [`super::bounded_mode`]; 0755 when `None`).
    ///
    /// # Errors
    /// [`FileError::Exists`], [`FileError::Reserved`] for the top or a reserved folder, or a
    /// jail refusal.
    pub async fn make_dir(&self, wire: &str, mode: Option<u32>) -> Result<(), FileError> {
        let (path, real) = self.locate(wire).and_then(|found| match &found.0 {
            p if p.is_root() || p.is_reserved_folder() => Err(FileError::Exists),
            _ => Ok(found),
        })?;
        let mode = super::bounded_mode(mode.unwrap_or(0o755), true);
        blocking(move || {
            std::fs::DirBuilder::new().mode(mode).create(&real)?;
            Ok(())
        })
        .await?;
        tracing::info!(partner = %self.partner(), folder = %path, "folder made");
        Ok(())
    }

    /// Removes the empty folder `wire`.
    ///
    /// # Errors
    /// [`FileError::Reserved`], [`FileError::NotEmpty`], [`FileError::NotAFolder`],
    /// [`FileError::NotFound`], or a jail refusal.
    pub async fn remove_dir(&self, wire: &str) -> Result<(), FileError> {
        let (path, real) = self.locate_changeable(wire)?;
        blocking(move || {
            if !std::fs::symlink_metadata(&real)?.is_dir() {
                return Err(FileError::NotAFolder);
            }
            Ok(std::fs::remove_dir(&real)?)
        })
        .await?;
        tracing::info!(partner = %self.partner(), folder = %path, "folder removed");
        Ok(())
    }
}
