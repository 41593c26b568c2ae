//! File modes: what freightdrop creates is readable by its own user only (umask 077 from the
//! start of the process), and at server start the data dir, the homes, the database files and
//! the private keys made before that rule are tightened, one log line per fix.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Sets the process's file creation mask to 077: new folders 0700, new files 0600.
pub fn restrict_new_files() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// The paths the server tightens at start: folders to 0700, files to 0600.
#[derive(Debug, Default)]
pub struct Private {
    /// Folders: the data dir, the homes folder; every home directly under `homes` too.
    pub dirs: Vec<PathBuf>,
    /// The folder holding one home per partner.
    pub homes: Option<PathBuf>,
    /// Files: database files (with `-wal`/`-shm`), private keys.
    pub files: Vec<PathBuf>,
}

impl Private {
    /// Adds the SQLite database of `url` (and its `-wal`, `-shm`, `-journal`), when it is one.
    pub fn add_sqlite(&mut self, url: &str) {
        let Some(rest) = url.strip_prefix("sqlite:") else {
            return;
        };
        let path = rest
            .trim_start_matches("//")
            .split('?')
            .next()
            .unwrap_or_default();
        if path.is_empty() || path == ":memory:" {
            return;
        }
        for suffix in ["", "-wal", "-shm", "-journal"] {
            self.files.push(PathBuf::from(format!("{path}{suffix}")));
        }
    }

    /// Tightens every listed path that is open to group or others; returns how many changed.
    pub fn tighten(&self) -> usize {
        let mut fixed = 0;
        for dir in &self.dirs {
            fixed += usize::from(tighten(dir, 0o700));
        }
        if let Some(homes) = &self.homes {
            fixed += usize::from(tighten(homes, 0o700));
            if let Ok(entries) = std::fs::read_dir(homes) {
                for entry in entries.flatten() {
                    if entry.file_type().is_ok_and(|t| t.is_dir()) {
                        fixed += usize::from(tighten(&entry.path(), 0o700));
                    }
                }
            }
        }
        for file in &self.files {
            fixed += usize::from(tighten(file, 0o600));
        }
        fixed
    }
}

/// Sets `path` to `mode` when it gives anything to group or others; never follows a link.
fn tighten(path: &Path, mode: u32) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if meta.file_type().is_symlink() {
        return false;
    }
    let old = meta.permissions().mode() & 0o7777;
    if old & 0o077 == 0 {
        return false;
    }
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        Ok(()) => {
            tracing::warn!(
                path = %path.display(),
                old_mode = format!("{old:04o}"),
                new_mode = format!("{mode:04o}"),
                "file mode too open, tightened"
            );
            true
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), "cannot tighten the file mode: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_modes_are_tightened_and_private_ones_left() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let homes = data.join("homes");
        std::fs::create_dir_all(homes.join("alice")).unwrap();
        let db = data.join("freightdrop.db");
        std::fs::write(&db, b"x").unwrap();
        std::fs::write(data.join("freightdrop.db-wal"), b"x").unwrap();
        for (path, mode) in [
            (&data, 0o755),
            (&homes, 0o755),
            (&homes.join("alice"), 0o755),
            (&db, 0o644),
            (&data.join("freightdrop.db-wal"), 0o644),
        ] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let mut private = Private {
            dirs: vec![data.clone()],
            homes: Some(homes.clone()),
            files: Vec::new(),
        };
        private.add_sqlite(&format!("sqlite://{}", db.display()));
        assert_eq!(private.tighten(), 5);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&homes.join("alice")), 0o700);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&data.join("freightdrop.db-wal")), 0o600);
        assert_eq!(private.tighten(), 0, "a second start changes nothing");
    }
}
