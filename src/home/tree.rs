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

    /// Deletes a home that [`HomeTree::create`] just made, when the caller's next step failed.
    pub fn undo_create(&self, user: &str) {
        let _ = std::fs::remove_dir_all(self.path_of(user));
    }
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
