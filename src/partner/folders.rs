//! Looking around a home: what a path is (`stat`), what a folder holds (`list`), how much room
//! its file system has (`space`), and folders made and removed. A listing never shows a staging name, and a link shows what it points at
//! only while that stays inside the home; a link leading out, or nowhere, is left out.

use std::fs::Metadata;

use super::{blocking, FileError, PartnerFiles};
use crate::folder::Kind;
use crate::home::VirtualPath;

/// One entry of a folder listing.
#[derive(Debug)]
pub struct Entry {
    /// The name in the folder.
    pub name: String,
    /// What it is; for a link inside the home, what it points at.
    pub meta: Metadata,
}

/// The figures of the file system a home is on (`statvfs`), for clients that ask how much room
/// is left. Its identity is not told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// The preferred block size, in bytes.
    pub block_size: u64,
    /// The unit of the block counts, in bytes.
    pub fragment_size: u64,
    /// Blocks in all.
    pub blocks: u64,
    /// Free blocks.
    pub blocks_free: u64,
    /// Free blocks the server may use.
    pub blocks_available: u64,
    /// Inodes in all.
    pub files: u64,
    /// Free inodes.
    pub files_free: u64,
    /// Free inodes the server may use.
    pub files_available: u64,
    /// Whether the file system is mounted read-only.
    pub read_only: bool,
    /// Whether it is mounted without set-user-id.
    pub no_setuid: bool,
    /// The longest name, in bytes.
    pub name_max: u64,
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
        let path = self.path(wire)?;
        let this = self.clone();
        blocking(move || match (follow, path.is_root()) {
            (Follow::Links, _) | (Follow::NoLinks, true) => this.metadata(&path),
            (Follow::NoLinks, false) => {
                let (folder, name) = this.0.home.parent(&path)?;
                Ok(folder.metadata(&name)?)
            }
        })
        .await
    }

    /// The figures of the file system `wire` is on.
    ///
    /// # Errors
    /// [`FileError::NotFound`], or a jail refusal.
    pub async fn space(&self, wire: &str) -> Result<Space, FileError> {
        let path = self.path(wire)?;
        let this = self.clone();
        blocking(move || {
            use rustix::fs::StatVfsMountFlags as F;
            let fd = this.0.home.open_path(&path, rustix::fs::OFlags::PATH)?;
            let vfs = rustix::fs::fstatvfs(&fd).map_err(std::io::Error::from)?;
            Ok(Space {
                block_size: vfs.f_bsize,
                fragment_size: vfs.f_frsize,
                blocks: vfs.f_blocks,
                blocks_free: vfs.f_bfree,
                blocks_available: vfs.f_bavail,
                files: vfs.f_files,
                files_free: vfs.f_ffree,
                files_available: vfs.f_favail,
                read_only: vfs.f_flag.contains(F::RDONLY),
                no_setuid: vfs.f_flag.contains(F::NOSUID),
                name_max: vfs.f_namemax,
            })
        })
        .await
    }

    /// Checks that `wire` is a folder the partner may enter; returns its normalised path.
    ///
    /// # Errors
    /// [`FileError::NotAFolder`], [`FileError::NotFound`], or a jail refusal.
    pub async fn change_dir(&self, wire: &str) -> Result<VirtualPath, FileError> {
        let path = self.path(wire)?;
        let this = self.clone();
        blocking(move || {
            if this.metadata(&path)?.is_dir() {
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
        let path = self.path(wire)?;
        let this = self.clone();
        blocking(move || {
            if !this.metadata(&path)?.is_dir() {
                return Err(FileError::NotAFolder);
            }
            let folder = this.0.home.folder(&path)?;
            let mut entries = Vec::new();
            for name in folder.names()? {
                let shown = name.to_string_lossy().into_owned();
                if crate::staging::is_staging_name(&shown) {
                    continue;
                }
                let meta = match folder.kind(&name) {
                    // A link shows what it points at, inside the home; one that leads nowhere
                    // there is left out.
                    Ok(Kind::Link) => match VirtualPath::resolve(&path, &shown)
                        .ok()
                        .and_then(|linked| this.metadata(&linked).ok())
                    {
                        Some(meta) => meta,
                        None => continue,
                    },
                    Ok(_) => match folder.metadata(&name) {
                        Ok(meta) => meta,
                        Err(_) => continue,
                    },
                    Err(_) => continue,
                };
                entries.push(Entry { name: shown, meta });
            }
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(entries)
        })
        .await
    }

    /// Makes folder `wire`, with permission bits `mode` (bounded, see
    /// [`super::bounded_mode`]; 0700 when `None`).
    ///
    /// # Errors
    /// [`FileError::Exists`] (also for the top and the reserved folders), or a jail refusal.
    pub async fn make_dir(&self, wire: &str, mode: Option<u32>) -> Result<(), FileError> {
        let path = self.path(wire)?;
        if path.is_root() || path.is_reserved_folder() {
            return Err(FileError::Exists);
        }
        let mode = super::bounded_mode(mode.unwrap_or(0o700), true);
        let this = self.clone();
        let made = path.clone();
        blocking(move || {
            let (folder, name) = this.0.home.parent(&made)?;
            Ok(folder.create_folder(&name, mode)?)
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
        let path = self.changeable(wire)?;
        let this = self.clone();
        let removed = path.clone();
        blocking(move || {
            let (folder, name) = this.0.home.parent(&removed)?;
            if folder.kind(&name)? != Kind::Folder {
                return Err(FileError::NotAFolder);
            }
            Ok(folder.remove_folder(&name)?)
        })
        .await?;
        tracing::info!(partner = %self.partner(), folder = %path, "folder removed");
        Ok(())
    }
}
