//! Staging: the one way a file that others can see is written. The content goes to a hidden
//! temporary name beside its final name (same folder, so the last step is one rename), is
//! synced to disk, and only then takes its final name, without ever replacing a file there unless
//! the caller asked to replace; the folder is synced after, so the name survives a power cut as
//! well as the content. A staged file that is dropped before it is put in place is deleted.
//!
//! Partner uploads, files published to `out/`, the server's key files and `freightdrop import`
//! all stage through here. It also owns the no-replace rename partners' moves use. It knows
//! nothing of users, protocols or the inbox.

use std::fs::File;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// Suffix of every staged file's temporary name; with the leading dot, what
/// [`is_staging_name`] recognises (and what the inbox and listings ignore).
const SUFFIX: &str = ".part";
/// The longest part of the final name kept in the temporary name, in bytes, so that the
/// temporary name of any name the file system accepts (255 bytes) fits too.
const NAME_KEPT: usize = 200;

/// How a staged file takes its final name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Only if the name is free; an existing file there is an [`io::ErrorKind::AlreadyExists`]
    /// error and stays untouched.
    NoReplace,
    /// Replacing whatever is there, atomically (readers see the old file or the new one).
    Replace,
}

/// A file being written under its hidden temporary name. Deleted when dropped unplaced.
#[derive(Debug)]
pub struct StagedFile {
    temp: NamedTempFile,
    target: PathBuf,
}

impl StagedFile {
    /// Creates the temporary file for `target` (in `target`'s folder) with permission bits
    /// `mode`. Blocking.
    ///
    /// # Errors
    /// When the folder is missing or the file can't be created.
    pub fn create(target: &Path, mode: u32) -> io::Result<Self> {
        let dir = target
            .parent()
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let prefix = format!(".{}.", kept_name(target));
        let temp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(SUFFIX)
            .rand_bytes(12)
            .permissions(std::fs::Permissions::from_mode(mode))
            .tempfile_in(dir)?;
        Ok(Self {
            temp,
            target: target.to_path_buf(),
        })
    }

    /// The open temporary file, for reading and writing.
    pub fn file(&self) -> &File {
        self.temp.as_file()
    }

    /// Where the file will go.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary name it is written under now.
    pub fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    /// Syncs the content to disk (the first half of [`StagedFile::place`], for callers that
    /// record something between the two). Blocking.
    ///
    /// # Errors
    /// The disk's error.
    pub fn sync(&self) -> io::Result<()> {
        self.temp.as_file().sync_data()
    }

    /// Syncs the content, puts it under its final name as `placement` says, and syncs the
    /// folder. Blocking.
    ///
    /// # Errors
    /// [`io::ErrorKind::AlreadyExists`] for [`Placement::NoReplace`] onto a taken name, or the
    /// disk's error; the temporary file is deleted in either case.
    pub fn place(self, placement: Placement) -> io::Result<()> {
        self.sync()?;
        self.place_synced(placement)
    }

    /// As [`StagedFile::place`], for content already synced with [`StagedFile::sync`].
    ///
    /// # Errors
    /// As [`StagedFile::place`].
    pub fn place_synced(self, placement: Placement) -> io::Result<()> {
        let Self { temp, target } = self;
        let placed = match placement {
            Placement::NoReplace => temp.persist_noclobber(&target),
            Placement::Replace => temp.persist(&target),
        };
        // On failure the temporary file comes back inside the error and is deleted as it drops.
        placed.map_err(|e| e.error)?;
        sync_folder_of(&target)
    }
}

/// Whether `name` is a staged file's temporary name (hidden, ending in `.part`): never an inbox
/// file, never listed to a partner, swept when old.
pub fn is_staging_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(SUFFIX)
}

/// Renames `from` to `to` only if `to` does not exist, in one step where the file system can
/// (`renameat2` with `RENAME_NOREPLACE`); elsewhere a file is linked and unlinked, which also
/// refuses a taken name atomically, and only a folder is checked first. Blocking.
///
/// # Errors
/// [`io::ErrorKind::AlreadyExists`] when `to` exists (nothing changes), or the disk's error.
pub fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    use rustix::io::Errno;
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => return Ok(()),
        Err(Errno::NOSYS | Errno::INVAL) => {}
        Err(e) => return Err(e.into()),
    }
    let meta = std::fs::symlink_metadata(from)?;
    if meta.is_dir() {
        if std::fs::symlink_metadata(to).is_ok() {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        return std::fs::rename(from, to);
    }
    std::fs::hard_link(from, to)?;
    std::fs::remove_file(from)
}

/// Syncs the folder holding `path`, so a new name in it is on disk. Blocking.
///
/// # Errors
/// The disk's error.
pub fn sync_folder_of(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// The part of `target`'s name kept in its temporary name: at most [`NAME_KEPT`] bytes, cut at
/// a character boundary.
fn kept_name(target: &Path) -> String {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut end = name.len().min(NAME_KEPT);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_staged_file_is_hidden_until_placed_and_gone_if_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.csv");
        let staged = StagedFile::create(&target, 0o644).unwrap();
        staged.file().write_all(b"hello").unwrap();
        let all = names(dir.path());
        assert_eq!(all.len(), 1);
        assert!(
            all[0].starts_with(".a.csv.") && is_staging_name(&all[0]),
            "{all:?}"
        );
        drop(staged);
        assert!(names(dir.path()).is_empty());

        let staged = StagedFile::create(&target, 0o600).unwrap();
        staged.file().write_all(b"hello").unwrap();
        staged.place(Placement::NoReplace).unwrap();
        assert_eq!(names(dir.path()), ["a.csv"]);
        assert_eq!(std::fs::read(&target).unwrap(), b"hello");
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn no_replace_keeps_the_file_there_and_replace_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.csv");
        std::fs::write(&target, b"old").unwrap();
        let staged = StagedFile::create(&target, 0o644).unwrap();
        staged.file().write_all(b"new").unwrap();
        let e = staged.place(Placement::NoReplace).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["a.csv"], "the temporary file went");

        let staged = StagedFile::create(&target, 0o644).unwrap();
        staged.file().write_all(b"new").unwrap();
        staged.place(Placement::Replace).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
    }

    #[test]
    fn the_temporary_name_of_a_long_name_still_fits() {
        let dir = tempfile::tempdir().unwrap();
        // 81 three-byte characters: 243 bytes, a valid name whose old partial name did not fit.
        let long: String = "漢".repeat(81);
        let target = dir.path().join(&long);
        let staged = StagedFile::create(&target, 0o644).unwrap();
        let temp = staged.temp_path().file_name().unwrap().len();
        assert!(temp <= 255, "{temp} bytes");
        staged.place(Placement::NoReplace).unwrap();
        assert!(target.exists());
    }

    #[test]
    fn rename_no_replace_refuses_a_taken_name_for_files_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"b").unwrap();
        let e = rename_no_replace(&a, &b).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&b).unwrap(), b"b");
        assert_eq!(std::fs::read(&a).unwrap(), b"a");
        let c = dir.path().join("c");
        rename_no_replace(&a, &c).unwrap();
        assert!(!a.exists() && c.exists());

        let (d, e2) = (dir.path().join("d"), dir.path().join("e"));
        std::fs::create_dir(&d).unwrap();
        std::fs::create_dir(&e2).unwrap();
        assert_eq!(
            rename_no_replace(&d, &e2).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(
            rename_no_replace(&d, &c).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        rename_no_replace(&d, &dir.path().join("f")).unwrap();
    }

    #[test]
    fn racing_renames_onto_one_name_leave_exactly_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("done.csv");
        let sources: Vec<PathBuf> = (0..16)
            .map(|i| {
                let p = dir.path().join(format!("s{i}"));
                std::fs::write(&p, format!("{i}")).unwrap();
                p
            })
            .collect();
        let won: usize = std::thread::scope(|s| {
            let handles: Vec<_> = sources
                .iter()
                .map(|src| s.spawn(|| rename_no_replace(src, &target).is_ok()))
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(won, 1);
        // Every loser's file is still where it was: nothing was lost.
        assert_eq!(names(dir.path()).len(), 16);
    }
}
