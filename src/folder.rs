//! An open folder: every operation on a name in it goes through the folder's descriptor (the
//! `*at` system calls), never through a path string, so what a name means can't change between
//! a check and the use that follows: a folder renamed or swapped meanwhile is still the folder
//! that was opened. Names are single path segments; a name is never followed out of the folder
//! (`O_NOFOLLOW` and `AT_SYMLINK_NOFOLLOW` on everything that creates or inspects a name).
//!
//! The home jail hands these out for paths from the wire; staging uses them for every file it
//! writes. This module knows nothing of users or the wire.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};

/// What a name in a folder is, without following a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A folder.
    Folder,
    /// A symbolic link.
    Link,
    /// Anything else (a socket, a device, a fifo).
    Other,
}

/// A folder opened for working on the names in it.
#[derive(Debug)]
pub struct Folder {
    fd: OwnedFd,
}

impl Folder {
    /// Takes an open folder descriptor (opened with `O_DIRECTORY`, not `O_PATH`, so that it can
    /// also be synced).
    pub fn from_fd(fd: OwnedFd) -> Self {
        Self { fd }
    }

    /// Opens the folder at `path`, a path the server chose (never one from the wire).
    ///
    /// # Errors
    /// When it is missing or not a folder.
    pub fn open_path(path: &Path) -> io::Result<Self> {
        let fd = rustix::fs::open(path, dir_flags(), Mode::empty())?;
        Ok(Self { fd })
    }

    /// What `name` is (a link is described as itself).
    ///
    /// # Errors
    /// [`io::ErrorKind::NotFound`] and the like.
    pub fn kind(&self, name: &OsStr) -> io::Result<Kind> {
        let stat = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(kind_of(stat.st_mode))
    }

    /// The facts of `name`, a link described as itself.
    ///
    /// # Errors
    /// [`io::ErrorKind::NotFound`] and the like.
    pub fn metadata(&self, name: &OsStr) -> io::Result<std::fs::Metadata> {
        // std has no fstatat: open the name itself (O_PATH, not followed) and ask the file.
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        File::from(fd).metadata()
    }

    /// Opens the folder `name` inside this one (not through a link).
    ///
    /// # Errors
    /// [`io::ErrorKind::NotFound`], or `NotADirectory` / a loop error for a non-folder.
    pub fn folder(&self, name: &OsStr) -> io::Result<Folder> {
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            dir_flags() | OFlags::NOFOLLOW,
            Mode::empty(),
        )?;
        Ok(Self { fd })
    }

    /// Creates the file `name`, which must not exist, open for reading and writing, with
    /// permission bits `mode`.
    ///
    /// # Errors
    /// [`io::ErrorKind::AlreadyExists`], or the disk's error.
    pub fn create_new(&self, name: &OsStr, mode: u32) -> io::Result<File> {
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )?;
        let file = File::from(fd);
        // The umask may have taken bits off; the caller asked for these.
        rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))?;
        Ok(file)
    }

    /// Opens the regular file `name` for reading (not through a link).
    ///
    /// # Errors
    /// [`io::ErrorKind::NotFound`], or a loop error for a link.
    pub fn open_file(&self, name: &OsStr) -> io::Result<File> {
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )?;
        Ok(File::from(fd))
    }

    /// Makes the folder `name` with permission bits `mode`.
    ///
    /// # Errors
    /// [`io::ErrorKind::AlreadyExists`], or the disk's error.
    pub fn create_folder(&self, name: &OsStr, mode: u32) -> io::Result<()> {
        rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(mode))?;
        Ok(())
    }

    /// Removes the file (or link) `name`.
    ///
    /// # Errors
    /// [`io::ErrorKind::NotFound`], `IsADirectory`, or the disk's error.
    pub fn remove_file(&self, name: &OsStr) -> io::Result<()> {
        rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?;
        Ok(())
    }

    /// Removes the empty folder `name`.
    ///
    /// # Errors
    /// [`io::ErrorKind::NotFound`], `DirectoryNotEmpty`, `NotADirectory`, or the disk's error.
    pub fn remove_folder(&self, name: &OsStr) -> io::Result<()> {
        rustix::fs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR)?;
        Ok(())
    }

    /// Renames `name` to `to_name` in `to`, only if that name is free: one
    /// `renameat2(RENAME_NOREPLACE)` where the file system has it; elsewhere a file is linked
    /// and unlinked (which also refuses a taken name atomically) and only a folder is checked
    /// first.
    ///
    /// # Errors
    /// [`io::ErrorKind::AlreadyExists`] when the name is taken (nothing changes), or the disk's
    /// error.
    pub fn rename_no_replace(&self, name: &OsStr, to: &Folder, to_name: &OsStr) -> io::Result<()> {
        use rustix::io::Errno;
        match rustix::fs::renameat_with(&self.fd, name, &to.fd, to_name, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(Errno::NOSYS | Errno::INVAL) => {}
            Err(e) => return Err(e.into()),
        }
        if self.kind(name)? == Kind::Folder {
            if to.kind(to_name).is_ok() {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            rustix::fs::renameat(&self.fd, name, &to.fd, to_name)?;
            return Ok(());
        }
        rustix::fs::linkat(&self.fd, name, &to.fd, to_name, AtFlags::empty())?;
        self.remove_file(name)
    }

    /// Renames `name` to `to_name` in `to`, replacing what is there, atomically.
    ///
    /// # Errors
    /// The disk's error.
    pub fn rename_replace(&self, name: &OsStr, to: &Folder, to_name: &OsStr) -> io::Result<()> {
        rustix::fs::renameat(&self.fd, name, &to.fd, to_name)?;
        Ok(())
    }

    /// The target of the link `name`, as written in the link.
    ///
    /// # Errors
    /// `InvalidInput` when `name` is no link, or the disk's error.
    pub fn read_link(&self, name: &OsStr) -> io::Result<std::path::PathBuf> {
        let target = rustix::fs::readlinkat(&self.fd, name, Vec::new())?;
        Ok(std::path::PathBuf::from(OsStr::from_bytes(
            target.as_bytes(),
        )))
    }

    /// The names in this folder, without `.` and `..`.
    ///
    /// # Errors
    /// The disk's error.
    pub fn names(&self) -> io::Result<Vec<std::ffi::OsString>> {
        let fd = rustix::fs::openat(&self.fd, ".", dir_flags(), Mode::empty())?;
        let mut dir = rustix::fs::Dir::new(fd)?;
        let mut names = Vec::new();
        while let Some(entry) = dir.read() {
            let name = entry?.file_name().to_bytes().to_vec();
            if name != b"." && name != b".." {
                names.push(OsStr::from_bytes(&name).to_os_string());
            }
        }
        Ok(names)
    }

    /// Syncs the folder, so the names made in it are on disk.
    ///
    /// # Errors
    /// The disk's error.
    pub fn sync(&self) -> io::Result<()> {
        rustix::fs::fsync(&self.fd)?;
        Ok(())
    }
}

/// How a folder is opened: readable (so it can be listed and synced), never a terminal.
pub fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
}

fn kind_of(mode: u32) -> Kind {
    match rustix::fs::FileType::from_raw_mode(mode) {
        rustix::fs::FileType::RegularFile => Kind::File,
        rustix::fs::FileType::Directory => Kind::Folder,
        rustix::fs::FileType::Symlink => Kind::Link,
        _ => Kind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_folder_is_still_the_folder_that_was_opened() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        let a = Folder::open_path(&dir.path().join("a")).unwrap();
        std::fs::rename(dir.path().join("a"), dir.path().join("b")).unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        a.create_new(OsStr::new("x"), 0o600).unwrap();
        assert!(dir.path().join("b/x").exists());
        assert!(!dir.path().join("a/x").exists());
    }

    #[test]
    fn names_are_never_followed_out() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("etc")).unwrap();
        let top = Folder::open_path(dir.path()).unwrap();
        assert_eq!(top.kind(OsStr::new("etc")).unwrap(), Kind::Link);
        assert!(top.folder(OsStr::new("etc")).is_err());
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("pw")).unwrap();
        assert!(top.open_file(OsStr::new("pw")).is_err());
        assert!(top
            .metadata(OsStr::new("pw"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            top.read_link(OsStr::new("pw")).unwrap(),
            Path::new("/etc/passwd")
        );
        let mut names = top.names().unwrap();
        names.sort();
        assert_eq!(names, ["etc", "pw"]);
    }

    #[test]
    fn rename_no_replace_refuses_a_taken_name() {
        let dir = tempfile::tempdir().unwrap();
        let top = Folder::open_path(dir.path()).unwrap();
        std::fs::write(dir.path().join("a"), b"a").unwrap();
        std::fs::write(dir.path().join("b"), b"b").unwrap();
        let e = top
            .rename_no_replace(OsStr::new("a"), &top, OsStr::new("b"))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        top.rename_no_replace(OsStr::new("a"), &top, OsStr::new("c"))
            .unwrap();
        assert_eq!(std::fs::read(dir.path().join("c")).unwrap(), b"a");
    }
}
