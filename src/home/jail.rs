//! The home jail: the one place where a [`VirtualPath`] becomes a real path, and only inside the
//! home it was opened on. Symlinks are followed only while they stay inside; one pointing out,
//! or one that points nowhere, is refused.

use std::io;
use std::path::{Path, PathBuf};

use super::virtual_path::{PathError, VirtualPath};

/// Why a path can't be used in this home.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// The text of the path is refused.
    #[error(transparent)]
    Path(#[from] PathError),
    /// The path leads out of the home (through a symlink).
    #[error("the path leads outside the home")]
    OutsideHome,
    /// The home itself is missing or unreadable.
    #[error("the home folder can't be opened: {0}")]
    Io(#[from] io::Error),
}

/// One user's home, as a capability: it hands out real paths below its root and nowhere else.
#[derive(Debug, Clone)]
pub struct Home {
    // Invariant: `root` is canonical (absolute, no symlinks) and was a folder when made.
    root: PathBuf,
}

impl Home {
    /// Opens the home at `root`.
    ///
    /// # Errors
    /// [`HomeError::Io`] when `root` does not exist or is not a folder.
    pub fn open(root: &Path) -> Result<Self, HomeError> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(HomeError::Io(io::Error::new(
                io::ErrorKind::NotADirectory,
                "the home is not a folder",
            )));
        }
        Ok(Self { root })
    }

    /// The home's real, canonical top folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The real path of `path`. Each part that exists is checked: a symlink is allowed only when
    /// it resolves to a place inside the home; the parts that don't exist yet are plain names.
    ///
    /// # Errors
    /// [`HomeError::OutsideHome`] for a symlink out of the home or one that points nowhere,
    /// [`HomeError::Io`] when a part can't be inspected.
    pub fn real_path(&self, path: &VirtualPath) -> Result<PathBuf, HomeError> {
        let mut real = self.root.clone();
        let mut exists = true;
        for segment in path.segments() {
            real.push(segment);
            if !exists {
                continue;
            }
            match std::fs::symlink_metadata(&real) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let target = real.canonicalize().map_err(|_| HomeError::OutsideHome)?;
                    if !target.starts_with(&self.root) {
                        return Err(HomeError::OutsideHome);
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => exists = false,
                Err(e) if e.kind() == io::ErrorKind::NotADirectory => exists = false,
                Err(e) => return Err(HomeError::Io(e)),
            }
        }
        Ok(real)
    }

    /// A hidden temporary name beside `real` (same folder, so the final rename is atomic) for
    /// writing an upload before it is complete: `.<name>.<random>.part`. Hidden and ending in
    /// `.part`, it is never taken for an inbox file.
    pub fn partial_path(real: &Path) -> PathBuf {
        use rand::Rng;
        let name = real
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let short: String = name.chars().take(100).collect();
        let tag: u64 = rand::thread_rng().gen();
        real.with_file_name(format!(".{short}.{tag:016x}.part"))
    }

    /// Resolves `wire` against `cwd` and returns both the virtual and the real path.
    ///
    /// # Errors
    /// As [`VirtualPath::resolve`] and [`Home::real_path`].
    pub fn resolve(
        &self,
        cwd: &VirtualPath,
        wire: &str,
    ) -> Result<(VirtualPath, PathBuf), HomeError> {
        let path = VirtualPath::resolve(cwd, wire)?;
        let real = self.real_path(&path)?;
        Ok((path, real))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        home: Home,
        outside: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let home_dir = dir.path().join("homes/alice");
        let other = dir.path().join("homes/bob");
        std::fs::create_dir_all(home_dir.join("out")).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("secret.csv"), "bob's").unwrap();
        std::fs::write(home_dir.join("out/x.csv"), "mine").unwrap();
        let outside = dir.path().join("homes/bob");
        symlink(&outside, home_dir.join("to-bob")).unwrap();
        symlink("/etc/passwd", home_dir.join("passwd")).unwrap();
        symlink(home_dir.join("out"), home_dir.join("to-out")).unwrap();
        symlink(dir.path().join("nowhere"), home_dir.join("dangling")).unwrap();
        let home = Home::open(&home_dir).unwrap();
        Fixture {
            _dir: dir,
            home,
            outside,
        }
    }

    fn real(f: &Fixture, wire: &str) -> Result<PathBuf, HomeError> {
        f.home.resolve(&VirtualPath::root(), wire).map(|(_, p)| p)
    }

    #[test]
    fn plain_paths_land_inside() {
        let f = fixture();
        assert_eq!(
            real(&f, "/out/x.csv").unwrap(),
            f.home.root().join("out/x.csv")
        );
        assert_eq!(real(&f, "new.csv").unwrap(), f.home.root().join("new.csv"));
        assert_eq!(real(&f, "/").unwrap(), f.home.root());
    }

    #[test]
    fn dot_dot_to_another_home_stays_inside() {
        let f = fixture();
        let path = real(&f, "../bob/secret.csv").unwrap();
        assert_eq!(path, f.home.root().join("bob/secret.csv"));
        assert!(!path.exists());
        let path = real(&f, "/../../../../etc/passwd").unwrap();
        assert!(path.starts_with(f.home.root()));
    }

    #[test]
    fn symlinks_out_are_refused() {
        let f = fixture();
        assert!(matches!(
            real(&f, "to-bob/secret.csv"),
            Err(HomeError::OutsideHome)
        ));
        assert!(matches!(real(&f, "to-bob"), Err(HomeError::OutsideHome)));
        assert!(matches!(real(&f, "passwd"), Err(HomeError::OutsideHome)));
        assert!(f.outside.exists());
    }

    #[test]
    fn dangling_symlinks_are_refused_so_nothing_is_written_through_them() {
        let f = fixture();
        assert!(matches!(real(&f, "dangling"), Err(HomeError::OutsideHome)));
    }

    #[test]
    fn symlinks_inside_are_followed() {
        let f = fixture();
        let path = real(&f, "to-out/x.csv").unwrap();
        assert_eq!(std::fs::read_to_string(path).unwrap(), "mine");
    }

    #[test]
    fn nul_and_backslash_never_reach_the_disk() {
        let f = fixture();
        assert!(matches!(real(&f, "a\0/../../x"), Err(HomeError::Path(_))));
        assert!(matches!(real(&f, "..\\bob"), Err(HomeError::Path(_))));
    }

    #[test]
    fn a_file_used_as_a_folder_is_just_missing() {
        let f = fixture();
        let path = real(&f, "out/x.csv/deeper").unwrap();
        assert!(path.starts_with(f.home.root()));
    }
}
