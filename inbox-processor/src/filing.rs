//! Moving a processed file out of the inbox into `done/` or `error/`, with the error report
//! beside a rejected one; never overwriting anything.
//!
//! A move is a hard link under a free name, then the removal of the inbox name: a name already
//! taken (by an earlier file, or by a partner's own file) makes the link fail instead of
//! replacing it, and the caller picks another. A crash between the two steps leaves the same
//! file under both names; the ledger has recorded the chosen name first, so the recovery sees the
//! link and only removes the inbox name. Reports are written to a hidden temporary name and
//! renamed into place before the file is moved, so a file in `error/` always has its report. This
//! module knows folders and names, not the database.

use std::io::{self, Write};
use std::path::Path;

use crate::ledger::Identity;

/// The folder of a home that holds accepted files.
pub const DONE: &str = "done";
/// The folder of a home that holds rejected files and their reports.
pub const ERROR: &str = "error";
/// What is appended to a rejected file's name to name its report.
pub const REPORT_SUFFIX: &str = ".error.txt";

/// What [`place`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The file is now under the chosen name and gone from the inbox.
    Moved,
    /// The chosen name is taken by another file: choose again.
    Taken,
    /// The inbox name holds another file than the one processed (it was replaced).
    Replaced,
    /// The inbox name is empty and the chosen name does not hold the file.
    Gone,
}

/// The most bytes a file name may have on the file systems we run on (`NAME_MAX`).
pub const MAX_NAME_BYTES: usize = 255;

/// The most bytes of an extension kept as one when a name is shortened.
const MAX_EXTENSION_BYTES: usize = 16;

/// What the hidden temporary name of a report adds to the report's name at most:
/// `.` before, `.<pid>.tmp` after.
const REPORT_TEMP_EXTRA: usize = 1 + 1 + 10 + 4;

/// The first free name for `name` in `dir`: the name itself, else with a time stamp (and a
/// counter) before the extension, `orders.20250602-142000.csv`. With `with_report`, the report's
/// name must be free too.
///
/// Every name returned fits the file system with what is derived from it: a name too long for
/// that keeps its extension and the start of its stem, the rest replaced by a hash of the whole
/// name (`<start>~<hash>.20250602-142000.csv`), so a file whose name a partner could create can
/// always be filed and reported.
///
/// # Errors
/// [`io::Error`] when the folder can't be inspected.
pub fn free_name(dir: &Path, name: &str, with_report: bool) -> io::Result<String> {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() < MAX_EXTENSION_BYTES => {
            (stem, format!(".{ext}"))
        }
        _ => (name, String::new()),
    };
    let budget = if with_report {
        MAX_NAME_BYTES - REPORT_SUFFIX.len()
    } else {
        MAX_NAME_BYTES
    };
    for n in 0u32.. {
        let suffix = match n {
            0 => String::new(),
            1 => format!(".{stamp}"),
            n => format!(".{stamp}-{n}"),
        };
        let candidate = fitted(name, stem, &suffix, &ext, budget);
        let taken = exists(&dir.join(&candidate))?
            || (with_report && exists(&dir.join(format!("{candidate}{REPORT_SUFFIX}")))?);
        if !taken {
            return Ok(candidate);
        }
    }
    Err(io::Error::other("no free name"))
}

/// `stem + suffix + ext`, shortened to at most `budget` bytes when longer: the stem is cut at a
/// character boundary and a hash of the whole `name` takes the place of what was cut.
fn fitted(name: &str, stem: &str, suffix: &str, ext: &str, budget: usize) -> String {
    let whole = format!("{stem}{suffix}{ext}");
    if whole.len() <= budget {
        return whole;
    }
    let hash = short_hash(name);
    // `~` and 16 hex digits of hash.
    let room = budget.saturating_sub(suffix.len() + ext.len() + 1 + hash.len());
    let mut cut = room.min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{hash}{suffix}{ext}", &stem[..cut])
}

/// 16 hex digits of the SHA-256 of `name`.
fn short_hash(name: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(name.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Moves `inbox/name` to `dir/placed` if the inbox still holds the file with `identity`.
///
/// # Errors
/// [`io::Error`] when a filesystem call fails.
pub fn place(
    inbox: &Path,
    name: &str,
    dir: &Path,
    placed: &str,
    identity: Identity,
) -> io::Result<Placement> {
    let source = inbox.join(name);
    let target = dir.join(placed);
    let current = match std::fs::symlink_metadata(&source) {
        Ok(meta) => Identity::of(&meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(match std::fs::symlink_metadata(&target) {
                Ok(meta) if Identity::of(&meta) == identity => Placement::Moved,
                Ok(_) | Err(_) => Placement::Gone,
            });
        }
        Err(e) => return Err(e),
    };
    if current != identity {
        return Ok(Placement::Replaced);
    }
    match std::fs::hard_link(&source, &target) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // Linked before a crash: the same inode under the chosen name.
            let same = std::fs::symlink_metadata(&target)
                .map(|meta| Identity::of(&meta) == identity)
                .unwrap_or(false);
            if !same {
                return Ok(Placement::Taken);
            }
        }
        Err(e) => return Err(e),
    }
    match std::fs::remove_file(&source) {
        Ok(()) => Ok(Placement::Moved),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Placement::Moved),
        Err(e) => Err(e),
    }
}

/// Removes the report written for `placed` when the file could not take that name after all.
pub fn remove_report(dir: &Path, placed: &str) {
    let _ = std::fs::remove_file(dir.join(format!("{placed}{REPORT_SUFFIX}")));
}

/// Writes `report` as `dir/<placed>.error.txt`, through a hidden temporary file renamed into
/// place.
///
/// # Errors
/// [`io::Error`] when the file can't be written.
pub fn write_report(dir: &Path, placed: &str, report: &str) -> io::Result<()> {
    let final_name = format!("{placed}{REPORT_SUFFIX}");
    // The hidden name is derived from the report's, shortened when that would not fit.
    let base = fitted(
        &final_name,
        &final_name,
        "",
        "",
        MAX_NAME_BYTES - REPORT_TEMP_EXTRA,
    );
    let temp = dir.join(format!(".{base}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(report.as_bytes())?;
        if !report.ends_with('\n') {
            file.write_all(b"\n")?;
        }
        file.sync_all()?;
        std::fs::rename(&temp, dir.join(&final_name))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

fn exists(path: &Path) -> io::Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_names_get_a_stamp_and_nothing_is_overwritten() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let inbox = dir.path();
        let done = inbox.join(DONE);
        std::fs::create_dir(&done)?;
        std::fs::write(done.join("a.csv"), "old")?;
        std::fs::write(inbox.join("a.csv"), "new")?;
        let name = free_name(&done, "a.csv", false)?;
        assert!(name.starts_with("a.") && name.ends_with(".csv") && name != "a.csv");
        let meta = std::fs::symlink_metadata(inbox.join("a.csv"))?;
        let placed = place(inbox, "a.csv", &done, &name, Identity::of(&meta))?;
        assert_eq!(placed, Placement::Moved);
        assert_eq!(std::fs::read_to_string(done.join("a.csv"))?, "old");
        assert_eq!(std::fs::read_to_string(done.join(&name))?, "new");
        assert!(!inbox.join("a.csv").exists());
        // Placing again (a recovery after the move) finds it done.
        let again = place(inbox, "a.csv", &done, &name, Identity::of(&meta))?;
        assert_eq!(again, Placement::Moved);
        Ok(())
    }

    #[test]
    fn a_taken_target_is_reported_not_replaced() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let inbox = dir.path();
        std::fs::create_dir(inbox.join(ERROR))?;
        std::fs::write(inbox.join(ERROR).join("b.xml"), "theirs")?;
        std::fs::write(inbox.join("b.xml"), "ours")?;
        let meta = std::fs::symlink_metadata(inbox.join("b.xml"))?;
        let placed = place(
            inbox,
            "b.xml",
            &inbox.join(ERROR),
            "b.xml",
            Identity::of(&meta),
        )?;
        assert_eq!(placed, Placement::Taken);
        assert_eq!(
            std::fs::read_to_string(inbox.join(ERROR).join("b.xml"))?,
            "theirs"
        );
        assert!(inbox.join("b.xml").exists());
        Ok(())
    }

    #[test]
    fn names_near_255_bytes_are_filed_and_reported() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let error = dir.path().join(ERROR);
        std::fs::create_dir(&error)?;
        for name in [
            format!("{}.csv", "a".repeat(250)),
            format!("{}.xlsx", "\u{6f22}".repeat(83)),
            "b".repeat(255),
            format!("x.{}", "c".repeat(253)),
        ] {
            assert!(name.len() <= MAX_NAME_BYTES, "{}", name.len());
            // The first upload, then three more under the same name.
            for _ in 0..4 {
                let placed = free_name(&error, &name, true)?;
                assert!(
                    placed.len() + REPORT_SUFFIX.len() <= MAX_NAME_BYTES,
                    "{placed}"
                );
                if let Some((_, ext)) = name.rsplit_once('.').filter(|(_, e)| e.len() < 5) {
                    assert!(placed.ends_with(&format!(".{ext}")), "{placed}");
                }
                write_report(&error, &placed, "the file was rejected")?;
                std::fs::write(error.join(&placed), "x")?;
                assert!(error.join(format!("{placed}{REPORT_SUFFIX}")).exists());
            }
            let done = dir.path().join(DONE);
            std::fs::create_dir_all(&done)?;
            for _ in 0..3 {
                let placed = free_name(&done, &name, false)?;
                assert!(placed.len() <= MAX_NAME_BYTES, "{placed}");
                std::fs::write(done.join(&placed), "x")?;
            }
        }
        Ok(())
    }
}
