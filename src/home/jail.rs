//! The home jail: the one place where a [`VirtualPath`] from the wire reaches the disk, and only
//! inside the home it was opened on. Paths are resolved by the kernel, relative to an open
//! descriptor of the home (`openat2` with `RESOLVE_IN_ROOT`): the home is the root of every
//! resolution, as in a chroot, so `..` stops at its top and a link is read as the partner sees
//! the home (an absolute target starts at the home's top). No path from the wire is ever handed
//! to a path-based system call, so renames racing a check can't lead a path out: there is no
//! check apart from the use. What a resolved path names is then worked on through an open
//! [`Folder`] and a name in it.
//!
//! Where the kernel has no `openat2` (before Linux 5.6), paths are walked one folder descriptor
//! at a time with `O_NOFOLLOW`, and a link anywhere in a path is refused.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags, ResolveFlags};

use super::virtual_path::{PathError, VirtualPath};
use crate::folder::{dir_flags, Folder};

/// Why a path can't be used in this home.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// The text of the path is refused.
    #[error(transparent)]
    Path(#[from] PathError),
    /// The path leads out of the home (only where links can't be resolved in the kernel).
    #[error("the path leads outside the home")]
    OutsideHome,
    /// The disk's answer for the path (not found, not a folder, ...), or the home itself is
    /// missing or unreadable.
    #[error("the home folder can't be used: {0}")]
    Io(#[from] io::Error),
}

/// One user's home, as a capability: paths are resolved below its root and nowhere else.
#[derive(Debug, Clone)]
pub struct Home {
    // Invariant: `fd` is the folder `root` named when the home was opened; `root` is canonical
    // and only used to describe where things are, never to reach them.
    root: PathBuf,
    fd: Arc<OwnedFd>,
}

/// Set once the kernel has said it has no `openat2`.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

impl Home {
    /// Opens the home at `root`.
    ///
    /// # Errors
    /// [`HomeError::Io`] when `root` does not exist or is not a folder.
    pub fn open(root: &Path) -> Result<Self, HomeError> {
        let root = root.canonicalize()?;
        let fd = rustix::fs::open(&root, dir_flags(), Mode::empty()).map_err(io::Error::from)?;
        Ok(Self {
            root,
            fd: Arc::new(fd),
        })
    }

    /// The home's real, canonical top folder (for the server's own use: logs, reports).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Opens what `path` names, following links the way the partner sees the home, with
    /// `flags` (`O_CLOEXEC` is added).
    ///
    /// # Errors
    /// [`HomeError::Io`] with the disk's answer (`NotFound`, `NotADirectory`, ...), or
    /// [`HomeError::OutsideHome`] where links can't be resolved in the kernel.
    pub fn open_path(&self, path: &VirtualPath, flags: OFlags) -> Result<OwnedFd, HomeError> {
        let flags = flags | OFlags::CLOEXEC;
        let relative = relative(path);
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            match rustix::fs::openat2(
                self.fd.as_fd(),
                relative.as_os_str(),
                flags,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            ) {
                Ok(fd) => return Ok(fd),
                Err(rustix::io::Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
                Err(e) => return Err(HomeError::Io(e.into())),
            }
        }
        self.walk(path, flags)
    }

    /// The folder at `path`, open.
    ///
    /// # Errors
    /// As [`Home::open_path`]; `NotADirectory` when it is no folder.
    pub fn folder(&self, path: &VirtualPath) -> Result<Folder, HomeError> {
        Ok(Folder::from_fd(self.open_path(path, dir_flags())?))
    }

    /// The folder holding `path`, open, and `path`'s last name: where a name is made, renamed
    /// or removed. The top of the home has no parent.
    ///
    /// # Errors
    /// As [`Home::folder`]; [`HomeError::Io`] `InvalidInput` for the top.
    pub fn parent(&self, path: &VirtualPath) -> Result<(Folder, OsString), HomeError> {
        let name = path
            .file_name()
            .ok_or_else(|| HomeError::Io(io::Error::from(io::ErrorKind::InvalidInput)))?;
        Ok((self.folder(&path.parent())?, OsString::from(name)))
    }

    /// Where an open descriptor from this home is, as the partner sees it (`/out/x.csv`).
    ///
    /// # Errors
    /// When the kernel can't say, or it is not inside the home.
    pub fn path_of(&self, fd: &OwnedFd) -> Result<String, HomeError> {
        let real = std::fs::read_link(format!("/proc/self/fd/{}", fd_number(fd)))?;
        let inside = real
            .strip_prefix(&self.root)
            .map_err(|_| HomeError::OutsideHome)?;
        Ok(format!("/{}", inside.to_string_lossy()))
    }

    /// The walk without `openat2`: one folder at a time, no link followed anywhere.
    fn walk(&self, path: &VirtualPath, flags: OFlags) -> Result<OwnedFd, HomeError> {
        let segments = path.segments();
        let Some((last, folders)) = segments.split_last() else {
            return Ok(
                rustix::fs::openat(self.fd.as_fd(), ".", flags, Mode::empty())
                    .map_err(io::Error::from)?,
            );
        };
        let mut current = rustix::fs::openat(self.fd.as_fd(), ".", dir_flags(), Mode::empty())
            .map_err(io::Error::from)?;
        for segment in folders {
            current = rustix::fs::openat(
                &current,
                OsStr::new(segment),
                dir_flags() | OFlags::NOFOLLOW,
                Mode::empty(),
            )
            .map_err(loop_is_outside)?;
        }
        rustix::fs::openat(
            &current,
            OsStr::new(last),
            flags | OFlags::NOFOLLOW,
            Mode::empty(),
        )
        .map_err(loop_is_outside)
    }
}

/// A link met with `O_NOFOLLOW` (`ELOOP`, or `ENOTDIR` for a folder) is refused as leading
/// out, since it can't be checked.
fn loop_is_outside(e: rustix::io::Errno) -> HomeError {
    if e == rustix::io::Errno::LOOP {
        HomeError::OutsideHome
    } else {
        HomeError::Io(e.into())
    }
}

fn relative(path: &VirtualPath) -> PathBuf {
    if path.is_root() {
        PathBuf::from(".")
    } else {
        path.segments().iter().collect()
    }
}

fn fd_number(fd: &OwnedFd) -> i32 {
    use std::os::fd::AsRawFd as _;
    fd.as_raw_fd()
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;
    use std::os::unix::fs::symlink;

    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        home: Home,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let home_dir = dir.path().join("homes/alice");
        let other = dir.path().join("homes/bob");
        std::fs::create_dir_all(home_dir.join("out")).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("secret.csv"), "bob's").unwrap();
        std::fs::write(home_dir.join("out/x.csv"), "mine").unwrap();
        symlink(&other, home_dir.join("to-bob")).unwrap();
        symlink("../bob", home_dir.join("up-to-bob")).unwrap();
        symlink("/etc/passwd", home_dir.join("passwd")).unwrap();
        symlink("out", home_dir.join("to-out")).unwrap();
        symlink("/out/x.csv", home_dir.join("abs-x")).unwrap();
        symlink(dir.path().join("nowhere"), home_dir.join("dangling")).unwrap();
        let home = Home::open(&home_dir).unwrap();
        Fixture { _dir: dir, home }
    }

    fn read(f: &Fixture, wire: &str) -> Result<String, HomeError> {
        let path = VirtualPath::resolve(&VirtualPath::root(), wire)?;
        let fd = f.home.open_path(&path, OFlags::RDONLY)?;
        let mut text = String::new();
        std::fs::File::from(fd).read_to_string(&mut text)?;
        Ok(text)
    }

    fn not_found(r: Result<String, HomeError>) -> bool {
        matches!(r, Err(HomeError::Io(e)) if e.kind() == io::ErrorKind::NotFound)
    }

    #[test]
    fn plain_paths_and_links_inside_are_read() {
        let f = fixture();
        assert_eq!(read(&f, "/out/x.csv").unwrap(), "mine");
        assert_eq!(read(&f, "to-out/x.csv").unwrap(), "mine");
        // An absolute target starts at the home's top, as the partner sees it.
        assert_eq!(read(&f, "abs-x").unwrap(), "mine");
    }

    #[test]
    fn nothing_leads_out_of_the_home() {
        let f = fixture();
        for wire in [
            "to-bob/secret.csv",
            "up-to-bob/secret.csv",
            "passwd",
            "../bob/secret.csv",
            "/../../../../etc/passwd",
            "dangling",
        ] {
            assert!(not_found(read(&f, wire)), "{wire}");
        }
    }

    #[test]
    fn the_parent_of_a_path_is_its_folder_and_name() {
        let f = fixture();
        let path = VirtualPath::parse("/to-out/new.csv").unwrap();
        let (folder, name) = f.home.parent(&path).unwrap();
        assert_eq!(name, "new.csv");
        folder.create_new(&name, 0o644).unwrap();
        assert!(f.home.root().join("out/new.csv").exists());
        assert!(f.home.parent(&VirtualPath::root()).is_err());
        let fd = f.home.open_path(&path, OFlags::PATH).unwrap();
        assert_eq!(f.home.path_of(&fd).unwrap(), "/out/new.csv");
    }

    #[test]
    fn nul_and_backslash_never_reach_the_disk() {
        let f = fixture();
        assert!(matches!(read(&f, "a\0/../../x"), Err(HomeError::Path(_))));
        assert!(matches!(read(&f, "..\\bob"), Err(HomeError::Path(_))));
    }

    #[test]
    fn the_walk_without_openat2_refuses_every_link() {
        let f = fixture();
        let walk = |wire: &str| {
            f.home
                .walk(&VirtualPath::parse(wire).unwrap(), OFlags::RDONLY)
        };
        assert!(walk("/out/x.csv").is_ok());
        assert!(matches!(
            walk("/to-out/x.csv"),
            Err(HomeError::OutsideHome | HomeError::Io(_))
        ));
        assert!(matches!(walk("/passwd"), Err(HomeError::OutsideHome)));
    }
}
