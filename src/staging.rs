//! Staging: the one way a file that others can see is written. The content goes to a hidden
//! temporary name beside its final name (in the same open folder, so the last step is one
//! rename), is synced to disk, and only then takes its final name, without ever replacing a file
//! there unless the caller asked to replace; the folder is synced after, so the name survives a
//! power cut as well as the content. A staged file that is dropped before it is put in place is
//! deleted. Everything happens through the folder's descriptor ([`Folder`]), so the folder
//! can't be swapped for another between the steps.
//!
//! Partner uploads, files published to `out/`, the server's key files and `freightdrop import`
//! all stage through here. It knows nothing of users, protocols or the inbox.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::path::Path;

use crate::folder::Folder;

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
    folder: Folder,
    // Invariant: `Some` until placed; the temporary file exists exactly while this is `Some`.
    temp: Option<OsString>,
    target: OsString,
    file: File,
}

impl StagedFile {
    /// Creates the temporary file for `target` (a path the server chose) in `target`'s folder,
    /// with permission bits `mode`. Blocking.
    ///
    /// # Errors
    /// When the folder is missing or the file can't be created.
    pub fn create(target: &Path, mode: u32) -> io::Result<Self> {
        let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        Self::create_in(Folder::open_path(dir)?, name, mode)
    }

    /// Creates the temporary file for the name `target` in `folder`, with permission bits
    /// `mode`. Blocking.
    ///
    /// # Errors
    /// When the file can't be created.
    pub fn create_in(folder: Folder, target: &OsStr, mode: u32) -> io::Result<Self> {
        let kept = kept_name(target);
        loop {
            let temp = OsString::from(format!(".{kept}.{}{SUFFIX}", random_tag()));
            match folder.create_new(&temp, mode) {
                Ok(file) => {
                    return Ok(Self {
                        folder,
                        temp: Some(temp),
                        target: target.to_os_string(),
                        file,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The open temporary file, for reading and writing.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The temporary name it is written under now.
    pub fn temp_name(&self) -> Option<&OsStr> {
        self.temp.as_deref()
    }

    /// Syncs the content to disk (the first half of [`StagedFile::place`], for callers that
    /// record something between the two). Blocking.
    ///
    /// # Errors
    /// The disk's error.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
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
    pub fn place_synced(mut self, placement: Placement) -> io::Result<()> {
        let Some(temp) = self.temp.take() else {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        };
        let placed = match placement {
            Placement::NoReplace => {
                self.folder
                    .rename_no_replace(&temp, &self.folder, &self.target)
            }
            Placement::Replace => self
                .folder
                .rename_replace(&temp, &self.folder, &self.target),
        };
        if let Err(e) = placed {
            let _ = self.folder.remove_file(&temp);
            return Err(e);
        }
        self.folder.sync()
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            if let Err(e) = self.folder.remove_file(&temp) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(error = %e, "cannot remove a staged file");
                }
            }
        }
    }
}

/// Whether `name` is a staged file's temporary name (hidden, ending in `.part`): never an inbox
/// file, never listed to a partner, swept when old.
pub fn is_staging_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(SUFFIX)
}

/// Twelve random letters and digits.
fn random_tag() -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng as _;
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(12)
        .map(char::from)
        .collect()
}

/// The part of `target` kept in its temporary name: at most [`NAME_KEPT`] bytes, cut at a
/// character boundary.
fn kept_name(target: &OsStr) -> String {
    let name = target.to_string_lossy();
    let mut end = name.len().min(NAME_KEPT);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;

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
        let temp = staged.temp_name().unwrap().len();
        assert!(temp <= 255, "{temp} bytes");
        staged.place(Placement::NoReplace).unwrap();
        assert!(target.exists());
    }

    #[test]
    fn racing_renames_onto_one_name_leave_exactly_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let top = Folder::open_path(dir.path()).unwrap();
        let sources: Vec<OsString> = (0..16)
            .map(|i| {
                std::fs::write(dir.path().join(format!("s{i}")), format!("{i}")).unwrap();
                OsString::from(format!("s{i}"))
            })
            .collect();
        let target = OsStr::new("done.csv");
        let won: usize = std::thread::scope(|s| {
            let handles: Vec<_> = sources
                .iter()
                .map(|src| s.spawn(|| top.rename_no_replace(src, &top, target).is_ok()))
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
