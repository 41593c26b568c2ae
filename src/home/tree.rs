//! The folder of all homes: making a user's home with its fixed sub-folders in one atomic step,
//! and taking it away again. A home appears complete or not at all: it is built under a hidden
//! temporary name and renamed into place.

use std::io;
use std::path::{Path, PathBuf};

use super::{Home, HomeError, RESERVED_FOLDERS};

/// Why a home could not be made or removed.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A filesystem call failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Something that is not a folder sits where the home should be.
    #[error("{0} exists and is not a folder")]
    NotAFolder(PathBuf),
}

/// The `homes/` folder in the data dir.
#[derive(Debug, Clone)]
pub struct HomeTree {
    dir: PathBuf,
}

impl HomeTree {
    /// The tree at `dir` (usually `<data-dir>/homes`); nothing is touched yet.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The folder holding every home.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `user`'s home is. The name must already be a valid user name (no `/`, no dots at
    /// the start), which the user store guarantees.
    pub fn path_of(&self, user: &str) -> PathBuf {
        self.dir.join(user)
    }

    /// Opens `user`'s home as a jail.
    ///
    /// # Errors
    /// [`HomeError::Io`] when the home is missing.
    pub fn open(&self, user: &str) -> Result<Home, HomeError> {
        Home::open(&self.path_of(user))
    }

    /// Makes `user`'s home with `out/`, `done/` and `error/`. An existing home (kept when its
    /// user was removed with `--keep-files`) is reused and completed. Returns whether it was
    /// newly made, so a caller that fails later can undo exactly what it did.
    ///
    /// # Errors
    /// [`TreeError`] when a folder can't be made; nothing half-made is left under the user's name.
    pub fn create(&self, user: &str) -> Result<bool, TreeError> {
        let home = self.path_of(user);
        std::fs::create_dir_all(&self.dir).map_err(|source| TreeError::Io {
            action: "cannot create",
            path: self.dir.clone(),
            source,
        })?;
        match std::fs::symlink_metadata(&home) {
            Ok(meta) if meta.is_dir() => {
                make_subfolders(&home)?;
                return Ok(false);
            }
            Ok(_) => return Err(TreeError::NotAFolder(home)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(TreeError::Io {
                    action: "cannot inspect",
                    path: home,
                    source,
                })
            }
        }
        let staging = self.dir.join(format!(".new-{user}-{}", std::process::id()));
        let built = std::fs::create_dir(&staging)
            .map_err(|source| TreeError::Io {
                action: "cannot create",
                path: staging.clone(),
                source,
            })
            .and_then(|()| make_subfolders(&staging))
            .and_then(|()| {
                std::fs::rename(&staging, &home).map_err(|source| TreeError::Io {
                    action: "cannot move into place",
                    path: home.clone(),
                    source,
                })
            });
        if built.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        built.map(|()| true)
    }

    /// Moves `user`'s home aside to a hidden name, so it can be restored if the caller's next
    /// step fails. Returns the hidden path, or `None` if there was no home.
    ///
    /// # Errors
    /// [`TreeError`] when the home can't be moved.
    pub fn detach(&self, user: &str) -> Result<Option<PathBuf>, TreeError> {
        let home = self.path_of(user);
        if !home.exists() {
            return Ok(None);
        }
        let aside = self
            .dir
            .join(format!(".removed-{user}-{}", std::process::id()));
        std::fs::rename(&home, &aside).map_err(|source| TreeError::Io {
            action: "cannot move aside",
            path: home,
            source,
        })?;
        Ok(Some(aside))
    }

    /// Puts a home moved aside by [`HomeTree::detach`] back.
    ///
    /// # Errors
    /// [`TreeError`] when it can't be moved back.
    pub fn reattach(&self, user: &str, aside: &Path) -> Result<(), TreeError> {
        let home = self.path_of(user);
        std::fs::rename(aside, &home).map_err(|source| TreeError::Io {
            action: "cannot move back",
            path: home,
            source,
        })
    }

    /// Deletes a home moved aside, with everything in it.
    ///
    /// # Errors
    /// [`TreeError`] when it can't be deleted.
    pub fn purge(&self, aside: &Path) -> Result<(), TreeError> {
        std::fs::remove_dir_all(aside).map_err(|source| TreeError::Io {
            action: "cannot delete",
            path: aside.to_path_buf(),
            source,
        })
    }

    /// Deletes the hidden partial uploads (`.<name>.<random>.part`) in every home that have not
    /// been written for `older_than`: what a killed server or node left behind. Younger ones may
    /// belong to an upload still running on another node sharing the data dir, and are kept.
    /// Returns how many were deleted.
    pub fn sweep_partials(&self, older_than: std::time::Duration) -> usize {
        let Ok(homes) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut swept = 0;
        for home in homes.flatten() {
            if home.file_type().is_ok_and(|t| t.is_dir()) {
                swept += sweep_folder(&home.path(), older_than, 0);
            }
        }
        swept
    }

    /// Deletes a home that [`HomeTree::create`] just made, when the caller's next step failed.
    pub fn undo_create(&self, user: &str) {
        let _ = std::fs::remove_dir_all(self.path_of(user));
    }
}

fn sweep_folder(folder: &Path, older_than: std::time::Duration, depth: usize) -> usize {
    const MAX_DEPTH: usize = 16;
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    let mut swept = 0;
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && depth < MAX_DEPTH {
            swept += sweep_folder(&entry.path(), older_than, depth + 1);
        } else if kind.is_file()
            && crate::staging::is_staging_name(&entry.file_name().to_string_lossy())
        {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= older_than);
            if stale && std::fs::remove_file(entry.path()).is_ok() {
                swept += 1;
            }
        }
    }
    swept
}

fn make_subfolders(home: &Path) -> Result<(), TreeError> {
    for name in RESERVED_FOLDERS {
        let path = home.join(name);
        match std::fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => {}
            Err(source) => {
                return Err(TreeError::Io {
                    action: "cannot create",
                    path,
                    source,
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_makes_the_three_folders_and_reuses_a_kept_home() {
        let dir = tempfile::tempdir().unwrap();
        let tree = HomeTree::new(dir.path().join("homes"));
        assert!(tree.create("alice").unwrap());
        for name in RESERVED_FOLDERS {
            assert!(tree.path_of("alice").join(name).is_dir());
        }
        std::fs::write(tree.path_of("alice").join("kept.csv"), "x").unwrap();
        std::fs::remove_dir(tree.path_of("alice").join("error")).unwrap();
        assert!(!tree.create("alice").unwrap());
        assert!(tree.path_of("alice").join("error").is_dir());
        assert!(tree.path_of("alice").join("kept.csv").is_file());
        let leftovers: Vec<_> = std::fs::read_dir(tree.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("alice")]);
    }

    #[test]
    fn detach_reattach_and_purge() {
        let dir = tempfile::tempdir().unwrap();
        let tree = HomeTree::new(dir.path().join("homes"));
        tree.create("bob").unwrap();
        let aside = tree.detach("bob").unwrap().unwrap();
        assert!(!tree.path_of("bob").exists());
        tree.reattach("bob", &aside).unwrap();
        assert!(tree.path_of("bob").join("out").is_dir());
        let aside = tree.detach("bob").unwrap().unwrap();
        tree.purge(&aside).unwrap();
        assert!(!aside.exists());
        assert!(tree.detach("bob").unwrap().is_none());
    }

    #[test]
    fn sweep_removes_only_stale_partials() {
        let dir = tempfile::tempdir().unwrap();
        let tree = HomeTree::new(dir.path().join("homes"));
        tree.create("alice").unwrap();
        let home = tree.path_of("alice");
        std::fs::write(home.join(".a.csv.0123.part"), "x").unwrap();
        std::fs::write(home.join("out/.b.csv.4567.part"), "x").unwrap();
        std::fs::write(home.join("keep.part"), "not hidden: a partner's file").unwrap();
        std::fs::write(home.join(".hidden"), "not a partial").unwrap();
        assert_eq!(tree.sweep_partials(std::time::Duration::from_secs(3600)), 0);
        assert_eq!(tree.sweep_partials(std::time::Duration::ZERO), 2);
        assert!(!home.join(".a.csv.0123.part").exists());
        assert!(!home.join("out/.b.csv.4567.part").exists());
        assert!(home.join("keep.part").exists() && home.join(".hidden").exists());
    }

    #[test]
    fn a_file_in_the_way_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let tree = HomeTree::new(dir.path().join("homes"));
        std::fs::create_dir_all(tree.dir()).unwrap();
        std::fs::write(tree.path_of("carol"), "x").unwrap();
        assert!(matches!(
            tree.create("carol"),
            Err(TreeError::NotAFolder(_))
        ));
    }
}
